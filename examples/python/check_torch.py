"""Checking PyTorch's conv_transpose2d, forward and autograd backward, against the oracle.

Needs Debian's python3-torch; without it the example is skipped (exit 77, which ctest reports as
skipped). Run: PYTHONPATH=build/python /usr/bin/python3 examples/python/check_torch.py
"""

import sys

try:
    import torch
except ImportError:
    print("check_torch: torch is not installed (apt-get install python3-torch); skipped")
    sys.exit(77)

from hypothesis import given, settings

import convt2d
import convt2d.strategies as cs

settings.register_profile("example", deadline=None, max_examples=60, derandomize=True,
                          database=None)
settings.load_profile("example")
torch.set_num_threads(1)
TORCH = {"float32": torch.float32, "float64": torch.float64}


# PyTorch's output_padding rule (op < stride or op < dilation), its weight layout
# (IC, OC/G, kh, kw): p.torch_weight() is a view of the problem's MegEngine-layout weight.
@given(cs.problems(dtype=["float32", "float64"], pytorch_rule=True))
def test_forward(p):
    t = lambda a: None if a is None else torch.from_numpy(a)  # noqa: E731
    b = None if p.b is None else t(p.b).reshape(-1)
    y = torch.nn.functional.conv_transpose2d(t(p.x), t(p.torch_weight()), b, **p.layer_kwargs)
    convt2d.assert_close(y.numpy(), p)


# The three backward passes: autograd's dx, dw and db for a given dy.
@given(cs.problems(dtype=["float32", "float64"], pass_="bwd_data"), cs.regimes())
def test_backward(p, regime):
    prm = p.params
    # Data for all three passes from one problem: x of the forward pass, dy of this one.
    full = convt2d.Problem.generate(prm, p.mb, p.ih, p.iw, pass_="bwd_weights", dtype=p.dtype,
                                    regime=regime, seed=p.seed)
    x = torch.from_numpy(full.x.copy()).requires_grad_()
    w = torch.from_numpy(p.torch_weight().copy()).requires_grad_()
    b = torch.zeros(prm.out_channels, dtype=TORCH[p.dtype], requires_grad=True)
    y = torch.nn.functional.conv_transpose2d(x, w, b if prm.bias else None, **p.layer_kwargs)
    y.backward(torch.from_numpy(p.dy))
    common = dict(p.layer_kwargs, kernel_size=prm.kernel_size, dy=p.dy)
    convt2d.assert_close(x.grad.numpy(), None, p.w, pass_="bwd_data", **common)
    convt2d.assert_close(w.grad.numpy(), full.x, pass_="bwd_weights", **common)
    if prm.bias:
        convt2d.assert_close(b.grad.numpy().reshape(1, -1, 1, 1), pass_="bwd_bias",
                             in_channels=prm.in_channels, **common)


test_forward()
test_backward()
print("check_torch: torch.nn.functional.conv_transpose2d forward and backward passed")

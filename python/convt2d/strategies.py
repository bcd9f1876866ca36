"""Hypothesis strategies for testing a ConvTranspose2d backend against the oracle.

    from hypothesis import given
    import convt2d, convt2d.strategies as cs

    @given(cs.problems())
    def test_my_kernel(p):
        convt2d.assert_close(my_kernel(p.x, p.torch_weight(), p.b, **p.layer_kwargs), p)

Parameter sets are built valid by construction (groups first, channels as multiples of it, padding
within what keeps the output >= 1), as the C++ generators (verify/properties/generators.h) build
them: no filtering, so no example is discarded. The data are those of `convt2d gen` (core/fill.h)
for the drawn problem, regime and seed, in the three regimes: "integer" (small integers, exact in
every correct implementation where the problem allows), "real" (uniform in [-1, 1)) and
"cancellation" (large mixed-sign terms that nearly cancel). Hypothesis shrinks a failure to a
small problem (one batch, one channel, a 1x1 kernel, ... as far as it still fails) and the seed
to 0; repr(problem) prints the `convt2d gen` command that writes the same case.
"""

from __future__ import annotations

from hypothesis import strategies as st

from . import PASSES, Params, Problem

__all__ = ["REGIMES", "DTYPES", "params", "problems", "regimes"]

#: The data regimes of core/fill.h.
REGIMES = ("integer", "real", "cancellation")
#: The dtypes the oracle takes (bfloat16 arrays are uint16 bit patterns).
DTYPES = ("float32", "float64", "float16", "bfloat16")


def _choice(value, allowed, name):
    """A strategy for one value: a fixed one, any of a sequence, or a strategy as given."""
    if isinstance(value, st.SearchStrategy):
        return value
    values = [value] if isinstance(value, str) else list(value)
    for v in values:
        if v not in allowed:
            raise ValueError(f"{name}: unknown value {v!r} (expected one of {', '.join(allowed)})")
    return st.sampled_from(values)


def regimes():
    """integer, real or cancellation (shrinks towards integer)."""
    return st.sampled_from(REGIMES)


@st.composite
def _weighted_bool(draw, true_in):
    # True with probability 1/true_in; shrinks towards False.
    return draw(st.integers(0, true_in - 1)) == true_in - 1


@st.composite
def params(draw, *, max_batch=3, max_groups=4, max_channels_per_group=4, max_size=7,
           max_kernel=5, max_stride=4, max_dilation=3, pytorch_rule=False, bias=None):
    """(Params, mb, ih, iw): a valid layer and input size, as Arbitrary<Problem> in
    verify/properties/generators.h (its "wide" cases: max_channels_per_group=8, max_size=12,
    max_kernel=3). Every draw shrinks towards the simplest layer: mb 1, one group, one channel,
    1x1 input and kernel, stride, dilation 1, no padding, a bias."""
    # mb: 0 one time in ten (an empty batch is legal), else 1..max_batch, shrinking to 1.
    k = draw(st.integers(0, 9))
    mb = 0 if k == 9 else 1 + k % max_batch
    # Grouped two times in five, as in the C++ generator.
    grouped = max_groups > 1 and draw(st.integers(0, 4)) >= 3
    groups = draw(st.integers(2, max_groups)) if grouped else 1
    depthwise = groups > 1 and draw(st.booleans())
    icg = 1 if depthwise else draw(st.integers(1, max_channels_per_group))
    ocg = 1 if depthwise else draw(st.integers(1, max_channels_per_group))
    square = not draw(st.booleans())

    def pair(lo, hi):
        h = draw(st.integers(lo, hi))
        return (h, h) if square else (h, draw(st.integers(lo, hi)))

    ih, iw = pair(1, max_size)
    kernel = pair(1, max_kernel)
    stride = pair(1, max_stride)
    dilation = pair(1, max_dilation) if draw(_weighted_bool(3)) else (1, 1)
    if pytorch_rule:
        # PyTorch also allows output_padding < dilation.
        op = (draw(st.integers(0, max(stride[0], dilation[0]) - 1)),
              draw(st.integers(0, max(stride[1], dilation[1]) - 1)))
    else:
        op = (draw(st.integers(0, stride[0] - 1)), draw(st.integers(0, stride[1] - 1)))

    # Any padding that keeps the output >= 1: 2p <= (H-1)s + d(k-1) + op, so sometimes beyond
    # the kernel extent.
    def max_pad(size, i):
        return ((size - 1) * stride[i] + dilation[i] * (kernel[i] - 1) + op[i]) // 2

    padding = (draw(st.integers(0, max_pad(ih, 0))), draw(st.integers(0, max_pad(iw, 1))))
    has_bias = (not draw(_weighted_bool(5))) if bias is None else bias
    p = Params(groups * icg, groups * ocg, kernel, stride=stride, padding=padding,
               output_padding=op, dilation=dilation, groups=groups, bias=has_bias,
               output_padding_rule="pytorch" if pytorch_rule else "megengine")
    return p, mb, ih, iw


@st.composite
def problems(draw, *, dtype="float32", regime=REGIMES, pass_="forward",
             compute_mode="default", **params_kwargs):
    """A Problem: a valid layer (params(**params_kwargs)), its data in a regime, for a pass.

    dtype, regime, pass_ and compute_mode each take a value, a list of values or a strategy.
    The tensors are `convt2d gen`'s for the drawn seed: the same bits as the C++ generators."""
    dt = draw(_choice(dtype, DTYPES, "dtype"))
    rg = draw(_choice(regime, REGIMES, "regime"))
    ps = draw(_choice(pass_, PASSES, "pass_"))
    mode = draw(_choice(compute_mode, ("default", "float32"), "compute_mode"))
    if ps == "bwd_bias":
        params_kwargs["bias"] = True  # the bias gradient needs a bias
    p, mb, ih, iw = draw(params(**params_kwargs))
    if mode != "default":
        p = Params(p.in_channels, p.out_channels, p.kernel_size, stride=p.stride,
                   padding=p.padding, output_padding=p.output_padding, dilation=p.dilation,
                   groups=p.groups, bias=p.bias, compute_mode=mode,
                   output_padding_rule=p.output_padding_rule)
    seed = draw(st.integers(0, 2**32 - 1))
    return Problem.generate(p, mb, ih, iw, pass_=ps, dtype=dt, regime=rg, seed=seed)

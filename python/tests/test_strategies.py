"""convt2d.strategies: valid by construction, the three regimes, and a wrong kernel caught and
shrunk; the pytest plugin as a user's test run loads it."""

import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import HealthCheck, find, given, settings
from hypothesis import strategies as st

import convt2d
import convt2d.strategies as cs

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "examples" / "python"))
from numpy_convt import conv_transpose2d  # noqa: E402

FAST = settings(max_examples=60, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(cs.problems(dtype=st.sampled_from(cs.DTYPES), pass_=st.sampled_from(convt2d.PASSES),
                   compute_mode=["default", "float32"]))
def test_every_draw_is_valid_and_consistent(p):
    # Params() validated it (no draw was rejected or filtered); the tensors are the pass's.
    prm = p.params
    x_shape = (p.mb, prm.in_channels, p.ih, p.iw)
    y_shape = prm.output_shape(x_shape)
    expect = {"x": x_shape if p.pass_ in ("forward", "bwd_weights") else None,
              "w": prm.weight_shape() if p.pass_ in ("forward", "bwd_data") else None,
              "b": prm.bias_shape() if p.pass_ == "forward" and prm.bias else None,
              "dy": y_shape if p.pass_ != "forward" else None}
    for name, shape in expect.items():
        t = getattr(p, name)
        assert (t is None) == (shape is None), name
        if t is not None:
            assert t.shape == shape and t.flags.c_contiguous
            assert t.dtype == {"float32": np.float32, "float64": np.float64,
                               "float16": np.float16, "bfloat16": np.uint16}[p.dtype]
    # The default implementation of the dtype and mode passes (float32's `reference` writes
    # float64, which must be claimed).
    y = p.reference()
    assert p.check(y, dtype="float64" if y.dtype == np.float64 else None).passed


def values(a, dtype):
    if dtype == "bfloat16":
        return (a.astype(np.uint32) << 16).view(np.float32).astype(np.float64)
    return a.astype(np.float64)


@FAST
@given(cs.params(), st.sampled_from(["float32", "float16", "bfloat16"]),
       st.integers(0, 2**32 - 1))
def test_integer_regime_is_exact_where_the_problem_allows(params, dtype, seed):
    # Mirrors the C++ property: integer data of integer_range is summed exactly by every correct
    # implementation where 2 (R^2 K + R) < 2^bits, so the storage-precision reference (every
    # product and sum rounded to the dtype) equals the exact result.
    prm, mb, ih, iw = params
    p = convt2d.Problem.generate(prm, mb, ih, iw, dtype=dtype, regime="integer", seed=seed)
    r = convt2d._convt2d._integer_range(prm, mb, ih, iw, dtype, "forward")
    for t in (p.x, p.w) + ((p.b,) if prm.bias else ()):
        v = values(t, dtype)
        assert np.array_equal(v, np.round(v)) and np.all(np.abs(v) <= r)
    k = prm.in_channels // prm.groups * prm.kernel_size[0] * prm.kernel_size[1]
    bits = {"float32": 24, "float16": 11, "bfloat16": 8}[dtype]
    if 2 * (r * r * k + r) < 2**bits:
        impl = {"float32": "reference-f32", "float16": "reference-f16",
                "bfloat16": "reference-bf16"}[dtype]
        assert np.array_equal(values(p.reference(impl=impl), dtype), p.exact())


def test_regimes_have_their_character():
    prm = convt2d.Params(8, 4, 3, stride=2)
    gen = lambda regime, dtype="float32": convt2d.Problem.generate(  # noqa: E731
        prm, 2, 6, 6, regime=regime, dtype=dtype, seed=3)
    real, canc = gen("real"), gen("cancellation")
    assert np.all(np.abs(real.x) < 1) and np.all(np.abs(canc.x) >= 512)
    # Cancellation: the exact result is far smaller than the sum of the terms' magnitudes.
    hi = canc.exact()
    mags = convt2d.exact(np.abs(canc.x), np.abs(canc.w), np.abs(canc.b), stride=2)
    assert np.median(np.abs(hi) / mags) < 1e-2
    assert np.median(np.abs(real.exact()) / convt2d.exact(
        np.abs(real.x), np.abs(real.w), np.abs(real.b), stride=2)) > 1e-2


def test_a_wrong_kernel_is_caught_and_shrunk():
    def wrong(p):
        y = conv_transpose2d(p.x, p.torch_weight(), p.b, bug=True, **p.layer_kwargs)
        return not p.check(y).passed

    p = find(cs.problems(), wrong,
             settings=settings(max_examples=300, deadline=None, derandomize=True, database=None))
    prm = p.params
    assert prm.kernel_size[1] == 2 and prm.dilation[1] == 2, p
    assert (p.mb, prm.in_channels, prm.out_channels, p.ih, p.iw) == (1, 1, 1, 1, 1), p
    assert prm.stride == (1, 1) and prm.padding == (0, 0) and prm.groups == 1, p
    # And the correct kernel passes the same problems.
    y = conv_transpose2d(p.x, p.torch_weight(), p.b, **p.layer_kwargs)
    assert p.check(y).passed


def test_the_plugin_in_a_users_test_run(tmp_path):
    test = tmp_path / "test_user.py"
    test.write_text(
        "import sys\n"
        f"sys.path.insert(0, {str(ROOT / 'examples' / 'python')!r})\n"
        "from hypothesis import given, settings\n"
        "import convt2d, convt2d.strategies as cs\n"
        "from numpy_convt import conv_transpose2d\n"
        "@settings(derandomize=True, database=None)\n"
        "@given(cs.problems())\n"
        "def test_mine(p):\n"
        "    y = conv_transpose2d(p.x, p.torch_weight(), p.b, bug=True, **p.layer_kwargs)\n"
        "    convt2d.assert_close(y, p)\n"
        "def test_fixture(convt2d_module):\n"
        "    assert convt2d_module is convt2d\n")
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1",
               PYTHONPATH=str(pathlib.Path(convt2d.__file__).resolve().parents[1]))
    r = subprocess.run([sys.executable, "-m", "pytest", "-p", "convt2d.pytest_plugin",
                        "-p", "no:cacheprovider", str(test)], capture_output=True, text=True,
                       cwd=tmp_path, env=env, timeout=240)
    out = r.stdout
    assert r.returncode == 1, out + r.stderr
    assert "1 failed, 1 passed" in out
    assert "convt2d: " in out.splitlines()[2] or "implementations)" in out  # report header
    assert "Falsifying example" in out and "convt2d gen --problem" in out
    assert "FAIL" in out and "not within the certified bound" in out

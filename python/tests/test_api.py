"""The API: Params and output_shape against `convt2d shape`, every registered implementation,
exact(), layouts, float16/bfloat16, the backward passes, Report and assert_close."""

import numpy as np
import pytest

import convt2d
from conftest import gen_cases, load_case, run_cli

PROBLEM = dict(stride=2, padding=1, output_padding=1, dilation=(1, 2))


def data(shape, seed, dtype=np.float32):
    return np.random.default_rng(seed).uniform(-1, 1, shape).astype(dtype)


def layer(ic=4, oc=6, k=3, g=2, n=2, h=5, w=4, dtype=np.float32):
    x = data((n, ic, h, w), 1, dtype)
    wt = data((g, ic // g, oc // g, k, k), 2, dtype)
    b = data((1, oc, 1, 1), 3, dtype)
    return x, wt, b


# ---- Params, output_shape and their errors: the CLI's messages ----

BAD = [  # (keyword arguments, the parameter the error names)
    (dict(in_channels=0), "in_channels"),
    (dict(out_channels=-1), "out_channels"),
    (dict(kernel_size=(3, 0)), "kernel_size"),
    (dict(stride=0, output_padding=0), "stride"),
    (dict(padding=-1), "padding"),
    (dict(output_padding=2, stride=2), "output_padding"),
    (dict(dilation=(0, 1)), "dilation"),
    (dict(groups=3), "groups"),
    (dict(padding=40), "padding"),
]


def cli_shape(kw, n=1, h=5, w=5):
    flags = {"in_channels": "--in-channels", "out_channels": "--out-channels",
             "kernel_size": "--kernel-size", "stride": "--stride", "padding": "--padding",
             "output_padding": "--output-padding", "dilation": "--dilation", "groups": "--groups"}
    args = ["shape", "--batch", n, "--height", h, "--width", w]
    for k, v in kw.items():
        args += [flags[k], ",".join(map(str, v)) if isinstance(v, tuple) else v]
    return run_cli(*args)


@pytest.mark.parametrize("bad,subject", BAD)
def test_invalid_params_name_the_parameter_as_the_cli(cli, bad, subject):
    kw = dict(in_channels=4, out_channels=4, kernel_size=3, **PROBLEM)
    kw.update(bad)
    r = cli_shape(kw)
    assert r.returncode == 2
    with pytest.raises(convt2d.Error) as e:
        convt2d.output_shape((1, kw["in_channels"], 5, 5), **kw)
    assert isinstance(e.value, ValueError)
    assert e.value.subject == subject
    assert r.stderr == f"convt2d: {e.value}\n"


@pytest.mark.parametrize("kw", [dict(in_channels=4, out_channels=6, kernel_size=3, **PROBLEM),
                                dict(in_channels=3, out_channels=5, kernel_size=(2, 4)),
                                dict(in_channels=8, out_channels=8, kernel_size=1, groups=8,
                                     stride=(3, 1), padding=(0, 0))])
def test_output_shape_matches_cli(cli, kw):
    r = cli_shape(kw, n=2, h=6, w=3)
    assert r.returncode == 0, r.stderr
    assert convt2d.output_shape((2, kw["in_channels"], 6, 3), **kw) == tuple(
        int(v) for v in r.stdout.split())
    p = convt2d.Params(**kw)
    assert convt2d.output_shape((2, kw["in_channels"], 6, 3), p) == p.output_shape((2, kw["in_channels"], 6, 3))


def test_public_classes_carry_the_package_name():
    # A user's traceback names convt2d.Error, the class they catch, not the extension module.
    for cls in (convt2d.Error, convt2d.Params, convt2d.Report, convt2d.Element):
        assert cls.__module__ == "convt2d", cls
    assert repr(convt2d.Error) == "<class 'convt2d.Error'>"
    with pytest.raises(convt2d.Error) as e:
        convt2d.output_shape(input_shape=(1, 4, 5, 5), out_channels=4, kernel_size=3, stride=0)
    assert type(e.value).__module__ == "convt2d" and "stride" in str(e.value)
    assert isinstance(e.value, ValueError)


def test_params_object():
    p = convt2d.Params(4, 6, 3, stride=2, padding=(1, 0), groups=2)
    assert (p.in_channels, p.out_channels, p.kernel_size, p.stride) == (4, 6, (3, 3), (2, 2))
    assert p.padding == (1, 0) and p.groups == 2 and p.bias and p.compute_mode == "default"
    assert p.weight_shape() == (2, 2, 3, 3, 3) and p.bias_shape() == (1, 6, 1, 1)
    assert p == convt2d.Params(4, 6, (3, 3), stride=(2, 2), padding=(1, 0), groups=2)
    assert "stride=2" in repr(p)
    assert p.problem(1, 8, 8).startswith("mb1ic4ih8")
    assert convt2d.parse_problem(p.problem(1, 8, 7)) == (p, 1, 8, 7)
    with pytest.raises(convt2d.Error):
        convt2d.parse_problem("mb1ic4xx3")
    # numpy integers are integers (shapes give them); huge ones are an Error, not an overflow.
    assert convt2d.Params(np.int64(4), 6, np.int32(3), stride=(np.int64(2), 1)).stride == (2, 1)
    for bad in ("3", 1.5, (1, 2, 3), True, 2**70, (1, 2**64)):
        with pytest.raises(convt2d.Error) as e:
            convt2d.Params(4, 6, 3, stride=bad)
        assert e.value.subject == "stride"
    with pytest.raises(convt2d.Error) as e:
        convt2d.Params(4, 6, 3, compute_mode="float64")
    assert e.value.subject == "compute_mode"
    # PyTorch's output_padding rule (op < dilation) is a parameter, MegEngine's the default.
    with pytest.raises(convt2d.Error):
        convt2d.Params(1, 1, 3, dilation=3, output_padding=2)
    convt2d.Params(1, 1, 3, dilation=3, output_padding=2, output_padding_rule="pytorch")


# ---- every implementation of the registry ----

@pytest.mark.parametrize("impl", convt2d.implementations(), ids=lambda i: f"{i['pass']}-{i['name']}")
def test_every_implementation_as_the_cli_runs_it(tmp_path, cli, impl):
    (case,) = gen_cases(tmp_path / "c", "--problem", "mb2ic4ih5iw4oc6kh3sh2ph1g2", "--pass",
                        impl["pass"], "--dtype", impl["input"], "--seed", 11)
    kw, a = load_case(case)
    y = convt2d.reference(a["x"], a["w"], a["b"], dy=a["dy"], impl=impl["name"], **kw)
    out = tmp_path / "y.npy"
    run_cli("run", "--case", case, "--impl", impl["name"], "--out", out, check_rc=0)
    expected = np.load(out)
    assert y.dtype == expected.dtype and y.shape == expected.shape
    assert np.array_equal(y, expected, equal_nan=True)  # the same code, bit for bit
    # Judged by the loosest claim of its output dtype, every built-in implementation passes.
    r = convt2d.check(y, a["x"], a["w"], a["b"], dy=a["dy"], dtype=impl["output"], **kw)
    assert r.passed, str(r)


def test_unknown_or_unfitting_implementation():
    x, w, b = layer()
    with pytest.raises(convt2d.Error, match="reference-f32") as e:
        convt2d.reference(x, w, b, impl="no-such-impl")
    assert e.value.subject == "--impl"
    with pytest.raises(convt2d.Error, match="takes float16 inputs") as e:
        convt2d.reference(x, w, b, impl="reference-f16")
    assert e.value.subject == "impl"


def test_default_implementation_follows_dtype_and_mode():
    x, w, b = layer(dtype=np.float16)
    y = convt2d.reference(x, w, b)
    assert y.dtype == np.float16
    y32 = convt2d.reference(x, w, b, compute_mode="float32")
    assert np.array_equal(y32, convt2d.reference(x, w, b, impl="reference-f16-f32acc"))
    assert convt2d.reference(*layer(dtype=np.float64)).dtype == np.float64


# ---- exact ----

def test_exact_is_the_multiprecision_reference():
    x, w, b = layer()
    hi, lo = convt2d.exact(x, w, b, pair=True)
    assert np.array_equal(hi, convt2d.reference(x, w, b, impl="reference-mp"))
    assert np.array_equal(convt2d.exact(x, w, b), hi)
    assert lo.dtype == np.float64 and np.all(np.isfinite(lo))
    assert np.all(np.abs(lo) <= np.spacing(np.abs(hi)) / 2)
    # Integer data: the exact result is an integer, lo is zero.
    xi, wi, bi = (np.round(4 * t) for t in layer())
    hi, lo = convt2d.exact(xi, wi, bi, pair=True)
    assert np.array_equal(hi, np.round(hi)) and not lo.any()


def test_exact_pair_recovers_digits_float64_cannot_hold():
    # 1 + 2^-60 is not a double; the pair holds it.
    x = np.array([[[[1.0]], [[2.0**-60]]]])
    w = np.ones((2, 1, 1, 1))
    hi, lo = convt2d.exact(x, w, pair=True)
    assert hi.item() == 1.0 and lo.item() == 2.0**-60


# ---- layouts, half precisions ----

def test_pytorch_weight_layout_is_megengines_reshaped():
    x, w5, b = layer()
    w4 = w5.reshape(4, 3, 3, 3)  # (IC, OC/G, kh, kw)
    assert np.array_equal(convt2d.reference(x, w5, b, **PROBLEM),
                          convt2d.reference(x, w4, b, groups=2, **PROBLEM))
    dy = data(convt2d.output_shape(x.shape, out_channels=6, kernel_size=3, groups=2, **PROBLEM),
              4)
    dw5 = convt2d.reference(x, dy=dy, pass_="bwd_weights", kernel_size=3, groups=2, **PROBLEM)
    dw4 = convt2d.reference(x, dy=dy, pass_="bwd_weights", kernel_size=3, groups=2,
                            weight_layout="pytorch", **PROBLEM)
    assert dw5.shape == (2, 2, 3, 3, 3) and dw4.shape == (4, 3, 3, 3)
    for cand in (dw5, dw4):  # check takes either layout
        assert convt2d.check(cand.astype(np.float32), x, dy=dy, pass_="bwd_weights",
                             kernel_size=3, groups=2, dtype="float32", **PROBLEM).passed


def test_float16_and_bfloat16():
    x, w, b = layer(dtype=np.float16)
    y = convt2d.reference(x, w, b, **PROBLEM)
    r = convt2d.check(y, x, w, b, **PROBLEM)
    assert r.passed and r.dtype == "float16" and r.compute_mode == "default"
    # bfloat16: uint16 bit patterns in and out.
    x32, w32, b32 = layer()
    bits = [(t.view(np.uint32) >> 16).astype(np.uint16) for t in (x32, w32, b32)]
    yb = convt2d.reference(*bits, **PROBLEM)
    assert yb.dtype == np.uint16
    assert convt2d.check(yb, *bits, **PROBLEM).passed
    # ...or a float32 result claimed as bfloat16 arithmetic on the bfloat16 data.
    as32 = [(t.astype(np.uint32) << 16).view(np.float32) for t in bits]
    y32 = convt2d.reference(*as32, impl="reference-f32", **PROBLEM)
    assert convt2d.check(y32, *bits, dtype="bfloat16", **PROBLEM).passed


# ---- backward passes ----

@pytest.mark.parametrize("pass_", ["bwd_data", "bwd_weights", "bwd_bias"])
def test_backward_passes(pass_):
    x, w, b = layer()
    oshape = convt2d.output_shape(x.shape, out_channels=6, kernel_size=3, groups=2, **PROBLEM)
    dy = data(oshape, 5)
    kw = dict(dy=dy, pass_=pass_, kernel_size=3, groups=2, **PROBLEM)
    operands = {"bwd_data": (None, w), "bwd_weights": (x, None), "bwd_bias": (None, None)}[pass_]
    y = convt2d.reference(*operands, impl="reference-f32", **kw)
    shape = {"bwd_data": x.shape, "bwd_weights": w.shape, "bwd_bias": b.shape}[pass_]
    assert y.shape == shape and y.dtype == np.float32
    r = convt2d.check(y, *operands, **kw)
    assert r.passed and r.pass_ == pass_ and r.elements == y.size
    bad = y.copy()
    bad.flat[0] += 1
    assert not convt2d.check(bad, *operands, **kw).passed
    with pytest.raises(convt2d.Error) as e:  # dy is what every backward pass reads
        convt2d.reference(*operands, **dict(kw, dy=None))
    assert e.value.subject == "dy"


# ---- Report and assert_close ----

def test_report_fields():
    x, w, b = layer()
    y = convt2d.reference(x, w, b, impl="reference-f32", **PROBLEM)
    r = convt2d.check(y, x, w, b, **PROBLEM)
    assert r.passed and r.shape_ok and r.over_bound == 0 and r.elements == y.size
    assert r.bound.shape == y.shape and r.bound.dtype == np.float64
    assert np.all(r.bound >= 0) and r.bound.max() > 0  # 0 where only the bias lands
    assert not r.bound.flags.writeable
    assert r.worst is not None and len(r.worst.index) == 4
    assert 0 <= r.max_err_over_bound <= 1
    assert "PASS" in str(r)
    bad = y.copy()
    bad[1, 2, 3, 1] += 0.5
    r = convt2d.check(bad, x, w, b, **PROBLEM)
    assert not r.passed and r.over_bound == 1 and r.worst.index == (1, 2, 3, 1)
    assert r.max_err_over_bound > 1 and r.worst.abs_err > r.worst.bound
    r = convt2d.check(np.ascontiguousarray(bad[:, :, :-1]), x, w, b, **PROBLEM)
    assert not r.passed and not r.shape_ok and r.actual_shape != r.expected_shape


def test_assert_close_raises_with_the_report():
    x, w, b = layer()
    y = convt2d.reference(x, w, b, impl="reference-f32", **PROBLEM)
    assert convt2d.assert_close(y, x, w, b, **PROBLEM).passed
    y[0, 0, 0, 0] += 1
    with pytest.raises(AssertionError) as e:
        convt2d.assert_close(y, x, w, b, **PROBLEM)
    assert str(convt2d.check(y, x, w, b, **PROBLEM)) in str(e.value)


def test_problem_objects_reproduce_gen(tmp_path, cli):
    p = convt2d.Problem.generate(convt2d.Params(4, 6, 3, stride=2, groups=2), 2, 5, 4,
                                 regime="cancellation", seed=9, pass_="bwd_data")
    assert p.x is None and p.b is None and p.w.shape == (2, 2, 3, 3, 3)
    run_cli(*p.gen_command().split()[1:-1], tmp_path / "g", check_rc=0)
    (case,) = (tmp_path / "g").glob("000-*")
    _, a = load_case(case)
    assert np.array_equal(a["w"], p.w) and np.array_equal(a["dy"], p.dy)
    assert p.check(p.reference(), dtype="float64").passed  # `reference`: float64 out


def test_readme_example_runs(capsys):
    text = (convt2d_root() / "README.md").read_text()
    start = text.index("```python\nimport numpy as np, convt2d")
    code = text[start + len("```python\n"):text.index("```", start + 10)]
    assert len(code.strip().splitlines()) <= 12
    exec(compile(code, "README.md", "exec"), {})
    assert "verdict: PASSED" in capsys.readouterr().out


def convt2d_root():
    import pathlib
    return pathlib.Path(__file__).resolve().parents[2]

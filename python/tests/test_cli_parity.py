"""Every verdict of `convt2d check` reproduced in-process: the same cases (written by
`convt2d gen`), the same candidates, the same pass/fail/suspicious and the same report text."""

import collections

import numpy as np
import pytest

import convt2d
from conftest import gen_cases, load_case, run_cli

VERDICTS = collections.Counter()


def judge_both(case_dir, cand, tmp_path, dtype=None, compute_mode=None, tag="c"):
    """`convt2d check` and convt2d.check on the same candidate; asserts they agree."""
    f = tmp_path / f"{tag}.npy"
    np.save(f, cand)
    args = ["check", "--case", case_dir, "--candidate", f]
    if dtype:
        args += ["--dtype", dtype]
    if compute_mode:
        args += ["--compute-mode", compute_mode]
    text = run_cli(*args)
    js = run_cli(*args, "--json")
    kw, a = load_case(case_dir)
    # Python's compute_mode is the layer's and the claim at once (the claim defaults to the
    # layer's in both).
    case_mode = kw.pop("compute_mode")
    check = lambda: convt2d.check(cand, a["x"], a["w"], a["b"], dy=a["dy"], dtype=dtype,
                                  compute_mode=compute_mode or case_mode, **kw)
    if text.returncode == 2 and "is not a" in text.stderr:
        # A claim narrower than the case's inputs that they do not fit: refused by both alike.
        with pytest.raises(convt2d.Error, match="is not a .* value") as e:
            check()
        assert e.value.subject == "dtype"
        VERDICTS["refused"] += 1
        return None
    assert text.returncode in (0, 1), text.stderr
    r = check()
    assert r.passed == (text.returncode == 0)
    assert str(r) == text.stdout
    assert r.json() + "\n" == js.stdout
    assert ("suspicious" in text.stdout) == r.suspicious
    VERDICTS["pass" if r.passed else "fail"] += 1
    VERDICTS["suspicious"] += r.suspicious
    return r


def run_impl(case_dir, tmp_path, out_dtype, impl=None):
    out = tmp_path / "y.npy"
    args = ["run", "--case", case_dir, "--out", out, "--out-dtype", out_dtype]
    if impl:
        args += ["--impl", impl]
    run_cli(*args, check_rc=0)
    return np.load(out)


def as_bf16_bits(a):
    """float64 -> bfloat16 bit patterns, rounded to nearest even (via float32, exact for the
    values used here: they come from bfloat16 results)."""
    u = np.asarray(a, np.float32).view(np.uint32).astype(np.uint64)
    return ((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype(np.uint16)


def perturbed(y, bound, scale, dtype):
    """y with its worst-bound element moved by `scale` times its bound (or by 1 where it is 0)."""
    y64 = (y.astype(np.float64) if dtype != "bfloat16"
           else (y.astype(np.uint32) << 16).view(np.float32).astype(np.float64))
    if y64.size == 0:
        return y
    i = int(np.argmax(bound))
    step = bound.flat[i] * scale if bound.flat[i] > 0 else 1.0
    y64 = y64.copy()
    y64.flat[i] += step
    if dtype == "bfloat16":
        return as_bf16_bits(y64)
    return y64.astype(y.dtype)


@pytest.mark.parametrize("pass_", convt2d.PASSES)
@pytest.mark.parametrize("dtype", ["float32", "float64", "float16", "bfloat16"])
def test_verdicts_match_cli(tmp_path, cli, pass_, dtype):
    regime = "real" if dtype in ("float32", "float64") else "cancellation"
    cases = gen_cases(tmp_path / "cases", "--random", 3, "--seed", 7, "--pass", pass_,
                      "--dtype", dtype, "--regime", regime)
    for k, case in enumerate(cases):
        y = run_impl(case, tmp_path, dtype)
        bound = np.load(case / "bound.npy")
        judge_both(case, y, tmp_path, tag=f"ok{k}")  # correct
        judge_both(case, perturbed(y, bound, 4.0, dtype), tmp_path, tag=f"far{k}")  # beyond
        judge_both(case, perturbed(y, bound, 0.9, dtype), tmp_path, tag=f"near{k}")  # within
        if y.size > 1:  # a wrong shape is a failed report, not an error
            judge_both(case, y.reshape(-1)[:-1], tmp_path, tag=f"shape{k}")
        if y.size:
            nan = y.copy()
            nan.flat[0] = np.uint16(0x7FC0) if dtype == "bfloat16" else np.nan
            judge_both(case, nan, tmp_path, tag=f"nan{k}")
        # Another dtype, claimed: float64 results judged by the case's bound, float16 by its own.
        ref64 = run_impl(case, tmp_path, "float64")
        judge_both(case, ref64, tmp_path, dtype=dtype, tag=f"f64{k}")
        judge_both(case, ref64.astype(np.float16), tmp_path, dtype="float16", tag=f"f16{k}")
        if dtype in ("float16", "bfloat16"):
            judge_both(case, y, tmp_path, compute_mode="float32", tag=f"mode{k}")
            judge_both(case, ref64.astype(np.float32), tmp_path, dtype=dtype,
                       compute_mode="float32", tag=f"f32{k}")


def test_bfloat16_claim_on_float32_case(tmp_path, cli):
    # A uint16 candidate for a float32 case is bfloat16 storage only with the claim, and the
    # claim needs inputs that are bfloat16 values (integer data: small integers are); real data
    # is refused by both, since the bound does not cover rounding the inputs.
    (case,) = gen_cases(tmp_path / "cases", "--problem", "mb1ic4ih5oc3kh3sh2", "--seed", 3,
                        "--regime", "integer")
    ref = run_impl(case, tmp_path, "bfloat16")
    r = judge_both(case, ref, tmp_path, dtype="bfloat16")
    assert r.dtype == "bfloat16" and r.compute_mode == "default" and r.passed
    (real,) = gen_cases(tmp_path / "real", "--problem", "mb1ic4ih5oc3kh3sh2", "--seed", 3)
    assert judge_both(real, run_impl(real, tmp_path, "bfloat16"), tmp_path, dtype="bfloat16",
                      tag="real") is None


def test_every_forward_implementation_verdict(tmp_path, cli):
    # The same registry behind both: each forward implementation's output, run by the CLI,
    # judged by both.
    for dtype in ("float32", "float16"):
        (case,) = gen_cases(tmp_path / dtype, "--problem", "mb2ic4ih6oc6kh3sh2ph1g2",
                            "--dtype", dtype, "--seed", 5)
        names = [i["name"] for i in convt2d.implementations("forward")
                 if i["input"] == dtype]
        assert names
        for name in names:
            y = run_impl(case, tmp_path, dtype, impl=name)
            r = judge_both(case, y, tmp_path, tag=name)
            assert r.passed, (name, str(r))


def test_unclaimed_dtype_is_an_error_in_both(tmp_path, cli):
    (case,) = gen_cases(tmp_path / "cases", "--problem", "mb1ic2ih3oc2kh2", "--seed", 1)
    y = run_impl(case, tmp_path, "float16")
    f = tmp_path / "y16.npy"
    np.save(f, y)
    r = run_cli("check", "--case", case, "--candidate", f)
    assert r.returncode == 2 and "pass --dtype float16 to claim float16" in r.stderr
    kw, a = load_case(case)
    with pytest.raises(convt2d.Error, match="pass dtype=float16 to claim float16") as e:
        convt2d.check(y, a["x"], a["w"], a["b"], **kw)
    assert e.value.subject == "dtype"


def test_verdict_kinds_were_all_seen():
    # Guards the test above against candidates that never fail or never look suspicious.
    if not VERDICTS:
        pytest.skip("run with the whole module")
    assert VERDICTS["pass"] > 0 and VERDICTS["fail"] > 0 and VERDICTS["suspicious"] > 0, VERDICTS

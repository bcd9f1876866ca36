"""Unusable input gives convt2d.Error (never a crash), non-finite data gets a verdict, the GIL is
released while the oracle computes, and 10^4 calls leak no references or memory."""

import gc
import sys
import threading
import time
import tracemalloc

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import convt2d


def layer(dtype=np.float32, n=1, ic=2, oc=3, h=4, w=4, k=3):
    rng = np.random.default_rng(0)
    return (rng.uniform(-1, 1, (n, ic, h, w)).astype(dtype),
            rng.uniform(-1, 1, (ic, oc, k, k)).astype(dtype),
            rng.uniform(-1, 1, (1, oc, 1, 1)).astype(dtype))


def raises(subject, fn, *args, match=None, **kw):
    with pytest.raises(convt2d.Error, match=match) as e:
        fn(*args, **kw)
    subjects = subject if isinstance(subject, tuple) else (subject,)
    assert e.value.subject in subjects, (e.value.subject, str(e.value))
    return e.value


@pytest.mark.parametrize("fn", [convt2d.reference, convt2d.exact,
                                lambda *a, **k: convt2d.check(np.zeros((1, 3, 6, 6)), *a, **k)])
def test_bad_inputs_raise_convt2d_error(fn):
    x, w, b = layer()
    for bad in (x.astype(np.int32), x.astype(np.complex64), x.astype(np.uint8),
                np.array([["a"]]), x.astype(object)):
        raises("x", fn, bad, w, b, match="dtype")
    raises("w", fn, x, w.astype(np.float64), b, match="one dtype")
    raises("x", fn, x.astype(">f4"), w, b, match="big-endian")
    raises("x", fn, x[:, :, ::2], w, b, match="not C-contiguous")
    raises("x", fn, np.asfortranarray(x), w, b, match="not C-contiguous")
    raises("input", fn, x[0], w, b)  # 3-D input: the library's name for x
    raises(("w", "weight"), fn, x, w[..., None], b)  # 5-D weight of the wrong size
    raises("w", fn, x, w[0], b)  # 3-D weight
    raises(("b", "bias"), fn, x, w, b[:, :2])
    raises(("b", "bias"), fn, x, w, b.reshape(3), match="shape")
    raises("x", fn, "not an array", w, b)
    raises("stride", fn, x, w, b, stride=0)
    raises("groups", fn, x, w, b, groups=3)
    raises("padding", fn, x, w, b, padding=50)
    raises("pass_", fn, x, w, b, pass_="sideways")
    raises("x", fn, None, w, b)
    with pytest.raises(TypeError):
        fn(x, w, b, strides=2)  # a misspelt keyword is Python's own TypeError


def test_bad_candidates():
    x, w, b = layer()
    y = convt2d.reference(x, w, b, impl="reference-f32")
    raises("candidate", convt2d.check, y.astype(np.int16), x, w, b)
    raises("candidate", convt2d.check, np.asfortranarray(y), x, w, b, match="C-contiguous")
    raises("dtype", convt2d.check, y.astype(np.float64), x, w, b, match="dtype=float64")
    raises("dtype", convt2d.check, y, x, w, b, dtype="float128")
    raises("compute_mode", convt2d.check, y, x, w, b, compute_mode="fast")
    for bad in (0, -1.0, float("inf"), float("nan")):
        raises("lambda_", convt2d.check, y, x, w, b, lambda_=bad)
    raises("lambda_", convt2d.check, y, x, w, b, lambda_="wide")
    for fn in (convt2d.check, lambda *a, **k: convt2d.exact(*a[1:], **k),
               lambda *a, **k: convt2d.reference(*a[1:], **k)):
        for bad in (2**70, 0, -5, 1.5, "4G"):
            raises("max_bytes", fn, y, x, w, b, max_bytes=bad)
        # Over the limit: the error names Python's keyword, not the CLI's --max-bytes.
        e = raises("max_bytes", fn, y, x, w, b, max_bytes=1000)
        assert "--max-bytes" not in str(e) and "max_bytes 1000" in str(e), str(e)
    # A wrong shape is a verdict, not an error.
    assert not convt2d.check(np.ascontiguousarray(y[:, :, 1:]), x, w, b).passed
    assert not convt2d.check(np.zeros(5, np.float32), x, w, b).shape_ok


def test_conversions_that_are_made():
    # Array-likes become arrays (a nested list is float64), 0-d and empty batches work.
    x, w, b = layer(np.float64)
    assert np.array_equal(convt2d.reference(x.tolist(), w, b), convt2d.reference(x, w, b))
    x0 = np.zeros((0, 2, 4, 4))
    y0 = convt2d.reference(x0, w, b)
    assert y0.shape == (0, 3, 6, 6) and convt2d.check(y0, x0, w, b).passed
    # The arrays passed in are not modified, and read-only arrays are accepted.
    x.setflags(write=False)
    before = x.copy()
    convt2d.check(convt2d.reference(x, w, b), x, w, b)
    assert np.array_equal(x, before)


def test_non_finite_data_gets_a_verdict():
    x, w, b = layer()
    x[0, 0, 1, 1] = np.nan
    x[0, 1, 2, 2] = np.inf
    y = convt2d.reference(x, w, b, impl="reference-f32")
    assert np.isnan(y).any()
    r = convt2d.check(y, x, w, b)
    assert r.passed, str(r)
    finite = np.nan_to_num(y, nan=0.0, posinf=0.0, neginf=0.0)
    r = convt2d.check(finite, x, w, b)
    assert not r.passed and r.nonfinite_mismatches > 0 and r.first_nonfinite is not None
    hi = convt2d.exact(x, w, b)
    assert np.array_equal(np.isnan(hi), np.isnan(y))
    # A NaN candidate for finite data fails.
    x2, w2, b2 = layer()
    bad = convt2d.reference(x2, w2, b2, impl="reference-f32")
    bad[0, 0, 0, 0] = np.nan
    assert convt2d.check(bad, x2, w2, b2).nonfinite_mismatches == 1


@pytest.mark.parametrize("what", ["exact", "check", "reference"])
def test_gil_released_during_computation(what):
    # A problem the 640-bit / long double oracle needs a while for; the main thread keeps
    # running Python while the worker is inside the C++ call.
    rng = np.random.default_rng(1)
    x = rng.uniform(-1, 1, (1, 16, 16, 16))  # float64: the 640-bit exact reference
    w = rng.uniform(-1, 1, (16, 16, 4, 4))
    kw = dict(stride=2, padding=1)
    if what == "reference":
        job = lambda: convt2d.reference(x, w, impl="reference-f64-mp", **kw)  # noqa: E731
    elif what == "exact":
        job = lambda: convt2d.exact(x, w, **kw)  # noqa: E731
    else:
        y = convt2d.reference(x, w, **kw)
        job = lambda: convt2d.check(y, x, w, **kw)  # noqa: E731
    done = []
    t = threading.Thread(target=lambda: done.append(job()))
    start = time.perf_counter()
    t.start()
    ticks = 0
    while t.is_alive():
        ticks += 1
        time.sleep(0.001)
    elapsed = time.perf_counter() - start
    t.join()
    assert done
    # Held GIL: no tick while the call runs (one or two at its ends). Released: about one per
    # millisecond, fewer on a loaded machine, hence the wide margin.
    assert elapsed > 0.1, f"too quick to tell ({elapsed:.3f} s)"
    assert ticks > max(10, 0.05 * elapsed * 1000), (ticks, elapsed)


def test_no_leaks_over_ten_thousand_calls():
    x, w, b = layer(n=1, ic=1, oc=1, h=2, w=2, k=2)
    y = convt2d.reference(x, w, b, impl="reference-f32")
    bad = y.copy()
    bad.flat[0] += 1

    def calls():
        r = convt2d.check(y, x, w, b)
        r.bound, r.worst, str(r)
        convt2d.check(bad, x, w, b).passed
        convt2d.reference(x, w, b)
        convt2d.exact(x, w, b, pair=True)
        try:
            convt2d.check(y, x, w, b, stride=0)
        except convt2d.Error:
            pass
        try:
            convt2d.check(y.astype(np.int32), x, w, b)
        except convt2d.Error:
            pass

    for _ in range(200):  # warm up caches
        calls()
    gc.collect()
    refs = [sys.getrefcount(t) for t in (x, w, b, y, bad)]
    objects = len(gc.get_objects())
    tracemalloc.start()
    base, _ = tracemalloc.get_traced_memory()
    for _ in range(10_000 // 6 + 1):  # 6 calls each: over 10^4 calls
        calls()
    gc.collect()
    grown = tracemalloc.get_traced_memory()[0] - base
    tracemalloc.stop()
    assert [sys.getrefcount(t) for t in (x, w, b, y, bad)] == refs
    assert len(gc.get_objects()) - objects < 100
    assert grown < 200_000, f"{grown} bytes more held by Python after 10^4 calls"


def rss_bytes():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096


def test_results_own_their_memory_and_free_it():
    # A result array is the only owner of the C++ storage it took over (no copy out), and
    # freeing it frees that storage.
    x = np.ones((1, 1, 160, 160), np.float32)
    w = np.ones((1, 1, 1, 1), np.float32)
    y = convt2d.reference(x, w)
    base = y.base
    assert base is not None and sys.getrefcount(base) == 3  # y, `base` and the argument
    before = rss_bytes()
    for _ in range(2000):
        convt2d.reference(x, w)  # 200 KB of float64 each: 400 MB if they leaked
    assert rss_bytes() - before < 100 << 20
    xs, ys = x[:, :, :64, :64].copy(), y[:, :, :64, :64].copy()
    r = convt2d.check(ys, xs, w, dtype="float64")
    assert r.bound.base is not None
    before = rss_bytes()
    for _ in range(300):
        convt2d.check(ys, xs, w, dtype="float64").bound  # bound and band: 19 MB if leaked
    assert rss_bytes() - before < 8 << 20


def every_call(x, w, b, dy, kw):
    """Every entry point over every registered implementation of every pass, on x, w, b, dy."""
    operands = {"forward": (x, w, b, None), "bwd_data": (None, w, None, dy),
                "bwd_weights": (x, None, None, dy), "bwd_bias": (None, None, None, dy)}
    for impl in convt2d.implementations():
        p = impl["pass"]
        if impl["input"] != x.dtype.name:
            continue
        xi, wi, bi, dyi = operands[p]
        y = convt2d.reference(xi, wi, bi, dy=dyi, impl=impl["name"], pass_=p, **kw)
        assert convt2d.check(y, xi, wi, bi, dy=dyi, pass_=p, dtype=impl["output"], **kw).passed
        convt2d.exact(xi, wi, bi, dy=dyi, pass_=p, pair=True, **kw)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_c_contiguous_operands_are_borrowed_never_copied_nor_written(dtype):
    # Zero-copy in: a C-contiguous native-order operand (and the candidate) is read in place.
    # A path that copied one (the storage's copy-on-write) moves the counter; one that wrote
    # one changes the caller's array. Read-only arrays must be accepted as they are.
    kw = dict(stride=2, padding=1, output_padding=1, groups=2, kernel_size=3)
    rng = np.random.default_rng(7)
    x = rng.uniform(-1, 1, (2, 4, 5, 6)).astype(dtype)
    w = rng.uniform(-1, 1, (2, 2, 3, 3, 3)).astype(dtype)
    b = rng.uniform(-1, 1, (1, 6, 1, 1)).astype(dtype)
    dy = rng.uniform(-1, 1, convt2d.output_shape(x.shape, out_channels=6, **kw)).astype(dtype)
    kept = [a.copy() for a in (x, w, b, dy)]
    for a in (x, w, b, dy):
        a.flags.writeable = False
    before = convt2d._convt2d._view_copies()
    every_call(x, w, b, dy, kw)
    assert convt2d._convt2d._view_copies() == before
    for a, k in zip((x, w, b, dy), kept):
        assert np.array_equal(a, k)


def peak_rss_reset():
    """Resets the kernel's peak-RSS mark (VmHWM) of this process; False where not allowed."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def peak_rss_bytes():
    with open("/proc/self/status") as f:
        return next(int(l.split()[1]) << 10 for l in f if l.startswith("VmHWM:"))


def test_a_large_operand_is_not_duplicated():
    # 128 MB of x through the optimized GEMM path (1x1 kernel: y is 128 MB too; the path's own
    # working memory is a few panels, unlike the fused tiles, which pad a copy of x): a copy in
    # would show as 128 MB more peak memory than y.
    x = np.ones((1, 1, 4096, 8192), np.float32)
    w = np.full((1, 1, 1, 1), 2, np.float32)
    convt2d.reference(x[:, :, :4, :4].copy(), w, impl="optimized")  # the module warmed up
    gc.collect()
    if not peak_rss_reset():
        pytest.skip("/proc/self/clear_refs is not writable here")
    before = rss_bytes()
    y = convt2d.reference(x, w, impl="optimized-gemm")
    assert y.shape == x.shape and float(y[0, 0, -1, -1]) == 2.0
    grown = peak_rss_bytes() - before
    del y
    assert grown < (128 + 64) << 20, f"peak grew by {grown >> 20} MB for a 128 MB result"


ANY_DTYPE = st.sampled_from([np.float32, np.float64, np.float16, np.uint16, np.int32, np.int8,
                             np.complex64, np.bool_])


@st.composite
def junk_array(draw):
    shape = tuple(draw(st.lists(st.integers(0, 4), max_size=6)))
    a = np.ones(shape, draw(ANY_DTYPE))
    if a.ndim and draw(st.booleans()):
        a = np.swapaxes(a, 0, -1)  # often not C-contiguous
    return a


ANY_PAIR = st.one_of(st.integers(-3, 5), st.tuples(st.integers(-3, 5), st.integers(-3, 5)))


@settings(max_examples=300, deadline=None, derandomize=True, database=None)
@given(st.sampled_from(["reference", "exact", "check"]), junk_array(), junk_array(),
       st.one_of(st.none(), junk_array()), st.one_of(st.none(), junk_array()), junk_array(),
       st.sampled_from(convt2d.PASSES), ANY_PAIR, ANY_PAIR, st.one_of(st.none(), st.integers(-1, 4)))
def test_arbitrary_input_is_an_answer_or_an_error(fn, x, w, b, dy, cand, pass_, stride, padding,
                                                  groups):
    # Whatever arrives: a result, or convt2d.Error; never another exception, never a crash.
    kw = dict(dy=dy, pass_=pass_, stride=stride, padding=padding, groups=groups)
    if pass_ != "forward":
        kw["kernel_size"] = 2
    try:
        if fn == "check":
            assert isinstance(convt2d.check(cand, x, w, b, **kw), convt2d.Report)
        else:
            assert isinstance(getattr(convt2d, fn)(x, w, b, **kw), np.ndarray)
    except convt2d.Error:
        pass

"""convt2d: the exact oracle for 2D transposed convolution (ConvTranspose2d, MegEngine semantics).

The functions take numpy arrays (or anything numpy.asarray turns into one without copying, such
as CPU torch tensors) and MegEngine's keyword arguments::

    import convt2d
    y = convt2d.reference(x, w, b, stride=2, padding=1)      # any registered implementation
    report = convt2d.check(my_y, x, w, b, stride=2, padding=1)
    assert report.passed, report                             # or: convt2d.assert_close(...)

See docs/python.md for the whole API.
"""

from __future__ import annotations

import operator

import numpy as np

from . import _convt2d
from ._convt2d import Element, Error, Params, Report, parse_problem

# Public under the package's name: tracebacks and reprs say convt2d.Error, not the private
# extension's convt2d._convt2d.Error.
for _cls in (Element, Error, Params, Report):
    _cls.__module__ = __name__
del _cls

__all__ = [
    "Element",
    "Error",
    "Params",
    "Problem",
    "Report",
    "PASSES",
    "assert_close",
    "check",
    "exact",
    "implementations",
    "output_shape",
    "parse_problem",
    "reference",
]

#: The computations of a layer: y from x, w, b; and dx, dw, db from dy.
PASSES = ("forward", "bwd_data", "bwd_weights", "bwd_bias")


def implementations(pass_=None):
    """The registry's implementations, as dicts (name, description, pass, input, output, exact),
    of every pass or of one."""
    impls = _convt2d._implementations()
    if pass_ is not None:
        if pass_ not in PASSES:
            raise Error(f"pass_: unknown pass '{pass_}' (expected forward, bwd_data, bwd_weights "
                        f"or bwd_bias)")
        impls = [i for i in impls if i["pass"] == pass_]
    return impls


def _error(subject, message):
    e = Error(message)
    e.subject = subject
    return e


_INT64_MAX = 2**63 - 1


def _max_bytes(v):
    """max_bytes as the int64 the module takes; outside 1..2**63-1 an Error naming it (pybind's
    own conversion would raise a TypeError that says nothing of the option)."""
    try:
        n = operator.index(v)
    except TypeError:
        raise _error("max_bytes", f"max_bytes: expected an integer, got {v!r}") from None
    if not 1 <= n <= _INT64_MAX:
        raise _error("max_bytes", f"max_bytes must be in [1, 2**63-1], got {n}")
    return n


def _lambda(v):
    """lambda_ as a float (the module checks it is finite and > 0); a non-number is an Error."""
    try:
        return float(v)
    except (TypeError, ValueError):
        raise _error("lambda_", f"lambda_: expected a number, got {v!r}") from None


def _shape_text(shape):
    return "(" + ", ".join(str(d) for d in shape) + ")"


def _array(a, name):
    """numpy's view of `a` (no copy for arrays and array-likes that share memory), else None."""
    if a is None or isinstance(a, np.ndarray):
        return a
    if hasattr(a, "detach") and hasattr(a, "cpu"):  # a torch tensor: its CPU memory, no grad
        a = a.detach().cpu()
    try:
        return np.asarray(a)
    except Exception as e:  # noqa: BLE001 - any conversion failure is unusable input
        raise _error(name, f"{name}: cannot be read as a numpy array ({type(a).__name__}: {e})")


def _params_of(pass_, x, w, b, dy, kw):
    """The Params the tensors and keyword arguments describe, and w as MegEngine's layout.

    Explicit keyword arguments win; in_channels, out_channels, kernel_size and groups otherwise
    come from the shapes. A 4-D weight with groups > 1 is PyTorch's (IC, OC/G, kh, kw), reshaped
    (a view) to MegEngine's (G, IC/G, OC/G, kh, kw). Mismatches are found by the C++ checks, which
    name the tensor and both shapes.
    """
    if pass_ not in PASSES:
        raise _error("pass_", f"pass_: unknown pass '{pass_}' (expected forward, bwd_data, "
                              f"bwd_weights or bwd_bias)")
    for name, t, reads in (("x", x, pass_ in ("forward", "bwd_weights")),
                           ("w", w, pass_ in ("forward", "bwd_data")),
                           ("dy", dy, pass_ != "forward")):
        if reads and t is None:
            raise _error(name, f"{name}: the {pass_} pass reads {name}, but none was given")
    kw = dict(kw)
    groups = kw.pop("groups", None)
    if w is not None:
        if w.ndim not in (4, 5):
            raise _error("w", f"w: shape {_shape_text(w.shape)} is neither 4-D (IC, OC/G, kh, kw) "
                              f"nor 5-D (G, IC/G, OC/G, kh, kw)")
        if groups is None:
            groups = w.shape[0] if w.ndim == 5 else 1
    if groups is None:
        groups = 1
    if not isinstance(groups, (int, np.integer)) or isinstance(groups, bool):
        raise _error("groups", f"groups: expected an int, got {groups!r}")
    groups = int(groups)
    wshape = None
    if w is not None:
        if w.ndim == 5:
            wshape = (w.shape[0] * w.shape[1], w.shape[0] * w.shape[2]) + tuple(w.shape[3:])
        else:
            wshape = (w.shape[0], w.shape[1] * groups) + tuple(w.shape[2:])
            # (Not when w is not C-contiguous: reshape would copy, and the refusal is due.)
            if groups > 1 and w.shape[0] % groups == 0 and w.flags.c_contiguous:
                w = w.reshape((groups, w.shape[0] // groups) + tuple(w.shape[1:]))
    if "in_channels" not in kw:
        if x is not None and x.ndim >= 2:
            kw["in_channels"] = x.shape[1]
        elif wshape is not None:
            kw["in_channels"] = wshape[0]
        else:  # bwd_bias reads neither x nor w, and the input channels do not matter to it
            kw["in_channels"] = groups
    if "out_channels" not in kw:
        if wshape is not None:
            kw["out_channels"] = wshape[1]
        elif dy is not None and dy.ndim >= 2:
            kw["out_channels"] = dy.shape[1]
        elif b is not None and b.ndim == 4:
            kw["out_channels"] = b.shape[1]
        else:
            raise _error("out_channels", "out_channels: cannot be inferred (no w, dy or 4-D b); "
                                         "pass out_channels=")
    if "kernel_size" not in kw:
        if wshape is None:
            raise _error("kernel_size", f"kernel_size: the {pass_} pass reads no weight, so "
                                        f"kernel_size= is required")
        kw["kernel_size"] = (int(wshape[2]), int(wshape[3]))
    for key in ("in_channels", "out_channels"):  # numpy integers from shapes; others to C++
        if isinstance(kw[key], np.integer):
            kw[key] = int(kw[key])
    bias = kw.pop("bias", None)
    if bias is None:
        bias = b is not None if pass_ == "forward" else True
    if pass_ == "forward" and bias and b is None:
        raise _error("b", "b: bias=True but no bias tensor was given")
    params = Params(kw.pop("in_channels"), kw.pop("out_channels"), kw.pop("kernel_size"),
                    groups=groups, bias=bool(bias), **kw)
    return params, w


_PARAM_KEYS = {"in_channels", "out_channels", "kernel_size", "stride", "padding",
               "output_padding", "dilation", "groups", "bias", "conv_mode", "compute_mode",
               "output_padding_rule"}


def _split(kw):
    unknown = set(kw) - _PARAM_KEYS
    if unknown:
        name = sorted(unknown)[0]
        raise TypeError(f"unexpected keyword argument '{name}'")
    return kw


def _operands(pass_, x, w, b, dy, kw):
    x, w, b, dy = (_array(x, "x"), _array(w, "w"), _array(b, "b"), _array(dy, "dy"))
    params, w = _params_of(pass_, x, w, b, dy, _split(kw))
    return params, x, w, b, dy


def _weight_result(a, params, weight_layout):
    """A bwd_weights result (MegEngine's layout) in the layout asked for."""
    if weight_layout == "megengine" or a.ndim != 5:
        return a
    if weight_layout == "pytorch":
        return a.reshape((a.shape[0] * a.shape[1],) + a.shape[2:])
    raise _error("weight_layout", f"weight_layout: unknown layout '{weight_layout}' (expected "
                                  f"megengine or pytorch)")


class Problem:
    """One concrete computation with its data: what convt2d.strategies.problems() generates.

    params (a Params), pass_, dtype, regime, seed, (mb, ih, iw), and the tensors the pass reads
    (x, w, b, dy; None where it reads none; bfloat16 as uint16 bit patterns). w is MegEngine's
    layout; torch_weight() gives PyTorch's. `layer_kwargs` are the keyword arguments of
    MegEngine's / PyTorch's functional call (stride, padding, output_padding, dilation, groups).
    check(candidate) and assert_close(candidate) judge a result; so does
    convt2d.assert_close(candidate, problem).
    """

    def __init__(self, params, mb, ih, iw, pass_="forward", dtype="float32", regime="real",
                 seed=0, x=None, w=None, b=None, dy=None):
        self.params, self.mb, self.ih, self.iw = params, mb, ih, iw
        self.pass_, self.dtype, self.regime, self.seed = pass_, dtype, regime, seed
        self.x, self.w, self.b, self.dy = x, w, b, dy

    @classmethod
    def generate(cls, params, mb, ih, iw, *, pass_="forward", dtype="float32", regime="real",
                 seed=0):
        """The data `convt2d gen` writes for this problem, regime and seed (core/fill.h)."""
        d = _convt2d._make_case(params, mb, ih, iw, dtype, regime, seed, pass_)
        return cls(params, mb, ih, iw, pass_, dtype, regime, seed, **d)

    @property
    def problem_string(self):
        """The CLI's problem string, e.g. mb1ic4ih5oc8kh3sh2."""
        return self.params.problem(self.mb, self.ih, self.iw)

    @property
    def layer_kwargs(self):
        p = self.params
        return {"stride": p.stride, "padding": p.padding, "output_padding": p.output_padding,
                "dilation": p.dilation, "groups": p.groups}

    @property
    def kwargs(self):
        """Everything convt2d.reference/exact/check need beside the tensors."""
        p = self.params
        kw = dict(self.layer_kwargs, pass_=self.pass_, kernel_size=p.kernel_size,
                  in_channels=p.in_channels, out_channels=p.out_channels, bias=p.bias,
                  compute_mode=p.compute_mode, output_padding_rule=p.output_padding_rule)
        if self.dy is not None:
            kw["dy"] = self.dy
        return kw

    @property
    def args(self):
        """(x, w, b), None where the pass reads none."""
        return self.x, self.w, self.b

    def torch_weight(self):
        """w in PyTorch's layout (IC, OC/G, kh, kw) (a view)."""
        w = self.w
        return w.reshape((w.shape[0] * w.shape[1],) + w.shape[2:]) if w.ndim == 5 else w

    def gen_command(self):
        """The `convt2d gen` command line that writes this case."""
        return (f"convt2d gen --problem {self.problem_string} --pass {self.pass_} --dtype "
                f"{self.dtype} --regime {self.regime} --seed {self.seed} --compute-mode "
                f"{self.params.compute_mode} --out case")

    def reference(self, **kw):
        return reference(*self.args, **dict(self.kwargs, **kw))

    def exact(self, **kw):
        return exact(*self.args, **dict(self.kwargs, **kw))

    def check(self, candidate, **kw):
        return check(candidate, *self.args, **dict(self.kwargs, **kw))

    def assert_close(self, candidate, **kw):
        __tracebackhide__ = True
        return assert_close(candidate, self, **kw)

    def __repr__(self):
        extra = "" if self.params.output_padding_rule == "megengine" else " (pytorch rule)"
        return (f"<convt2d.Problem {self.pass_} {self.problem_string}{extra} {self.dtype} "
                f"{self.regime} seed={self.seed}: {self.gen_command()}>")


def output_shape(input_shape, params=None, **kw):
    """(N, OC, Hout, Wout) of a layer on an input of shape (N, IC, H, W).

    Either a Params, or its keyword arguments (out_channels, kernel_size, stride, ...;
    in_channels defaults to input_shape[1]). convt2d.Error names the bad parameter."""
    input_shape = tuple(int(d) for d in input_shape)
    if params is None:
        kw = _split(dict(kw))
        if "in_channels" not in kw and len(input_shape) == 4:
            kw["in_channels"] = input_shape[1]
        for key in ("in_channels", "out_channels", "kernel_size"):
            if key not in kw:
                raise TypeError(f"output_shape() missing keyword argument '{key}'")
        params = Params(kw.pop("in_channels"), kw.pop("out_channels"), kw.pop("kernel_size"),
                        **kw)
    elif kw:
        raise TypeError("output_shape() takes a Params or keyword arguments, not both")
    return params.output_shape(input_shape)


def reference(x=None, w=None, b=None, *, dy=None, impl=None, pass_="forward",
              weight_layout="megengine", max_bytes=_convt2d.DEFAULT_MAX_BYTES, **params):
    """The result of one registered implementation (convt2d.implementations()).

    forward: y from x, w, b (b=None: no bias). bwd_data: dx from dy, w. bwd_weights: dw from x, dy
    (kernel_size= required; weight_layout="pytorch" returns (IC, OC/G, kh, kw)). bwd_bias: db from
    dy. impl=None picks the reference of the tensors' dtype and compute_mode, as `convt2d run`.
    The GIL is released while it computes."""
    p, x, w, b, dy = _operands(pass_, x, w, b, dy, params)
    y = _convt2d._run(impl or "", pass_, p, x, w, b, dy, _max_bytes(max_bytes))
    return _weight_result(y, p, weight_layout) if pass_ == "bwd_weights" else y


def exact(x=None, w=None, b=None, *, dy=None, pass_="forward", pair=False,
          weight_layout="megengine", max_bytes=_convt2d.DEFAULT_MAX_BYTES, **params):
    """The exact result as float64: hi, the nearest double to it, or with pair=True (hi, lo) where
    hi + lo is the exact value (lo is NaN where no such pair of doubles exists, e.g. beyond
    float64's range; hi is then the value rounded, possibly to ±inf). NaN/Inf inputs propagate as
    IEEE arithmetic would without rounding. The GIL is released while it computes."""
    p, x, w, b, dy = _operands(pass_, x, w, b, dy, params)
    hi, lo = _convt2d._exact(pass_, p, x, w, b, dy, _max_bytes(max_bytes))
    if pass_ == "bwd_weights":
        hi, lo = _weight_result(hi, p, weight_layout), _weight_result(lo, p, weight_layout)
    return (hi, lo) if pair else hi


_DTYPES = ("float32", "float64", "float16", "bfloat16")


def check(candidate, x=None, w=None, b=None, *, dy=None, pass_=None, dtype=None,
          compute_mode=None, lambda_=_convt2d.DEFAULT_LAMBDA,
          max_bytes=_convt2d.DEFAULT_MAX_BYTES, **params):
    """Judges `candidate` against the exact result and the certified bound: a Report.

    dtype: the precision the candidate claims (default: the inputs' dtype; a candidate of
    another dtype then is an Error, as in `convt2d check`). "bfloat16" with a uint16 or float32
    candidate judges it as bfloat16 storage / arithmetic. compute_mode: the claimed mode for
    float16/bfloat16, also the layer's compute_mode. For bwd_weights a (IC, OC/G, kh, kw)
    candidate (PyTorch's layout) is accepted beside MegEngine's. A shape mismatch is a failed
    Report, never an exception. The GIL is released while it computes."""
    if isinstance(x, Problem):
        if w is not None or b is not None or dy is not None:
            raise TypeError("check(candidate, problem) takes no tensors beside the problem")
        kw = dict(x.kwargs, **params)
        if pass_ is not None and pass_ != x.pass_:
            raise _error("pass_", f"pass_: {pass_} given, but the problem is a {x.pass_} problem")
        if compute_mode is not None:
            kw["compute_mode"] = compute_mode
        return check(candidate, *x.args, dtype=dtype, lambda_=lambda_, max_bytes=max_bytes, **kw)
    if compute_mode is not None:
        params["compute_mode"] = compute_mode
    if dtype is not None and dtype not in _DTYPES:
        raise _error("dtype", f"dtype: unknown dtype '{dtype}' (expected float32, float64, "
                              f"float16 or bfloat16)")
    pass_ = pass_ or "forward"
    p, x, w, b, dy = _operands(pass_, x, w, b, dy, params)
    cand = _array(candidate, "candidate")
    if (pass_ == "bwd_weights" and p.groups > 1 and isinstance(cand, np.ndarray)
            and cand.ndim == 4):
        ws = p.weight_shape()
        if cand.shape == (ws[0] * ws[1],) + tuple(ws[2:]):
            cand = cand.reshape(ws)
    return _convt2d._check(cand, pass_, p, x, w, b, dy, dtype or "", compute_mode or "",
                           _lambda(lambda_), _max_bytes(max_bytes))


def assert_close(candidate, x=None, w=None, b=None, **kw):
    """convt2d.check(...), raising AssertionError with the report when it fails (pytest prints
    it). Returns the Report; a suspicious but passing result passes."""
    __tracebackhide__ = True  # pytest: the failure points at the caller
    report = check(candidate, x, w, b, **kw)
    for listener in _report_listeners:
        listener(report, x)
    if not report.passed:
        where = f" on {x!r}" if isinstance(x, Problem) else ""
        raise AssertionError(f"convt2d: the candidate is not within the certified bound{where}\n"
                             + str(report))
    return report


# Called with (report, problem-or-x) by every assert_close (the pytest plugin lists suspicious
# results this way).
_report_listeners = []

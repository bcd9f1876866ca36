// _convt2d: the oracle in-process. The thin layer between numpy arrays and the library: cases are
// built with assemble_case, implementations come from builtin_registry(), judgements from
// check_candidate (the CLI's own check), so the Python verdicts and report texts are the CLI's by
// construction. The Pythonic API (keyword arguments, shape inference, layouts) is
// convt2d/__init__.py.
#include <fmt/format.h>
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <utility>

#include "convt2d/case_dir.h"
#include "convt2d/compare.h"
#include "convt2d/error.h"
#include "convt2d/fill.h"
#include "convt2d/implementations.h"
#include "convt2d/params.h"
#include "convt2d/pass.h"
#include "convt2d/registry.h"
#include "convt2d/tensor.h"

namespace py = pybind11;

namespace convt2d {
namespace {

// The Python class convt2d.Error (a ValueError), set at import.
PyObject* g_error = nullptr;

const Registry& registry() {
  static const Registry r = builtin_registry();
  return r;
}

// An integer argument: a Python int or anything with __index__ (numpy integers), never a bool.
bool is_integer(const py::handle& v) {
  return PyIndex_Check(v.ptr()) && !PyBool_Check(v.ptr()) && !py::isinstance<py::array>(v);
}

int64_t as_int64(const py::handle& v, const char* name) {
  const auto i = py::reinterpret_steal<py::int_>(PyNumber_Index(v.ptr()));
  if (!i) throw py::error_already_set();
  int overflow = 0;
  const long long r = PyLong_AsLongLongAndOverflow(i.ptr(), &overflow);
  if (overflow != 0) {
    throw Error(name, fmt::format("{}: {} does not fit in int64", name,
                                  excerpt(py::repr(v).cast<std::string>())));
  }
  return static_cast<int64_t>(r);
}

// An (h, w) pair from an integer or a sequence of two: MegEngine's int-or-pair.
Pair to_pair(const py::handle& v, const char* name) {
  if (is_integer(v)) return Pair{as_int64(v, name)};
  if (py::isinstance<py::sequence>(v) && !py::isinstance<py::str>(v)) {
    const auto s = v.cast<py::sequence>();
    if (s.size() == 2 && is_integer(s[0]) && is_integer(s[1])) {
      return Pair{as_int64(s[0], name), as_int64(s[1], name)};
    }
  }
  throw Error(name, fmt::format("{}: expected an int or a pair of ints, got {}", name,
                                excerpt(py::repr(v).cast<std::string>())));
}

int64_t to_int(const py::handle& v, const char* name) {
  if (!is_integer(v)) {
    throw Error(name, fmt::format("{}: expected an int, got {}", name,
                                  excerpt(py::repr(v).cast<std::string>())));
  }
  return as_int64(v, name);
}

Params make_params(const py::handle& in_channels, const py::handle& out_channels,
                   const py::handle& kernel_size, const py::handle& stride,
                   const py::handle& padding, const py::handle& output_padding,
                   const py::handle& dilation, const py::handle& groups, bool bias,
                   const std::string& conv_mode, const std::string& compute_mode,
                   const std::string& output_padding_rule) {
  Params p;
  p.in_channels = to_int(in_channels, "in_channels");
  p.out_channels = to_int(out_channels, "out_channels");
  p.kernel_size = to_pair(kernel_size, "kernel_size");
  p.stride = to_pair(stride, "stride");
  p.padding = to_pair(padding, "padding");
  p.output_padding = to_pair(output_padding, "output_padding");
  p.dilation = to_pair(dilation, "dilation");
  p.groups = to_int(groups, "groups");
  p.bias = bias;
  p.conv_mode = parse_conv_mode(conv_mode);
  p.compute_mode = parse_compute_mode(compute_mode);
  p.output_padding_rule = parse_output_padding_rule(output_padding_rule);
  validate(p);
  return p;
}

py::tuple to_tuple(const Shape& s) {
  py::tuple t(s.size());
  for (size_t i = 0; i < s.size(); ++i) t[i] = s[i];
  return t;
}

py::tuple pair_tuple(const Pair& p) {
  return py::make_tuple(p.h, p.w);
}

// A C-contiguous, native-order array is borrowed, not copied: the Tensor is a read-only view of
// numpy's buffer (copy-on-write, so the caller's array is never written). The array outlives the
// view because every view lives inside one call that holds a reference to its argument. Anything
// else is refused naming the tensor: other dtypes, non-native byte order, non-contiguous layouts.
template <class T>
Tensor<T> borrow(const py::array& a, const Shape& shape) {
  Tensor<T> t;
  t.shape = shape;
  t.data =
      Storage<T>::view(static_cast<const T*>(a.data()), static_cast<size_t>(element_count(shape)));
  return t;
}

AnyTensor to_tensor(const py::handle& obj, const std::string& name) {
  if (!py::isinstance<py::array>(obj)) {
    throw Error(name, fmt::format("{}: expected a numpy array, got {}", name,
                                  py::str(py::type::of(obj).attr("__name__")).cast<std::string>()));
  }
  const auto a = py::reinterpret_borrow<py::array>(obj);
  Shape shape(static_cast<size_t>(a.ndim()));
  for (py::ssize_t i = 0; i < a.ndim(); ++i) shape[static_cast<size_t>(i)] = a.shape(i);
  const py::dtype dt = a.dtype();
  const char kind = dt.kind();
  const auto size = dt.itemsize();
  const std::string dname = py::str(static_cast<const py::handle&>(dt)).cast<std::string>();
  // ml_dtypes' bfloat16 (JAX) and a uint16 array of bit patterns both are bfloat16 storage.
  const bool bf16 = (kind == 'u' && size == 2) || dname == "bfloat16";
  const bool ok = (kind == 'f' && (size == 2 || size == 4 || size == 8)) || bf16;
  if (!ok) {
    throw Error(name, fmt::format("{}: dtype {} is not supported (float32, float64, float16, or "
                                  "bfloat16 as uint16 bit patterns)",
                                  name, dname));
  }
  if (dt.byteorder() == '>') {
    throw Error(name, fmt::format("{}: big-endian dtype {}; pass {}.astype({}.dtype.newbyteorder"
                                  "('='))",
                                  name, dname, name, name));
  }
  if (!(a.flags() & py::array::c_style)) {
    throw Error(name, fmt::format("{}: the array is not C-contiguous; pass "
                                  "numpy.ascontiguousarray({})",
                                  name, name));
  }
  if (bf16) return borrow<bfloat16>(a, shape);
  if (size == 2) return borrow<float16>(a, shape);
  if (size == 4) return borrow<float>(a, shape);
  return borrow<double>(a, shape);
}

std::optional<AnyTensor> optional_tensor(const py::object& obj, const std::string& name) {
  if (obj.is_none()) return std::nullopt;
  return to_tensor(obj, name);
}

// A numpy array that takes over the Tensor's storage (no copy out). bfloat16 comes out as uint16.
py::array to_numpy(AnyTensor t) {
  return std::visit(
      [](auto& tensor) -> py::array {
        using T = typename std::decay_t<decltype(tensor)>::value_type;
        using Out = std::conditional_t<std::is_same_v<T, bfloat16>, uint16_t, T>;
        auto* data = new std::vector<T>(std::move(tensor.data).release());
        py::capsule owner(data, [](void* p) { delete static_cast<std::vector<T>*>(p); });
        std::vector<py::ssize_t> shape(tensor.shape.begin(), tensor.shape.end());
        if constexpr (std::is_same_v<T, float16>) {
          return py::array(py::dtype("float16"), shape, {}, data->data(), owner);
        } else {
          return py::array_t<Out>(shape, reinterpret_cast<const Out*>(data->data()), owner);
        }
      },
      t);
}

py::array to_numpy(Tensor<double> t) {
  return to_numpy(AnyTensor(std::move(t)));
}

Case make_py_case(const std::string& pass, const Params& params, const py::object& x,
                  const py::object& w, const py::object& b, const py::object& dy,
                  int64_t max_bytes) {
  const Pass ps = parse_pass(pass, "pass_");
  std::optional<AnyTensor> xt = reads_x(ps) ? optional_tensor(x, "x") : std::nullopt;
  std::optional<AnyTensor> wt = reads_w(ps) ? optional_tensor(w, "w") : std::nullopt;
  if (reads_x(ps) && !xt) {
    throw Error("x", fmt::format("x: the {} pass reads x, but none was given", pass));
  }
  if (reads_w(ps) && !wt) {
    throw Error("w", fmt::format("w: the {} pass reads w, but none was given", pass));
  }
  std::optional<AnyTensor> bt =
      ps == Pass::kForward && params.bias ? optional_tensor(b, "b") : std::nullopt;
  std::optional<AnyTensor> dyt = reads_dy(ps) ? optional_tensor(dy, "dy") : std::nullopt;
  AnyTensor empty = Tensor<float>();
  return assemble_case(params, ps, xt ? std::move(*xt) : empty, wt ? std::move(*wt) : empty,
                       std::move(bt), std::move(dyt), max_bytes, "max_bytes");
}

// The judgement with its bound and band, as Python's convt2d.Report.
struct PyReport {
  CheckResult result;
};

py::object element(const std::optional<ElementReport>& e) {
  if (!e) return py::none();
  return py::cast(*e);
}

}  // namespace
}  // namespace convt2d

PYBIND11_MODULE(_convt2d, m) {
  using namespace convt2d;
  m.doc() = "convt2d's oracle in-process (use the convt2d package, not this module)";

  static py::exception<Error> error(m, "Error", PyExc_ValueError);
  g_error = error.ptr();
  // The message is the C++ Error's what(); `subject` names the parameter or tensor.
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const Error& e) {
      py::object inst = py::reinterpret_borrow<py::object>(g_error)(e.what());
      inst.attr("subject") = e.subject();
      PyErr_SetObject(g_error, inst.ptr());
    }
  });

  py::class_<Params>(m, "Params", R"(ConvTranspose2d's constructor arguments, validated.

Params(in_channels, out_channels, kernel_size, stride=1, padding=0, output_padding=0,
       dilation=1, groups=1, bias=True, conv_mode="cross_correlation",
       compute_mode="default", output_padding_rule="megengine")

Pairs may be an int or (h, w). An invalid value raises convt2d.Error naming the parameter,
with the message of the CLI.)")
      .def(py::init(&make_params), py::arg("in_channels"), py::arg("out_channels"),
           py::arg("kernel_size"), py::kw_only(), py::arg("stride") = 1, py::arg("padding") = 0,
           py::arg("output_padding") = 0, py::arg("dilation") = 1, py::arg("groups") = 1,
           py::arg("bias") = true, py::arg("conv_mode") = "cross_correlation",
           py::arg("compute_mode") = "default", py::arg("output_padding_rule") = "megengine")
      .def_property_readonly("in_channels", [](const Params& p) { return p.in_channels; })
      .def_property_readonly("out_channels", [](const Params& p) { return p.out_channels; })
      .def_property_readonly("kernel_size",
                             [](const Params& p) { return pair_tuple(p.kernel_size); })
      .def_property_readonly("stride", [](const Params& p) { return pair_tuple(p.stride); })
      .def_property_readonly("padding", [](const Params& p) { return pair_tuple(p.padding); })
      .def_property_readonly("output_padding",
                             [](const Params& p) { return pair_tuple(p.output_padding); })
      .def_property_readonly("dilation", [](const Params& p) { return pair_tuple(p.dilation); })
      .def_property_readonly("groups", [](const Params& p) { return p.groups; })
      .def_property_readonly("bias", [](const Params& p) { return p.bias; })
      .def_property_readonly("conv_mode",
                             [](const Params& p) { return std::string(to_string(p.conv_mode)); })
      .def_property_readonly("compute_mode",
                             [](const Params& p) { return std::string(to_string(p.compute_mode)); })
      .def_property_readonly(
          "output_padding_rule",
          [](const Params& p) { return std::string(to_string(p.output_padding_rule)); })
      .def(
          "weight_shape", [](const Params& p) { return to_tuple(weight_shape(p)); },
          "MegEngine's weight shape: (IC, OC, kh, kw), or (G, IC/G, OC/G, kh, kw) when grouped.")
      .def(
          "bias_shape", [](const Params& p) { return to_tuple(bias_shape(p)); }, "(1, OC, 1, 1).")
      .def(
          "output_shape",
          [](const Params& p, const py::handle& input_shape) {
            const auto s = input_shape.cast<std::vector<int64_t>>();
            if (s.size() != 4) {
              throw Error("input",
                          fmt::format("input: shape {} is not 4-D (N, C, H, W)", format_shape(s)));
            }
            if (s[1] != p.in_channels) {
              throw Error("input", fmt::format("input: shape {} has {} channels, but "
                                               "in_channels is {}",
                                               format_shape(s), s[1], p.in_channels));
            }
            // The Problem's own validation, so that the message is `convt2d shape`'s.
            return to_tuple(output_shape(Problem{s[0], s[2], s[3], p}));
          },
          py::arg("input_shape"),
          "(N, OC, Hout, Wout) for an input of shape (N, IC, H, W); convt2d.Error naming the "
          "parameter or the input when there is no such output.")
      .def(
          "problem",
          [](const Params& p, int64_t mb, int64_t ih, int64_t iw) {
            Problem pr{mb, ih, iw, p};
            validate(pr);
            return format_problem(pr);
          },
          "The canonical problem string of this layer on an (mb, IC, ih, iw) input.")
      .def("__eq__", [](const Params& a, const Params& b) { return a == b; })
      .def("__repr__", [](const Params& p) {
        const auto pair = [](const Pair& v) {
          return v.h == v.w ? fmt::format("{}", v.h) : fmt::format("({}, {})", v.h, v.w);
        };
        return fmt::format(
            "convt2d.Params(in_channels={}, out_channels={}, kernel_size={}, stride={}, "
            "padding={}, output_padding={}, dilation={}, groups={}, bias={}, compute_mode='{}', "
            "output_padding_rule='{}')",
            p.in_channels, p.out_channels, pair(p.kernel_size), pair(p.stride), pair(p.padding),
            pair(p.output_padding), pair(p.dilation), p.groups, p.bias ? "True" : "False",
            to_string(p.compute_mode), to_string(p.output_padding_rule));
      });

  m.def("parse_problem", [](const std::string& s) {
    const Problem pr = parse_problem(s);
    return py::make_tuple(pr.params, pr.mb, pr.ih, pr.iw);
  });

  m.def("_implementations", [] {
    py::list out;
    for (const Implementation& i : registry().all()) {
      py::dict d;
      d["name"] = i.name;
      d["description"] = i.description;
      d["pass"] = std::string(to_string(i.pass));
      d["input"] = std::string(to_string(i.input));
      d["output"] = std::string(to_string(i.output));
      d["exact"] = i.exact;
      out.append(d);
    }
    return out;
  });

  // Test hook: how many borrowed numpy buffers have been copied (copy-on-write) so far.
  m.def("_view_copies", [] { return storage_view_copies().load(); });

  m.def("_integer_range", [](const Params& p, int64_t mb, int64_t ih, int64_t iw,
                             const std::string& dtype, const std::string& pass) {
    const Problem pr{mb, ih, iw, p};
    validate(pr);
    return integer_range(pr, significand_bits(parse_dtype(dtype)), parse_pass(pass, "pass_"));
  });

  m.def(
      "_make_case",
      [](const Params& p, int64_t mb, int64_t ih, int64_t iw, const std::string& dtype,
         const std::string& regime, uint64_t seed, const std::string& pass) {
        const Problem pr{mb, ih, iw, p};
        validate(pr);
        Case c = make_case(pr, parse_dtype(dtype), parse_regime(regime), seed,
                           parse_pass(pass, "pass_"));
        py::dict d;
        d["x"] = reads_x(c.pass) ? py::object(to_numpy(std::move(c.x))) : py::none();
        d["w"] = reads_w(c.pass) ? py::object(to_numpy(std::move(c.w))) : py::none();
        d["b"] = c.b ? py::object(to_numpy(std::move(*c.b))) : py::none();
        d["dy"] = c.dy ? py::object(to_numpy(std::move(*c.dy))) : py::none();
        return d;
      },
      "The data of `convt2d gen` for this problem, dtype, regime, seed and pass (core/fill.h).");

  m.def(
      "_run",
      [](const std::string& impl_name, const std::string& pass, const Params& params,
         const py::object& x, const py::object& w, const py::object& b, const py::object& dy,
         int64_t max_bytes) {
        const Pass ps = parse_pass(pass, "pass_");
        // An unknown name fails before the tensors are looked at, as in `convt2d run`.
        if (!impl_name.empty()) registry().get(impl_name, ps);
        const Case c = make_py_case(pass, params, x, w, b, dy, max_bytes);
        check_problem_bytes(c.problem, max_bytes, "max_bytes");
        const Implementation& impl = registry().get(
            impl_name.empty() ? default_implementation(c.dtype(), params.compute_mode) : impl_name,
            ps);
        if (c.dtype() != impl.input) {
          std::vector<std::string> fitting;
          for (const Implementation& i : registry().all()) {
            if (i.input == c.dtype() && i.pass == ps) fitting.push_back(i.name);
          }
          throw Error("impl", fmt::format("impl {} takes {} inputs, but the tensors hold {} (use "
                                          "one of: {})",
                                          impl.name, to_string(impl.input), to_string(c.dtype()),
                                          fmt::join(fitting, ", ")));
        }
        if (impl.working_bytes && impl.working_bytes(c.problem) > max_bytes) {
          throw Error("max_bytes", fmt::format("impl {} needs {} bytes of working memory for {}, "
                                               "more than max_bytes {}",
                                               impl.name, impl.working_bytes(c.problem),
                                               format_problem(c.problem), max_bytes));
        }
        AnyTensor y;
        {
          py::gil_scoped_release unlocked;
          y = invoke(impl, c.problem.params, c.operands());
        }
        return to_numpy(std::move(y));
      },
      py::arg("impl"), py::arg("pass_"), py::arg("params"), py::arg("x"), py::arg("w"),
      py::arg("b"), py::arg("dy"), py::arg("max_bytes"));

  m.def(
      "_exact",
      [](const std::string& pass, const Params& params, const py::object& x, const py::object& w,
         const py::object& b, const py::object& dy, int64_t max_bytes) {
        const Case c = make_py_case(pass, params, x, w, b, dy, max_bytes);
        check_truth_bytes(c.problem, max_bytes, c.pass, "max_bytes");
        Truth t;
        {
          py::gil_scoped_release unlocked;
          t = compute_truth(c);
        }
        return py::make_tuple(to_numpy(std::move(t.expected_hi)),
                              to_numpy(std::move(t.expected_lo)));
      },
      py::arg("pass_"), py::arg("params"), py::arg("x"), py::arg("w"), py::arg("b"), py::arg("dy"),
      py::arg("max_bytes"));

  py::class_<ElementReport>(m, "Element", "One element of a result, located and measured.")
      .def_property_readonly("index", [](const ElementReport& e) { return to_tuple(e.index); })
      .def_readonly("expected", &ElementReport::expected)
      .def_readonly("actual", &ElementReport::actual)
      .def_readonly("abs_err", &ElementReport::abs_err)
      .def_readonly("bound", &ElementReport::bound)
      .def_readonly("ulps", &ElementReport::ulps)
      .def_readonly("expected_text", &ElementReport::expected_text)
      .def("__repr__", [](const ElementReport& e) {
        return fmt::format(
            "convt2d.Element(index={}, expected={}, actual={}, abs_err={}, "
            "bound={}, ulps={})",
            format_shape(e.index), e.expected, e.actual, e.abs_err, e.bound, e.ulps);
      });

  py::class_<PyReport>(m, "Report", R"(The verdict of convt2d.check and its evidence.

str(report) is the text `convt2d check` prints for the same case and candidate.)")
      .def_property_readonly("passed", [](const PyReport& r) { return r.result.report.passed(); })
      .def_property_readonly("suspicious",
                             [](const PyReport& r) { return r.result.report.suspicious; })
      .def_property_readonly(
          "pass_", [](const PyReport& r) { return std::string(to_string(r.result.report.pass)); })
      .def_property_readonly("shape_ok", [](const PyReport& r) { return r.result.report.shape_ok; })
      .def_property_readonly(
          "expected_shape",
          [](const PyReport& r) { return to_tuple(r.result.report.expected_shape); })
      .def_property_readonly(
          "actual_shape", [](const PyReport& r) { return to_tuple(r.result.report.actual_shape); })
      .def_property_readonly(
          "dtype",
          [](const PyReport& r) { return std::string(to_string(r.result.report.claimed)); })
      .def_property_readonly("compute_mode",
                             [](const PyReport& r) -> py::object {
                               if (!r.result.report.mode) return py::none();
                               return py::str(std::string(to_string(*r.result.report.mode)));
                             })
      .def_property_readonly("elements", [](const PyReport& r) { return r.result.report.elements; })
      .def_property_readonly("over_bound",
                             [](const PyReport& r) { return r.result.report.over_bound; })
      .def_property_readonly("nonfinite_mismatches",
                             [](const PyReport& r) { return r.result.report.nonfinite_mismatches; })
      .def_property_readonly("overflow_mismatches",
                             [](const PyReport& r) { return r.result.report.overflow_mismatches; })
      .def_property_readonly("out_of_range",
                             [](const PyReport& r) { return r.result.report.out_of_range; })
      .def_property_readonly("vacuous_bound",
                             [](const PyReport& r) { return r.result.report.vacuous_bound; })
      .def_property_readonly("max_err_over_bound",
                             [](const PyReport& r) { return r.result.report.max_err_over_bound; })
      .def_property_readonly("worst",
                             [](const PyReport& r) { return element(r.result.report.worst); })
      .def_property_readonly(
          "first_nonfinite",
          [](const PyReport& r) { return element(r.result.report.first_nonfinite); })
      .def_property_readonly(
          "first_overflow",
          [](const PyReport& r) { return element(r.result.report.first_overflow); })
      .def_property_readonly(
          "first_out_of_range",
          [](const PyReport& r) { return element(r.result.report.first_out_of_range); })
      .def_property_readonly("over_band",
                             [](const PyReport& r) { return r.result.report.over_band; })
      .def_property_readonly("max_err_over_band",
                             [](const PyReport& r) { return r.result.report.max_err_over_band; })
      // Views of the report's own arrays (read-only; they keep the report alive).
      .def_property_readonly("bound",
                             [](py::object self) {
                               const auto& t = self.cast<const PyReport&>().result.bound;
                               py::array a(std::vector<py::ssize_t>(t.shape.begin(), t.shape.end()),
                                           t.ptr(), self);
                               a.attr("setflags")(py::arg("write") = false);
                               return a;
                             })
      .def_property_readonly("band",
                             [](py::object self) {
                               const auto& t = self.cast<const PyReport&>().result.band;
                               py::array a(std::vector<py::ssize_t>(t.shape.begin(), t.shape.end()),
                                           t.ptr(), self);
                               a.attr("setflags")(py::arg("write") = false);
                               return a;
                             })
      .def(
          "json", [](const PyReport& r) { return report_json(r.result.report); },
          "The report as `convt2d check --json` prints it.")
      .def("__str__", [](const PyReport& r) { return format_report(r.result.report); })
      .def("__repr__", [](const PyReport& r) {
        const Report& rep = r.result.report;
        return fmt::format("<convt2d.Report {} max_err_over_bound={}>",
                           rep.passed() ? (rep.suspicious ? "PASS (suspicious)" : "PASS") : "FAIL",
                           rep.max_err_over_bound);
      });

  m.def(
      "_check",
      [](const py::object& candidate, const std::string& pass, const Params& params,
         const py::object& x, const py::object& w, const py::object& b, const py::object& dy,
         const std::string& dtype, const std::string& compute_mode, double lambda,
         int64_t max_bytes) {
        CheckClaim claim;
        if (!dtype.empty()) claim.dtype = parse_dtype(dtype, "dtype");
        if (!compute_mode.empty()) claim.compute_mode = parse_compute_mode(compute_mode);
        claim.lambda = lambda;
        claim.max_bytes = max_bytes;
        claim.dtype_option = "dtype=";
        claim.lambda_option = "lambda_";
        claim.max_bytes_option = "max_bytes";
        validate_claim(claim);
        const Case c = make_py_case(pass, params, x, w, b, dy, max_bytes);
        check_truth_bytes(c.problem, max_bytes, c.pass, "max_bytes");
        const AnyTensor cand = to_tensor(candidate, "candidate");
        check_tensor_bytes(shape_of(cand), dtype_of(cand), max_bytes, "candidate", "max_bytes");
        auto r = std::make_unique<PyReport>();
        {
          py::gil_scoped_release unlocked;
          r->result = check_candidate(c, cand, claim);
        }
        return r;
      },
      py::arg("candidate"), py::arg("pass_"), py::arg("params"), py::arg("x"), py::arg("w"),
      py::arg("b"), py::arg("dy"), py::arg("dtype"), py::arg("compute_mode"), py::arg("lambda_"),
      py::arg("max_bytes"));

  m.attr("DEFAULT_MAX_BYTES") = kDefaultMaxBytes;
  m.attr("DEFAULT_LAMBDA") = kDefaultLambda;
}

#include "convt2d/implementations.h"

#include <limits>
#include <type_traits>

#include "convt2d/backward.h"
#include "convt2d/checked.h"
#include "convt2d/error.h"
#include "convt2d/reference.h"
#ifdef CONVT2D_HAVE_OPTIMIZED
#include <memory>

#include "convt2d/optimized.h"
#include "convt2d/optimized_backward.h"
#endif

namespace convt2d {
namespace {

// x, w and b of an implementation that reads T; an Error naming the implementation and the
// dtypes (not std::bad_variant_access) when a caller passes another dtype.
template <class T>
struct Inputs {
  const Tensor<T>& x;
  const Tensor<T>& w;
  const Tensor<T>* b;
};
template <class T>
Inputs<T> inputs(const std::string& name, const AnyTensor& x, const AnyTensor& w,
                 const AnyTensor* b) {
  return {tensor_as<T>(x, name + " input x"), tensor_as<T>(w, name + " weight"),
          b ? &tensor_as<T>(*b, name + " bias") : nullptr};
}

// The operands of a pass, as tensors of T; an Error naming the implementation and the dtypes
// when one holds another dtype.
template <class T>
struct Typed {
  const Tensor<T>* x = nullptr;
  const Tensor<T>* w = nullptr;
  const Tensor<T>* b = nullptr;
  const Tensor<T>* dy = nullptr;
};
template <class T>
Typed<T> typed(const std::string& name, const Operands& o) {
  const auto as = [&](const AnyTensor* t, const char* what) {
    return t ? &tensor_as<T>(*t, name + " " + what) : nullptr;
  };
  return {as(o.x, "input x"), as(o.w, "weight"), as(o.b, "bias"), as(o.dy, "dy")};
}

// The working memory of a reference instantiation: its result in the accumulator type, before it
// is rounded to the output (for Exact: the fixed-point sums and their 640-bit values, at most
// kExactBytesPerElement per element), and 1 KiB for shapes and validation messages.
template <class Acc>
std::function<int64_t(const Problem&)> accumulator_bytes(Pass pass) {
  return [pass](const Problem& pr) {
    const int64_t per_element =
        std::is_same_v<Acc, Exact> ? kExactBytesPerElement : static_cast<int64_t>(sizeof(Acc));
    const int64_t bytes = checked_mul(element_count(result_shape(pr, pass), "result"), per_element,
                                      "working memory: accumulators");
    return checked_add(bytes, 1024, "working memory: accumulators");
  };
}

// " (bwd_data)" and the like: descriptions name the backward passes.
std::string pass_note(Pass pass) {
  return pass == Pass::kForward ? "" : " (" + std::string(to_string(pass)) + ")";
}

// Wraps a reference instantiation: T in, Acc accumulator, Out out; the forward pass through
// `run`, a backward pass through `run_pass`.
template <class T, class Acc, class Out>
Implementation reference_impl(std::string name, std::string description, Precision acc,
                              double output_u, bool exact = false, Pass pass = Pass::kForward) {
  Implementation impl;
  impl.name = std::move(name);
  impl.description = std::move(description) + pass_note(pass);
  impl.pass = pass;
  impl.input = dtype_v<T>;
  impl.output = dtype_v<Out>;
  impl.accumulation = acc;
  impl.output_u = output_u;
  impl.exact = exact;
  if (pass == Pass::kForward) {
    impl.run = [name = impl.name](const Params& p, const AnyTensor& x, const AnyTensor& w,
                                  const AnyTensor* b) -> AnyTensor {
      const Inputs<T> in = inputs<T>(name, x, w, b);
      return round_to<Out>(conv_transpose2d<T, Acc>(p, in.x, in.w, in.b));
    };
  } else {
    impl.run_pass = [name = impl.name, pass](const Params& p, const Operands& o) -> AnyTensor {
      const Typed<T> t = typed<T>(name, o);
      return round_to<Out>(conv_transpose2d_pass<T, Acc>(pass, p, t.x, t.w, t.b, t.dy));
    };
  }
  impl.working_bytes = accumulator_bytes<Acc>(pass);
  return impl;
}

// A float16/bfloat16 reference in MegEngine's order: accumulate in Acc (T: the `default`
// compute_mode; float: `float32`), round to T, add the bias in T (the forward pass).
template <class T, class Acc>
Implementation half_reference_impl(std::string name, std::string description,
                                   Pass pass = Pass::kForward) {
  Implementation impl;
  impl.name = std::move(name);
  impl.description = std::move(description) + pass_note(pass);
  impl.pass = pass;
  impl.input = impl.output = dtype_v<T>;
  if constexpr (std::is_same_v<Acc, T>) {
    // Every product and sum rounded to T, the bias added last: the standard bound in T, tighter
    // than what a `default` claim allows in general (claimed_arithmetic).
    impl.accumulation = precision_of(dtype_v<T>);
  } else {
    set_arithmetic(impl, claimed_arithmetic(dtype_v<T>, ComputeMode::kFloat32));
  }
  if (pass == Pass::kForward) {
    impl.run = [name = impl.name](const Params& p, const AnyTensor& x, const AnyTensor& w,
                                  const AnyTensor* b) -> AnyTensor {
      const Inputs<T> in = inputs<T>(name, x, w, b);
      return conv_transpose2d_rounded<T, Acc>(p, in.x, in.w, in.b);
    };
  } else {
    impl.run_pass = [name = impl.name, pass](const Params& p, const Operands& o) -> AnyTensor {
      const Typed<T> t = typed<T>(name, o);
      return conv_transpose2d_pass_rounded<T, Acc>(pass, p, t.x, t.w, t.b, t.dy);
    };
  }
  impl.working_bytes = accumulator_bytes<Acc>(pass);
  return impl;
}

// long double: u from its own epsilon (2^-64 on x86-64); its subnormals are far below double's,
// so double's smallest subnormal over-estimates eta.
constexpr Precision kLongDoublePrecision{std::numeric_limits<long double>::epsilon() / 2,
                                         0x1p-1074};
// The 640-bit accumulator rounds with u = 2^-640, which is 0 in double; 2^-1000 stands in for it
// as an over-estimate (it is exact for float32 inputs, where no sum rounds at all).
constexpr Precision kExactPrecision{0x1p-1000, 0x1p-1074};

#ifdef CONVT2D_HAVE_OPTIMIZED
// The optimized kernels for one ISA.
Implementation optimized_impl(std::string name, optimized::Isa isa,
                              optimized::Path path = optimized::Path::kAuto) {
  Implementation impl;
  impl.name = std::move(name);
  impl.description =
      "stride-phase register-tiled kernels, " + optimized::to_string(isa) +
      (path == optimized::Path::kAuto ? "" : ", " + optimized::to_string(path) + " path only") +
      ", float32 in, float32 accumulator, float32 out";
  impl.input = DType::kFloat32;
  impl.output = DType::kFloat32;
  impl.accumulation = kFloat32Precision;
  impl.vector_isa = optimized::to_string(isa);
  impl.run = [isa, path, name = impl.name](const Params& p, const AnyTensor& x, const AnyTensor& w,
                                           const AnyTensor* b) -> AnyTensor {
    const Inputs<float> in = inputs<float>(name, x, w, b);
    return optimized::conv_transpose2d(p, in.x, in.w, in.b, 0, isa, path);
  };
  impl.prepare = [isa, path, name = impl.name](const Params& p, const AnyTensor& w,
                                               const AnyTensor* b, int threads) -> Prepared {
    // Packing happens at the first load() of an input size (the automatic algorithm choice
    // depends on it), outside the timing; execute() runs on preallocated x and y.
    struct State {
      Params p;
      Tensor<float> w;
      std::optional<Tensor<float>> b;
      std::optional<optimized::PackedWeights> packed;
      Tensor<float> x, y;
    };
    auto s = std::make_shared<State>();
    s->p = p;
    s->w = tensor_as<float>(w, name + " weight");
    if (b != nullptr) s->b = tensor_as<float>(*b, name + " bias");
    // Packed now (errors surface at prepare time) for the choice the parameters alone make;
    // load() packs again only when the input size makes auto choose the other algorithm.
    s->packed = optimized::pack(p, s->w, isa, path);
    Prepared r;
    r.load = [s, isa, path, name](const AnyTensor& x) {
      s->x = tensor_as<float>(x, name + " input x");
      const Shape ws = weight_shape(s->p);
      const Shape bs = bias_shape(s->p);
      const Problem pr = problem_from_shapes(s->p, s->x.shape, ws, s->b ? &s->b->shape : &bs);
      const optimized::Path want =
          path == optimized::Path::kAuto ? optimized::auto_path(pr, isa) : path;
      if (s->packed->path() != want) s->packed = optimized::pack(s->p, s->w, isa, want);
      s->y = Tensor<float>(output_shape(pr));
    };
    r.execute = [s, threads] {
      optimized::run_into(*s->packed, s->x, s->b ? &*s->b : nullptr, s->y, threads);
    };
    r.store = [s]() -> AnyTensor { return s->y; };
    return r;
  };
  impl.working_bytes = [isa, path](const Problem& pr) {
    return optimized::working_bytes(pr, isa, path);
  };
  return impl;
}

// float16 / bfloat16 through the optimized float32 kernels: compute_mode float32 semantics.
template <class H>
Implementation optimized_half_impl(std::string name, optimized::Isa isa) {
  Implementation impl;
  impl.name = std::move(name);
  impl.description = std::string("optimized kernels (") + optimized::to_string(isa) + "), " +
                     std::string(to_string(dtype_v<H>)) +
                     " in and out, float32 accumulator, bias added after rounding (compute_mode "
                     "float32)";
  impl.input = impl.output = dtype_v<H>;
  impl.vector_isa = optimized::to_string(isa);
  set_arithmetic(impl, claimed_arithmetic(dtype_v<H>, ComputeMode::kFloat32));
  impl.run = [isa, name = impl.name](const Params& p, const AnyTensor& x, const AnyTensor& w,
                                     const AnyTensor* b) -> AnyTensor {
    const Inputs<H> in = inputs<H>(name, x, w, b);
    return optimized::conv_transpose2d(p, in.x, in.w, in.b, 0, isa);
  };
  impl.working_bytes = [isa](const Problem& pr) { return optimized::working_bytes_half(pr, isa); };
  return impl;
}

// The operand `t` of a backward pass as float32, or an Error naming it when it is missing.
const Tensor<float>& operand(const AnyTensor* t, const char* role, const std::string& name,
                             Pass pass) {
  if (t == nullptr) {
    throw Error(role, std::string(role) + ": implementation '" + name + "' of the " +
                          std::string(to_string(pass)) + " pass reads " + role +
                          ", but none was given");
  }
  return tensor_as<float>(*t, name + " " + role);
}

// The optimized backward kernels (convt2d/optimized_backward.h) of `pass` for one ISA.
Implementation optimized_bwd_impl(std::string name, optimized::Isa isa, Pass pass,
                                  optimized::BwdAlgo algo = optimized::BwdAlgo::kAuto) {
  Implementation impl;
  impl.name = std::move(name);
  impl.pass = pass;
  const char* kind = algo == optimized::BwdAlgo::kAuto     ? "column-phase direct or GEMM"
                     : algo == optimized::BwdAlgo::kDirect ? "column-phase direct"
                     : algo == optimized::BwdAlgo::kGemm   ? "packed GEMM"
                                                           : "pixel-major GEMM";
  impl.description = std::string(kind) + " register-tiled kernels, " + optimized::to_string(isa) +
                     ", float32 in, float32 accumulator, float32 out" + pass_note(pass);
  impl.input = impl.output = DType::kFloat32;
  impl.vector_isa = optimized::to_string(isa);
  set_arithmetic(impl, claimed_arithmetic(DType::kFloat32, ComputeMode::kDefault));
  if (pass == Pass::kBwdData) {
    impl.run_pass = [isa, algo, name = impl.name](const Params& p, const Operands& o) -> AnyTensor {
      return optimized::conv_transpose2d_bwd_data(p, operand(o.dy, "dy", name, Pass::kBwdData),
                                                  operand(o.w, "weight", name, Pass::kBwdData), 0,
                                                  isa, algo);
    };
    impl.working_bytes = [isa](const Problem& pr) {
      return optimized::bwd_data_working_bytes(pr, isa);
    };
    // The weights packed and dx allocated once, untimed; execute() is the kernels alone.
    impl.prepare_pass = [isa, algo, name = impl.name](const Params& p, const Operands& o,
                                                      int threads) -> Prepared {
      struct State {
        optimized::BwdDataWeights packed;
        Tensor<float> dy, dx;
      };
      auto s = std::make_shared<State>(
          State{optimized::pack_bwd_data(p, operand(o.w, "weight", name, Pass::kBwdData), isa),
                operand(o.dy, "dy", name, Pass::kBwdData),
                {}});
      s->dx = Tensor<float>(input_shape(problem_from_output(p, s->dy.shape)));
      Prepared r;
      r.execute = [s, threads, algo] {
        optimized::run_bwd_data_into(s->packed, s->dy, s->dx, threads, algo);
      };
      r.store = [s]() -> AnyTensor { return s->dx; };
      return r;
    };
  } else {
    impl.run_pass = [isa, algo, name = impl.name](const Params& p, const Operands& o) -> AnyTensor {
      return optimized::conv_transpose2d_bwd_weights(
          p, operand(o.x, "input", name, Pass::kBwdWeights),
          operand(o.dy, "dy", name, Pass::kBwdWeights), 0, isa, algo);
    };
    impl.working_bytes = [isa](const Problem& pr) {
      return optimized::bwd_weights_working_bytes(pr, isa);
    };
    // dw allocated once; execute() is the kernels (and dy's column-phase copy for sw > 1).
    impl.prepare_pass = [isa, algo, name = impl.name](const Params& p, const Operands& o,
                                                      int threads) -> Prepared {
      struct State {
        Params p;
        Tensor<float> x, dy, dw;
      };
      auto s = std::make_shared<State>(State{p, operand(o.x, "input", name, Pass::kBwdWeights),
                                             operand(o.dy, "dy", name, Pass::kBwdWeights),
                                             Tensor<float>(weight_shape(p))});
      Prepared r;
      r.execute = [s, threads, isa, algo] {
        optimized::bwd_weights_into(s->p, s->x, s->dy, s->dw, threads, isa, algo);
      };
      r.store = [s]() -> AnyTensor { return s->dw; };
      return r;
    };
  }
  return impl;
}
#endif

}  // namespace

// The literal references of one pass (registry order: the forward pass's first).
void add_references(Registry& r, Pass pass) {
  r.add(reference_impl<float, long double, double>(
      "reference", "literal loops, float32 in, long double accumulator, float64 out",
      kLongDoublePrecision, 0x1p-53, false, pass));
  r.add(reference_impl<float, float, float>(
      "reference-f32", "literal loops, float32 in, float32 accumulator, float32 out",
      kFloat32Precision, 0.0, false, pass));
  r.add(reference_impl<float, double, double>(
      "reference-double", "literal loops, float32 in, double accumulator, float64 out",
      kFloat64Precision, 0.0, false, pass));
  r.add(reference_impl<float, Exact, double>(
      "reference-mp", "literal loops, float32 in, exact 640-bit accumulator, float64 out",
      kExactPrecision, 0x1p-53, /*exact=*/true, pass));
  // float64 inputs: a sum of products can lie below double's normal range, where the rounding
  // to the float64 output has an absolute error up to 2^-1075 (float32 and half inputs: every
  // nonzero sum is a multiple of 2^-298 at least, far above it).
  Implementation f64 = reference_impl<double, long double, double>(
      "reference-f64", "literal loops, float64 in, long double accumulator, float64 out",
      kLongDoublePrecision, 0x1p-53, false, pass);
  f64.output_eta = 0x1p-1074;
  r.add(std::move(f64));
  Implementation f64_mp = reference_impl<double, Exact, double>(
      "reference-f64-mp", "literal loops, float64 in, 640-bit accumulator, float64 out",
      kExactPrecision, 0x1p-53, /*exact=*/true, pass);
  f64_mp.output_eta = 0x1p-1074;
  r.add(std::move(f64_mp));
  // float16 and bfloat16 in MegEngine's two compute modes, and their exact results.
  r.add(half_reference_impl<float16, float16>(
      "reference-f16",
      "literal loops, float16 in and out, float16 accumulator (compute_mode default)", pass));
  r.add(half_reference_impl<float16, float>(
      "reference-f16-f32acc",
      "literal loops, float16 in and out, float32 accumulator (compute_mode float32)", pass));
  r.add(reference_impl<float16, Exact, double>(
      "reference-f16-mp", "literal loops, float16 in, exact 640-bit accumulator, float64 out",
      kExactPrecision, 0x1p-53, /*exact=*/true, pass));
  r.add(half_reference_impl<bfloat16, bfloat16>(
      "reference-bf16",
      "literal loops, bfloat16 in and out, bfloat16 accumulator (compute_mode default)", pass));
  r.add(half_reference_impl<bfloat16, float>(
      "reference-bf16-f32acc",
      "literal loops, bfloat16 in and out, float32 accumulator (compute_mode float32)", pass));
  r.add(reference_impl<bfloat16, Exact, double>(
      "reference-bf16-mp", "literal loops, bfloat16 in, exact 640-bit accumulator, float64 out",
      kExactPrecision, 0x1p-53, /*exact=*/true, pass));
}

Registry builtin_registry() {
  Registry r;
  add_references(r, Pass::kForward);
#ifdef CONVT2D_HAVE_OPTIMIZED
  // The best ISA this CPU runs, then each lower one it runs, so that every consumer of the
  // registry (verify, properties, the differential fuzzer) exercises every kernel set.
  const optimized::Isa best = optimized::detected_isa();
  r.add(optimized_impl("optimized", best));
  // Each algorithm forced, so that small random problems (which auto sends down the direct path)
  // exercise the phase GEMM and the weight stream too.
  r.add(optimized_impl("optimized-direct", best, optimized::Path::kDirect));
  r.add(optimized_impl("optimized-gemm", best, optimized::Path::kGemm));
  r.add(optimized_impl("optimized-stream", best, optimized::Path::kStream));
  r.add(optimized_half_impl<float16>("optimized-f16", best));
  r.add(optimized_half_impl<bfloat16>("optimized-bf16", best));
  for (optimized::Isa isa : {optimized::Isa::kAvx2, optimized::Isa::kScalar}) {
    if (isa < best && optimized::cpu_supports(isa)) {
      r.add(optimized_impl("optimized-" + optimized::to_string(isa), isa));
    }
  }
#endif
  // The backward passes (convt2d/backward.h) of the references, under the same names.
  for (Pass pass : {Pass::kBwdData, Pass::kBwdWeights, Pass::kBwdBias}) add_references(r, pass);
#ifdef CONVT2D_HAVE_OPTIMIZED
  // The optimized backward kernels under the forward entries' names, with the same ISA rule.
  for (Pass pass : {Pass::kBwdData, Pass::kBwdWeights}) {
    r.add(optimized_bwd_impl("optimized", best, pass));
    // Each algorithm alone, as the forward pass's optimized-direct / optimized-gemm.
    r.add(optimized_bwd_impl("optimized-direct", best, pass, optimized::BwdAlgo::kDirect));
    r.add(optimized_bwd_impl("optimized-gemm", best, pass, optimized::BwdAlgo::kGemm));
    if (pass == Pass::kBwdWeights) {
      r.add(optimized_bwd_impl("optimized-pixel-gemm", best, pass, optimized::BwdAlgo::kPixelGemm));
    }
    for (optimized::Isa isa : {optimized::Isa::kAvx2, optimized::Isa::kScalar}) {
      if (isa < best && optimized::cpu_supports(isa)) {
        r.add(optimized_bwd_impl("optimized-" + optimized::to_string(isa), isa, pass));
      }
    }
  }
#endif
  return r;
}

std::string default_implementation(DType dtype, ComputeMode mode) {
  const bool f32acc = mode == ComputeMode::kFloat32;
  switch (dtype) {
    case DType::kFloat32:
      return "reference";
    case DType::kFloat64:
      return "reference-f64";
    case DType::kFloat16:
      return f32acc ? "reference-f16-f32acc" : "reference-f16";
    case DType::kBFloat16:
      return f32acc ? "reference-bf16-f32acc" : "reference-bf16";
  }
  return "reference";
}

}  // namespace convt2d

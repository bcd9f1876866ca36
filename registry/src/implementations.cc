#include "convt2d/implementations.h"

#include <limits>

#include "convt2d/reference.h"
#ifdef CONVT2D_HAVE_OPTIMIZED
#include <memory>

#include "convt2d/optimized.h"
#endif

namespace convt2d {
namespace {

// Wraps a reference instantiation: T in, Acc accumulator, Out out.
template <class T, class Acc, class Out>
Implementation reference_impl(std::string name, std::string description, Precision acc,
                              double output_u, bool exact = false) {
  Implementation impl;
  impl.name = std::move(name);
  impl.description = std::move(description);
  impl.input = std::is_same_v<T, float> ? DType::kFloat32 : DType::kFloat64;
  impl.output = std::is_same_v<Out, float> ? DType::kFloat32 : DType::kFloat64;
  impl.accumulation = acc;
  impl.output_u = output_u;
  impl.exact = exact;
  impl.run = [](const Params& p, const AnyTensor& x, const AnyTensor& w,
                const AnyTensor* b) -> AnyTensor {
    const auto& xt = std::get<Tensor<T>>(x);
    const auto& wt = std::get<Tensor<T>>(w);
    const Tensor<T>* bt = b ? &std::get<Tensor<T>>(*b) : nullptr;
    return round_to<Out>(conv_transpose2d<T, Acc>(p, xt, wt, bt));
  };
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
  impl.run = [isa, path](const Params& p, const AnyTensor& x, const AnyTensor& w,
                         const AnyTensor* b) -> AnyTensor {
    return optimized::conv_transpose2d(p, std::get<Tensor<float>>(x), std::get<Tensor<float>>(w),
                                       b ? &std::get<Tensor<float>>(*b) : nullptr, 0, isa, path);
  };
  impl.prepare = [isa, path](const Params& p, const AnyTensor& w, const AnyTensor* b,
                             int threads) -> Prepared {
    // Packing happens at the first load() of an input size (the automatic algorithm choice
    // depends on it), outside the timing; execute() runs on preallocated x and y.
    struct State {
      Params p;
      Tensor<float> w;
      std::optional<Tensor<float>> b;
      std::optional<optimized::PackedWeights> packed;
      Shape packed_for;
      Tensor<float> x, y;
    };
    auto s = std::make_shared<State>();
    s->p = p;
    s->w = std::get<Tensor<float>>(w);
    if (b != nullptr) s->b = std::get<Tensor<float>>(*b);
    optimized::pack(p, s->w, isa, path);  // validates now: errors surface at prepare time
    Prepared r;
    r.load = [s, isa, path](const AnyTensor& x) {
      s->x = std::get<Tensor<float>>(x);
      const Shape ws = weight_shape(s->p);
      const Shape bs = bias_shape(s->p);
      const Problem pr = problem_from_shapes(s->p, s->x.shape, ws, s->b ? &s->b->shape : &bs);
      if (!s->packed || s->packed_for != s->x.shape) {
        s->packed = optimized::pack(pr, s->w, isa, path);
        s->packed_for = s->x.shape;
      }
      s->y = Tensor<float>(output_shape(pr));
    };
    r.execute = [s, threads] {
      optimized::run_into(*s->packed, s->x, s->b ? &*s->b : nullptr, s->y, threads);
    };
    r.store = [s]() -> AnyTensor { return s->y; };
    return r;
  };
  return impl;
}
#endif

}  // namespace

Registry builtin_registry() {
  Registry r;
  r.add(reference_impl<float, long double, double>(
      "reference", "literal loops, float32 in, long double accumulator, float64 out",
      kLongDoublePrecision, 0x1p-53));
  r.add(reference_impl<float, float, float>(
      "reference-f32", "literal loops, float32 in, float32 accumulator, float32 out",
      kFloat32Precision, 0.0));
  r.add(reference_impl<float, double, double>(
      "reference-double", "literal loops, float32 in, double accumulator, float64 out",
      kFloat64Precision, 0.0));
  r.add(reference_impl<float, Exact, double>(
      "reference-mp", "literal loops, float32 in, exact 640-bit accumulator, float64 out",
      kExactPrecision, 0x1p-53, /*exact=*/true));
  r.add(reference_impl<double, long double, double>(
      "reference-f64", "literal loops, float64 in, long double accumulator, float64 out",
      kLongDoublePrecision, 0x1p-53));
  r.add(reference_impl<double, Exact, double>(
      "reference-f64-mp", "literal loops, float64 in, 640-bit accumulator, float64 out",
      kExactPrecision, 0x1p-53, /*exact=*/true));
#ifdef CONVT2D_HAVE_OPTIMIZED
  // The best ISA this CPU runs, then each lower one it runs, so that every consumer of the
  // registry (verify, properties, the differential fuzzer) exercises every kernel set.
  const optimized::Isa best = optimized::detected_isa();
  r.add(optimized_impl("optimized", best));
  // Each algorithm forced, so that small random problems (which auto sends down the direct path)
  // exercise the phase GEMM too.
  r.add(optimized_impl("optimized-direct", best, optimized::Path::kDirect));
  r.add(optimized_impl("optimized-gemm", best, optimized::Path::kGemm));
  for (optimized::Isa isa : {optimized::Isa::kAvx2, optimized::Isa::kScalar}) {
    if (isa < best && optimized::cpu_supports(isa)) {
      r.add(optimized_impl("optimized-" + optimized::to_string(isa), isa));
    }
  }
#endif
  return r;
}

}  // namespace convt2d

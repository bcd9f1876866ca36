#include "convt2d/optimized.h"

#include <fmt/format.h>

#include "convt2d/error.h"
#include "plan.h"

namespace convt2d::optimized {

std::string to_string(Isa isa) {
  return isa == Isa::kAvx2 ? "avx2" : "scalar";
}

Isa detected_isa() {
  // __builtin_cpu_supports also checks that the OS saves the ymm state (OSXSAVE/XGETBV).
  static const Isa isa =
      __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") ? Isa::kAvx2 : Isa::kScalar;
  return isa;
}

void require_isa(Isa isa) {
  if (isa == Isa::kAvx2 && detected_isa() != Isa::kAvx2) {
    throw Error("isa", "isa: avx2 requested, but this CPU lacks AVX2 or FMA");
  }
}

PackedWeights::PackedWeights(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
PackedWeights::PackedWeights(PackedWeights&&) noexcept = default;
PackedWeights& PackedWeights::operator=(PackedWeights&&) noexcept = default;
PackedWeights::~PackedWeights() = default;

const Params& PackedWeights::params() const {
  return impl_->p;
}
Isa PackedWeights::isa() const {
  return impl_->isa;
}

std::string PackedWeights::kernel_names() const {
  std::vector<std::string> names;
  for (int mr = 1; mr <= kMaxMr; ++mr) {
    for (int nv = 1; nv <= kMaxNv[mr]; ++nv) {
      // Only the channel tiles this packing can use: full blocks and the remainder.
      const int64_t rem = impl_->ocg % kMaxMr;
      if (mr == kMaxMr ? impl_->ocg >= kMaxMr : mr == rem) {
        if (nv == kMaxNv[mr]) names.emplace_back(impl_->kernels->name[mr][nv]);
      }
    }
  }
  return fmt::format("{}", fmt::join(names, ", "));
}

PackedWeights pack(const Params& p, const Tensor<float>& w, Isa isa) {
  require_isa(isa);
  const Shape ws = weight_shape(p);  // validates p
  if (w.shape != ws) {
    throw Error("weight", fmt::format("weight: shape {} does not match the parameters' {}",
                                      format_shape(w.shape), format_shape(ws)));
  }
  return PackedWeights(make_plan(p, w, isa));
}

void run_into(const PackedWeights& packed, const Tensor<float>& x, const Tensor<float>* b,
              Tensor<float>& y, int threads) {
  const Params& p = packed.params();
  const Shape ws = weight_shape(p);
  const Shape bs = bias_shape(p);
  const Problem pr = problem_from_shapes(p, x.shape, ws, b ? &b->shape : &bs);
  if (p.bias && b == nullptr) throw Error("bias", "bias: params.bias is set but no bias was given");
  if (!p.bias && b != nullptr)
    throw Error("bias", "bias: a bias was given but params.bias is false");
  const Shape ys = output_shape(pr);
  if (y.shape != ys) {
    throw Error("output", fmt::format("output: shape {} does not match the expected {}",
                                      format_shape(y.shape), format_shape(ys)));
  }
  execute(packed.impl(), x, b ? b->ptr() : nullptr, y, threads);
}

Tensor<float> run(const PackedWeights& packed, const Tensor<float>& x, const Tensor<float>* b,
                  int threads) {
  const Shape ws = weight_shape(packed.params());
  const Shape bs = bias_shape(packed.params());
  Tensor<float> y(
      output_shape(problem_from_shapes(packed.params(), x.shape, ws, b ? &b->shape : &bs)));
  run_into(packed, x, b, y, threads);
  return y;
}

Tensor<float> conv_transpose2d(const Params& p, const Tensor<float>& x, const Tensor<float>& w,
                               const Tensor<float>* b, int threads, Isa isa) {
  return run(pack(p, w, isa), x, b, threads);
}

}  // namespace convt2d::optimized

#include "convt2d/optimized.h"

#include <cpuid.h>
#include <fmt/format.h>

#include <algorithm>
#include <cstdlib>
#include <numeric>

#include "aligned.h"
#include "blocking.h"
#include "convt2d/checked.h"
#include "convt2d/error.h"
#include "plan.h"

namespace convt2d::optimized {

std::string to_string(Isa isa) {
  switch (isa) {
    case Isa::kAvx512:
      return "avx512";
    case Isa::kAvx2:
      return "avx2";
    case Isa::kScalar:
      break;
  }
  return "scalar";
}

Isa parse_isa(const std::string& s, const std::string& what) {
  for (Isa i : {Isa::kScalar, Isa::kAvx2, Isa::kAvx512}) {
    if (s == to_string(i)) return i;
  }
  throw Error(what, fmt::format("{}: unknown ISA '{}' (known: scalar, avx2, avx512)", what, s));
}

namespace {

// CPUID leaf 1, ECX bit 29. (clang 14's __builtin_cpu_supports does not know "f16c".)
bool cpu_has_f16c() {
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
  return __get_cpuid(1, &eax, &ebx, &ecx, &edx) != 0 && (ecx & bit_F16C) != 0;
}

}  // namespace

bool cpu_supports(Isa isa) {
  // __builtin_cpu_supports also checks that the OS saves the vector state (OSXSAVE/XGETBV).
  switch (isa) {
    case Isa::kAvx512:
      return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("fma");
    case Isa::kAvx2:
      return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && cpu_has_f16c();
    case Isa::kScalar:
      break;
  }
  return true;
}

Isa detected_isa() {
  static const Isa isa = [] {
    Isa best = cpu_supports(Isa::kAvx512) ? Isa::kAvx512
               : cpu_supports(Isa::kAvx2) ? Isa::kAvx2
                                          : Isa::kScalar;
    if (const char* cap = std::getenv("CONVT2D_ISA"); cap != nullptr && *cap != '\0') {
      best = std::min(best, parse_isa(cap, "CONVT2D_ISA"));
    }
    return best;
  }();
  return isa;
}

const KernelTable& kernel_table(Isa isa) {
  switch (isa) {
    case Isa::kAvx512:
      return avx512_kernels();
    case Isa::kAvx2:
      return avx2_kernels();
    case Isa::kScalar:
      break;
  }
  return scalar_kernels();
}

void require_isa(Isa isa) {
  if (!cpu_supports(isa)) {
    throw Error("isa", fmt::format("isa: {} requested, but this CPU lacks it", to_string(isa)));
  }
}

void release_scratch() {
  for (AlignedVector<float>& b : scratch_buffers()) AlignedVector<float>().swap(b);
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
  const Impl& pl = *impl_;
  if (pl.stream.on) {
    const int64_t nv = std::min(pl.stream.block, pl.stream.ocp) / pl.stream.lanes;
    return pl.kernels->stream_name[kMaxStreamP][nv];
  }
  if (pl.fused) {
    const int p = static_cast<int>(pl.fused_p);
    return pl.kernels->fused_name[p][pl.kernels->fused_nv[p]];
  }
  const int mr = static_cast<int>(std::min(pl.mr_block, pl.ocg));
  return pl.gemm ? pl.kernels->gemm_name[mr][kGemmNv] : pl.kernels->direct_name[mr][kDirectNv[mr]];
}

std::string to_string(Path path) {
  switch (path) {
    case Path::kDirect:
      return "direct";
    case Path::kGemm:
      return "gemm";
    case Path::kStream:
      return "stream";
    case Path::kAuto:
      break;
  }
  return "auto";
}

Path parse_path(const std::string& s, const std::string& what) {
  for (Path p : {Path::kAuto, Path::kDirect, Path::kGemm, Path::kStream}) {
    if (s == to_string(p)) return p;
  }
  throw Error(what,
              fmt::format("{}: unknown path '{}' (known: auto, direct, gemm, stream)", what, s));
}

Path PackedWeights::path() const {
  if (impl_->stream.on) return Path::kStream;
  return impl_->gemm ? Path::kGemm : Path::kDirect;
}

Path auto_path(const Params& params, Isa) {
  validate(params);
  return params.out_channels / params.groups >= blocking::kGemmMinOcg ? Path::kGemm : Path::kDirect;
}

Path auto_path(const Problem& pr, Isa isa) {
  const Pair out = output_size(pr);  // validates
  const Params& p = pr.params;
  const int64_t lanes = isa == Isa::kAvx512 ? 16 : 8;
  // Small inputs: each weight serves at most a few dozen pixels; streaming them once, skipping
  // the taps' cropped pixels, beats the phase GEMM (input_shape() fits: validate() checked it).
  const int64_t ocg = p.out_channels / p.groups;
  if (ocg >= lanes && pr.mb <= kStreamMaxPixels && pr.ih * pr.iw <= kStreamMaxPixels &&
      pr.mb * pr.ih * pr.iw <= kStreamMaxPixels) {
    return Path::kStream;
  }
  if (ocg < blocking::kGemmMinOcg) return Path::kDirect;
  // The widest column phase of an output row: ceil(Wout / sw).
  const int64_t phase_width = (out.w + p.stride.w - 1) / p.stride.w;
  if (phase_width <= lanes) return Path::kGemm;
  // One tap per phase in both dimensions (taps t·d mod s all distinct: k <= s / gcd(d, s)).
  const auto one_tap = [](int64_t k, int64_t s, int64_t d) { return k <= s / std::gcd(d, s); };
  if (isa == Isa::kAvx2 && one_tap(p.kernel_size.h, p.stride.h, p.dilation.h) &&
      one_tap(p.kernel_size.w, p.stride.w, p.dilation.w)) {
    // AVX2's direct tiles of 4 channels × 8-float vectors reread the whole input once per
    // channel block, with no neighbouring tap to share a line it loads; the GEMM packs it once
    // per L1 panel (Zen 5: unet-up 5.95 ms direct vs 3.56 ms GEMM, unet-up-large 21.0 vs 17.1).
    return Path::kGemm;
  }
  return Path::kDirect;
}

PackedWeights pack(const Problem& pr, const Tensor<float>& w, Isa isa, Path path) {
  return pack(pr.params, w, isa, path == Path::kAuto ? auto_path(pr, isa) : path);
}

PackedWeights pack(const Params& p, const Tensor<float>& w, Isa isa, Path path) {
  require_isa(isa);
  check_weight_shape(p, w.shape);  // validates p
  return PackedWeights(make_plan(p, w, isa, path == Path::kAuto ? auto_path(p, isa) : path));
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

namespace {

// Shapes, validation messages and the other small allocations of a call, beyond its buffers.
constexpr int64_t kBookkeepingBytes = 1024;

}  // namespace

int64_t working_bytes(const Problem& pr, Isa isa, Path path, int threads) {
  validate(pr);
  const std::unique_ptr<PackedWeights::Impl> pl =
      plan_skeleton(pr.params, isa, path == Path::kAuto ? auto_path(pr, isa) : path);
  const Shape x = input_shape(pr), y = output_shape(pr);
  const int64_t plan = plan_bytes(*pl);
  // The weights' values choose between layouts of the same plan: the fused-phase tiles for
  // finite weights where they apply, else the direct tiles, whose stride-2 kernels need finite
  // weights too. The largest of them.
  int64_t run = run_bytes(*pl, x, y, threads);
  if (!pl->gemm) {
    pl->fused = false;
    run = std::max(run, run_bytes(*pl, x, y, threads));
    pl->weights_finite = false;
    run = std::max(run, run_bytes(*pl, x, y, threads));
  }
  return checked_add(checked_add(plan, run, "working memory"), kBookkeepingBytes, "working memory");
}

int64_t working_bytes_half(const Problem& pr, Isa isa, int threads) {
  validate(pr);
  // The float32 copies of x and w, the float32 result, and the float32 call without the bias.
  Problem no_bias = pr;
  no_bias.params.bias = false;
  int64_t bytes = working_bytes(no_bias, isa, Path::kAuto, threads);
  for (const Shape& s : {input_shape(pr), weight_shape(pr.params), output_shape(pr)}) {
    bytes =
        checked_add(bytes, checked_mul(element_count(s), 4, "working memory"), "working memory");
  }
  return bytes;
}

Tensor<float> conv_transpose2d(const Params& p, const Tensor<float>& x, const Tensor<float>& w,
                               const Tensor<float>* b, int threads, Isa isa, Path path) {
  const Shape ws = weight_shape(p);
  const Shape bs = bias_shape(p);
  const Problem pr = problem_from_shapes(p, x.shape, ws, b ? &b->shape : &bs);
  return run(pack(pr, w, isa, path), x, b, threads);
}

}  // namespace convt2d::optimized

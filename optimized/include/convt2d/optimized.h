#pragma once
/// \file
/// The optimized float32 ConvTranspose2d for x86-64: AVX2 + FMA kernels, AVX-512F kernels where
/// the CPU has them (twice the registers and width), and a portable scalar fallback, chosen at
/// run time. Every valid parameter set runs through the stride-phase decomposition: output row
/// y, column x belong to phase ((y + ph) mod sh, (x + pw) mod sw), which only the taps with
/// fh·dh ≡ ry (mod sh), fw·dw ≡ rx (mod sw) reach; each phase is a dense stride-1 correlation
/// (no multiplications by inserted zeros, no column buffer, no col2im).

#include <cstdint>
#include <memory>
#include <string>

#include "convt2d/half.h"
#include "convt2d/params.h"
#include "convt2d/tensor.h"

namespace convt2d::optimized {

/// Instruction sets the kernels exist for, in increasing order of preference.
enum class Isa { kScalar, kAvx2, kAvx512 };

/// "scalar" / "avx2" / "avx512".
std::string to_string(Isa isa);
/// Parses those names; anything else is an Error naming `what`.
Isa parse_isa(const std::string& s, const std::string& what = "isa");
/// Whether this CPU (and OS) runs `isa`: AVX2 needs AVX2 + FMA + F16C, AVX-512 needs AVX-512F +
/// FMA.
bool cpu_supports(Isa isa);
/// The best ISA this CPU runs. The environment variable CONVT2D_ISA (scalar, avx2, avx512) caps
/// it, e.g. to run the AVX2 kernels on an AVX-512 machine.
Isa detected_isa();
/// Nothing if this CPU runs `isa`, else Error naming "isa".
void require_isa(Isa isa);

/// The algorithms (see README): the phase GEMM over packed input tiles, the direct tiles that
/// read the zero-padded input in place, or the weight stream for tiny inputs (a 1x1 or 2x2
/// latent: the weights packed per tap as [input channel][output channel] panels that run()
/// reads once, front to back, each feeding the few input pixels, the results added into the
/// output where each tap puts them). All give results within the certified bound for every
/// parameter set; forcing one is for tests and benchmarks. kAuto: see auto_path().
enum class Path { kAuto, kDirect, kGemm, kStream };

/// "auto" / "direct" / "gemm" / "stream".
std::string to_string(Path path);
/// Parses those names; anything else is an Error naming `what`.
Path parse_path(const std::string& s, const std::string& what = "path");

/// Most input pixels (N·H·W) for which kAuto takes the weight stream: measured faster than the
/// phase GEMM up to 32 (dcgan-2's 16 pixels: 0.29 vs 0.44 ms on AVX-512, 0.64 vs 1.14 ms on
/// AVX2; two of its images, 32 pixels: 0.57 vs 0.86 ms), even at 48 (pose-head: 4.33 vs 4.24 ms),
/// slower at 64 (dcgan-3: 0.51 vs 0.37 ms).
inline constexpr int64_t kStreamMaxPixels = 32;

/// What kAuto chooses. Knowing the input size (`pr`): the weight stream for at most
/// kStreamMaxPixels input pixels (N·H·W) and at least one vector of `isa` of output channels
/// per group; else the GEMM for at least 32 output channels per group when a column phase of
/// an output row fits in one vector of `isa` (small images, where direct tiles would be mostly
/// empty) or, on AVX2, when every phase has one tap (kernel no larger than the stride, as in
/// unet-up's kh2sh2); the direct path otherwise. Without it (`params` only): the GEMM from 32
/// output channels per group.
Path auto_path(const Problem& pr, Isa isa);
Path auto_path(const Params& params, Isa isa);

/// Weights packed once for one parameter set and ISA, in the order the micro-kernels read them;
/// run() takes them any number of times. Immutable after pack(), so safe to share across threads.
class PackedWeights {
 public:
  PackedWeights(PackedWeights&&) noexcept;
  PackedWeights& operator=(PackedWeights&&) noexcept;
  ~PackedWeights();

  const Params& params() const;
  Isa isa() const;
  /// The algorithm chosen (never kAuto).
  Path path() const;
  /// The widest micro-kernel this packing uses, e.g. "convt2d_f32_gemm_4x24__avx2".
  std::string kernel_names() const;

  struct Impl;
  const Impl& impl() const { return *impl_; }

 private:
  friend PackedWeights pack(const Params&, const Tensor<float>&, Isa, Path);
  explicit PackedWeights(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

/// Validates `p` (Error on invalid parameters) and `w`'s shape, and packs the weights for `isa`
/// (default: detected_isa()) and `path`. Error if the CPU lacks `isa`.
PackedWeights pack(const Params& p, const Tensor<float>& w, Isa isa = detected_isa(),
                   Path path = Path::kAuto);

/// y = ConvTranspose2d(x, packed weights, b). `b` is null exactly when params().bias is false.
/// `threads` <= 0: OpenMP's default, fewer for small layers (one per ~8·10^6 multiply-adds or
/// 0.5·10^6 floats moved: a thread team's wake-up would cost more than it saves). Shapes are
/// validated (Error names the tensor).
Tensor<float> run(const PackedWeights& packed, const Tensor<float>& x, const Tensor<float>* b,
                  int threads = 0);

/// The same into a caller-owned, correctly sized output (no allocation of y): for benchmarks and
/// for repeated calls. Every element of `y` is written, none read before: its previous contents
/// do not matter (the GEMM and direct paths write each element exactly once; the weight stream
/// sets it to the bias, then adds each tap's sum into it).
void run_into(const PackedWeights& packed, const Tensor<float>& x, const Tensor<float>* b,
              Tensor<float>& y, int threads = 0);

/// The same, with kAuto resolved by auto_path(pr, isa); pr's input size is only a hint (run()
/// accepts any input size the parameters allow).
PackedWeights pack(const Problem& pr, const Tensor<float>& w, Isa isa = detected_isa(),
                   Path path = Path::kAuto);

/// One-shot: pack (for this input) and run.
Tensor<float> conv_transpose2d(const Params& p, const Tensor<float>& x, const Tensor<float>& w,
                               const Tensor<float>* b, int threads = 0, Isa isa = detected_isa(),
                               Path path = Path::kAuto);

/// An upper bound on the bytes one conv_transpose2d(pr.params, x, w, b, threads, isa, path)
/// with pr's shapes allocates beyond x, w, b and the returned y: the plan and packed weights, the
/// zero-padded input (each row at most W + 2·6 vectors, however large the padding, dilation or
/// stride), the per-thread tile, result and packing buffers of `threads` threads (<= 0: as run()
/// chooses), for any weight values. Bounded by a small multiple of the input, weight and output
/// sizes plus per-thread buffers of tens of KiB. Validates pr; Error naming the quantity when a
/// size overflows int64.
int64_t working_bytes(const Problem& pr, Isa isa = detected_isa(), Path path = Path::kAuto,
                      int threads = 0);

/// Frees the calling thread's kept scratch buffers. The forward pass's padded input and the
/// backward passes' copies of dy (the largest working memory of a run: tens of MB for a large
/// layer) are kept by the thread that called run() between calls, at the largest size it has
/// needed, since mapping them afresh on every call costs more than the kernels under a
/// hypervisor; a long-lived thread that is done with large layers returns that memory here. The
/// next run allocates again. Other threads' buffers are theirs to release.
void release_scratch();

/// The same for the float16 / bfloat16 conv_transpose2d below (either type): also the float32
/// copies of x and w and the float32 result.
int64_t working_bytes_half(const Problem& pr, Isa isa = detected_isa(), int threads = 0);

/// float16 and bfloat16 tensors with compute_mode `float32` (MegEngine's order): x, w and b are
/// widened to float32 exactly (F16C for float16), the float32 kernels compute the convolution
/// without the bias in float32, the result is rounded once to the storage type, and the bias is
/// added to that rounded result and rounded again. Error on invalid parameters or shapes.
Tensor<float16> conv_transpose2d(const Params& p, const Tensor<float16>& x,
                                 const Tensor<float16>& w, const Tensor<float16>* b,
                                 int threads = 0, Isa isa = detected_isa());
Tensor<bfloat16> conv_transpose2d(const Params& p, const Tensor<bfloat16>& x,
                                  const Tensor<bfloat16>& w, const Tensor<bfloat16>* b,
                                  int threads = 0, Isa isa = detected_isa());

}  // namespace convt2d::optimized

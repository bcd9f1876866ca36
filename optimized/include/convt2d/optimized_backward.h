#pragma once
/// \file
/// The optimized float32 backward passes of ConvTranspose2d (definitions: convt2d/backward.h):
/// bwd_data dx = the strided, dilated Conv2d of dy with the weights, and bwd_weights dw = the
/// correlation of x with dy, on the same ISAs as the forward kernels (convt2d/optimized.h).
///
/// Both read dy through its column phases: dy's columns j·sw + rx, for the phases rx some tap
/// reaches, are copied once into rows of their own (stride 2 by a per-ISA unzip kernel), so that
/// a tap's dy columns for consecutive input columns iw are consecutive floats whatever the
/// stride. bwd_data then runs register tiles of input channels × columns of a run of dx rows
/// that share their tap rows (tap rows outside dy are left out, columns outside read zeros of
/// the copy), all of an image's small groups in one pass; bwd_weights runs tiles of input ×
/// output channels of one tap that sum over the pixels of the definition only, blocked in rows
/// of the batch for the cache — or, for a finite x and fewer output channels per group than the
/// tile has columns, tiles whose columns are (output channel, tap row, tap of one column phase)
/// over a copy of dy padded with zeros (which then meet finite x values only).
///
/// Sums are float32 in an order of the kernels' choosing; NaN and infinity propagate as in a plain
/// sum over the definition's terms (weights that are not all finite send bwd_data down a loop
/// over exactly those terms, so that no padding zero meets an infinite weight).

#include <cstdint>
#include <memory>
#include <string>

#include "convt2d/optimized.h"

namespace convt2d::optimized {

/// The algorithm of a backward call. kDirect: register tiles of channels × consecutive pixels of
/// one row (the layout above; narrow images flattened); kGemm: tiles of pixels (bwd_data) or
/// input channels (bwd_weights) × consecutive channels, over a copy of the operands with each
/// pixel's channels contiguous, which keeps every lane busy however small the image. kAuto picks
/// the one whose tiles waste fewer lanes on the problem's shape. kPixelGemm (bwd_weights only; a
/// bwd_data call with it throws): x and dy copied with each pixel's channels contiguous, tiles of
/// input channels × output channels summed over the pixels of each tap in place (no panel per
/// tap); kAuto takes it with at least a vector of output channels per group and at most 1M floats
/// of dw, at stride 1 on every ISA and at any stride on AVX-512 (a rule fitted to the bench
/// suite). Every choice computes the same definition (the certified bound holds for each); tests
/// run each.
enum class BwdAlgo { kAuto, kDirect, kGemm, kPixelGemm };

/// kAuto resolved for a problem on an ISA (never kAuto). Validates pr.
BwdAlgo chosen_bwd_data_algo(const Problem& pr, Isa isa = detected_isa());
BwdAlgo chosen_bwd_weights_algo(const Problem& pr, Isa isa = detected_isa());

/// How bwd_data's direct algorithm tiles a problem, by a cost model of the lanes each wastes:
/// kRows along dx rows; kPlanes over the flattened pixels of dy's phase planes, padded with zeros
/// so that every tap reads each pixel at one fixed offset; kGather over flattened pixels of a copy
/// of dy per tap (for many input channels per group, which share the copy). Validates pr.
enum class BwdDataTiles { kRows, kPlanes, kGather };
BwdDataTiles chosen_bwd_data_tiles(const Problem& pr, Isa isa = detected_isa());

/// The weights of one parameter set packed for bwd_data on one ISA; immutable, shareable.
class BwdDataWeights {
 public:
  const Params& params() const;
  Isa isa() const;
  /// The full tile's kernel, e.g. "convt2d_bwd_data_f32_8x48__avx512" (the column tiles of a
  /// given input width may use fewer vectors).
  std::string kernel_names() const;

  struct Impl;
  const Impl& impl() const { return *impl_; }
  explicit BwdDataWeights(std::shared_ptr<const Impl> impl);

 private:
  std::shared_ptr<const Impl> impl_;
};

/// Validates `p` and `w`'s shape and packs w for `isa` (Error if the CPU lacks it).
BwdDataWeights pack_bwd_data(const Params& p, const Tensor<float>& w, Isa isa = detected_isa());

/// dx = bwd_data(dy, packed weights) into a caller-owned dx of shape (N, IC, H, W), H and W
/// solved from dy (problem_from_output); every element is written. `threads` <= 0: OpenMP's
/// default, fewer for small problems. Error naming dy or dx on a shape mismatch.
void run_bwd_data_into(const BwdDataWeights& packed, const Tensor<float>& dy, Tensor<float>& dx,
                       int threads = 0, BwdAlgo algo = BwdAlgo::kAuto);

/// One-shot bwd_data: dx, shape (N, IC, H, W).
Tensor<float> conv_transpose2d_bwd_data(const Params& p, const Tensor<float>& dy,
                                        const Tensor<float>& w, int threads = 0,
                                        Isa isa = detected_isa(), BwdAlgo algo = BwdAlgo::kAuto);

/// dw = bwd_weights(x, dy) into a caller-owned dw of weight_shape(p) (overwritten). Error naming
/// x, dy or dw when the shapes disagree.
void bwd_weights_into(const Params& p, const Tensor<float>& x, const Tensor<float>& dy,
                      Tensor<float>& dw, int threads = 0, Isa isa = detected_isa(),
                      BwdAlgo algo = BwdAlgo::kAuto);

/// One-shot bwd_weights: dw, shape weight_shape(p).
Tensor<float> conv_transpose2d_bwd_weights(const Params& p, const Tensor<float>& x,
                                           const Tensor<float>& dy, int threads = 0,
                                           Isa isa = detected_isa(), BwdAlgo algo = BwdAlgo::kAuto);

/// The full tile's kernel of bwd_weights on `isa`, e.g. "convt2d_bwd_weights_f32_4x6__avx512".
std::string bwd_weights_kernel_names(Isa isa = detected_isa());

/// Upper bounds on the bytes one conv_transpose2d_bwd_data / conv_transpose2d_bwd_weights call
/// on pr's shapes allocates beyond its operands and result, for any data: the packed weights,
/// the column-phase copy of dy (one image and chunk of groups at a time for bwd_data, padded
/// on each side; the whole dy for bwd_weights when sw > 1, none when sw = 1), and per-thread tap
/// and row lists. Never proportional to padding or dilation alone. Validates pr; Error naming the
/// quantity on int64 overflow.
int64_t bwd_data_working_bytes(const Problem& pr, Isa isa = detected_isa(), int threads = 0);
int64_t bwd_weights_working_bytes(const Problem& pr, Isa isa = detected_isa(), int threads = 0);

}  // namespace convt2d::optimized

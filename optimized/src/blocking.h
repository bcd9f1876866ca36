#pragma once
// The forward drivers' blocking constants, in one place, each with the measurement or the
// argument that chose it. The kernels' own tile shapes (kDirectNv, kGemmNv, kMaxFusedP, ...) are
// part of the kernel contract and live in kernels.h. Measurements are single-thread medians of
// `convt2d bench` on the machine named.

#include <unistd.h>

#include <cstdint>

namespace convt2d::optimized::blocking {

/// Output channels per group from which Path::kAuto may take the phase GEMM (packed input); below
/// it the direct path, reading the input in place, is faster (grouped-g4: 16 channels per group,
/// 0.14 ms direct vs 0.20 ms GEMM on Zen 5).
inline constexpr int64_t kGemmMinOcg = 32;

/// Column phases are processed in groups of at most this many, so that per-thread buffers stay
/// small even when the stride is larger than the output (thousands of one-column phases).
inline constexpr int64_t kPhaseGroup = 16;

/// The widest tile of the direct and fused paths, in vectors: no input row is padded by more than
/// this many vectors on either side, however large the padding or dilation (tiles leave out the
/// taps that read no input column for their outputs).
inline constexpr int64_t kMaxPadVectors = 6;

/// Most taps per column phase (valid row taps × column taps) the fused stride-2 row kernel takes:
/// its tap lists live on the stack.
inline constexpr int64_t kMaxRow2Taps = 64;

/// Largest padded group (input channels × rows × padded width, floats) a direct-path work item
/// pads for itself: 256 KiB, so that it stays in L2 (depthwise and grouped layers).
inline constexpr int64_t kLocalPadFloats = 64 * 1024;

/// Most output rows per direct-path run, and the row buffer a run may fill (16 KiB: it stays in
/// L1 between the tiles that write it and the pass that moves it to the output). With a tile call
/// per row, a fifth of grouped-g4's time went outside the kernels.
inline constexpr int64_t kMaxRunRows = 8;
inline constexpr int64_t kRunBufferFloats = 4096;

/// Output rows per direct-path work item (without local padding): the per-item bookkeeping is
/// then small next to the work even for depthwise layers.
inline constexpr int64_t kDirectRows = 8;

/// Phase rows per fused-path work item.
inline constexpr int64_t kFusedRows = 4;

/// GEMM path: about this many tiles of pixels per column phase make one work item (a block of
/// whole phase rows).
inline constexpr int64_t kTilesPerBlock = 4;

/// The GEMM's packed input panel: 5/6 of the L1 data cache, the rest for the weights streaming
/// past it and the results (Zen 5's 48 KiB: 40 KiB, measured best among 16-44 KiB on dcgan-2,
/// dcgan-b16 and pose-head; a 32 KiB L1 gets 26.7 KiB). An L1 size the OS does not report
/// plausibly counts as 32 KiB.
inline int64_t gemm_panel_bytes() {
  static const int64_t bytes = [] {
    const long l1 = sysconf(_SC_LEVEL1_DCACHE_SIZE);
    return (l1 >= 16 * 1024 && l1 <= 1024 * 1024 ? int64_t{l1} : int64_t{32 * 1024}) * 5 / 6;
  }();
  return bytes;
}

/// Work per thread of the default thread count, counting a multiply-add as one unit and a float
/// moved as kMoveWork: waking a thread team costs tens of microseconds, more than a small layer's
/// whole run (dcgan-out, 0.05 ms, took 0.08 ms on two threads); memory-bound layers such as
/// depthwise still split.
inline constexpr double kWorkPerThread = 8e6;
inline constexpr double kMoveWork = 16.0;

}  // namespace convt2d::optimized::blocking

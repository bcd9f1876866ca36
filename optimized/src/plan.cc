// Running a plan: the thread count, the choice of driver (drivers.h), and the bytes a run and a
// plan take, counted from the same layouts the drivers run with.

#include "plan.h"

#include <omp.h>

#include <cmath>

#include "blocking.h"
#include "drivers.h"

namespace convt2d::optimized {

int default_threads(const PackedWeights::Impl& pl, int64_t x_size, int64_t y_size) {
  const double macs = static_cast<double>(x_size) * static_cast<double>(pl.ocg * pl.kh * pl.kw);
  const double moved = static_cast<double>(x_size) + static_cast<double>(y_size);
  const double work = macs + blocking::kMoveWork * moved;
  const double useful = std::max(1.0, std::floor(work / blocking::kWorkPerThread));
  return static_cast<int>(std::min<double>(omp_get_max_threads(), useful));
}

void execute(const PackedWeights::Impl& pl, const Tensor<float>& x, const float* b,
             Tensor<float>& y, int threads) {
  if (y.size() == 0) return;
  if (threads <= 0) threads = default_threads(pl, x.size(), y.size());
  if (pl.stream.on) {
    stream_execute(pl.p, pl.stream, *pl.kernels, x, b, y, threads);
  } else if (pl.gemm) {
    execute_gemm(pl, x, b, y, threads);
  } else if (fused_fits(pl, x.shape, y.shape)) {
    execute_fused(pl, x, b, y, threads);
  } else {
    execute_direct(pl, x, b, y, threads);
  }
}

int64_t run_bytes(const PackedWeights::Impl& pl, const Shape& x, const Shape& y, int threads) {
  const int64_t x_size = element_count(x, "input"), y_size = element_count(y, "output");
  if (y_size == 0) return 0;  // execute() returns at once
  const int nt = threads > 0 ? threads : default_threads(pl, x_size, y_size);
  if (pl.stream.on) return stream_run_bytes(pl.stream, x, nt);
  ByteCount shared, each;  // the calling thread's buffers; each OpenMP thread's
  if (pl.gemm) {
    gemm_run_bytes(pl, x, y, shared, each);
  } else if (fused_fits(pl, x, y)) {
    fused_run_bytes(pl, x, y, shared, each);
  } else {
    direct_run_bytes(pl, x, y, nt, shared, each);
  }
  return shared.add("working memory: threads", each.total(), nt).total();
}

int64_t plan_bytes(const PackedWeights::Impl& pl) {
  ByteCount b;
  b.add("plan", sizeof(PackedWeights::Impl), 1);
  for (const auto& [ps, k] : {std::pair{&pl.rows, pl.kh}, std::pair{&pl.cols, pl.kw}}) {
    // The sorted phases (k reserved), the phases' tap lists (k taps in all, two numbers each,
    // grown by doubling: at most 3 times their size while one grows).
    b.add("plan: phases", kInt64Bytes, k)
        .add("plan: phases", sizeof(PhaseTaps), ps->count())
        .add("plan: phase taps", 2 * 3 * kInt64Bytes, k);
  }
  if (pl.stream.on) {
    return b.add("plan: stream weights", kFloatBytes, stream_weight_floats(pl.p, pl.stream))
        .total();
  }
  const int64_t weights = element_count(weight_shape(pl.p), "weight");
  b.add("plan: packed weights", kFloatBytes, weights)
      .add("plan: weight offsets", kInt64Bytes, pl.g, pl.rows.count(), pl.cols.count(),
           pl.ocblocks);
  if (pl.fused) {
    b.add("plan: fused tap offsets", kInt64Bytes,
          static_cast<int64_t>(pl.fused_ah.size() + pl.fused_aw.size()))
        .add("plan: fused weights", kFloatBytes, weights);
  }
  return b.total();
}

}  // namespace convt2d::optimized

#include "row_io.h"

#include "aligned.h"

namespace convt2d::optimized {

void pad_row(const float* src, int64_t wd, int64_t pad_l, int64_t wp, float* dst) {
  std::fill(dst, dst + pad_l, 0.0f);
  std::copy(src, src + wd, dst + pad_l);
  std::fill(dst + pad_l + wd, dst + wp, 0.0f);
}

float* pad_input(const Tensor<float>& x, int64_t pad_l, int64_t wp, int64_t floats, int nt) {
  const int64_t wd = x.shape[3], in_rows = x.shape[0] * x.shape[1] * x.shape[2];
  // Slot 2: the backward passes use 0 and 1.
  float* const xp = thread_scratch(2, static_cast<size_t>(floats), false);
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1)
  for (int64_t r = 0; r < in_rows; ++r) pad_row(x.ptr() + r * wd, wd, pad_l, wp, xp + r * wp);
  return xp;
}

}  // namespace convt2d::optimized

#pragma once
// The peak loops, each in a file compiled for its instruction set (bench/CMakeLists.txt). Both
// run `iters` rounds of 12 independent FMA chains and return a sum that keeps the work alive.
// Call them only after peak_available() said yes.

#include <cstdint>

namespace convt2d::bench::detail {

constexpr int kPeakAccumulators = 12;

float fma_loop_avx2(int64_t iters, float seed);    // 12 x 8 lanes per round
float fma_loop_avx512(int64_t iters, float seed);  // 12 x 16 lanes per round

}  // namespace convt2d::bench::detail

#pragma once
// The peak loops, each in a file compiled for its instruction set (bench/CMakeLists.txt). Each runs
// `iters` rounds of `chains` independent FMA chains and returns a sum that keeps the work alive.
// Call them only after peak_available() said yes.

#include <cstdint>
#include <span>

namespace convt2d::bench::detail {

// The chain counts the peak tries: a core needs latency x FMA units of them in flight (Zen 3: 4
// cycles x 2 = 8; a core with more units or a longer latency needs more). AVX2 has 16 registers
// (two hold the constants), AVX-512 32. The best of them is the peak, so no single guess of the
// core's pipeline can undercount it.
inline constexpr int kAvx2Chains[] = {6, 8, 10, 12, 14};
inline constexpr int kAvx512Chains[] = {8, 12, 16, 20, 24, 28};

float fma_loop_avx2(int chains, int64_t iters, float seed);    // chains x 8 lanes per round
float fma_loop_avx512(int chains, int64_t iters, float seed);  // chains x 16 lanes per round

}  // namespace convt2d::bench::detail

// Microkernel tests: every entry of every kernel table the CPU can run, against the contract its
// header states (optimized/src/kernels.h, bwd_kernels.h), one tile at a time. Small-integer data
// make every sum exact, so a result must equal the naive loop's bit for bit; sentinels around
// every output catch a store past the tile. Builder-style testers name the tile under test.
#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "bwd_kernels.h"
#include "convt2d/optimized.h"
#include "kernels.h"

namespace convt2d::optimized {
namespace {

constexpr float kSentinel = -12345.0f;

// Small integers in [-3, 3], deterministic.
std::vector<float> ints(size_t n, uint32_t seed) {
  std::vector<float> v(n);
  uint32_t s = seed * 2654435761u + 1;
  for (float& f : v) {
    s = s * 1664525u + 1013904223u;
    f = static_cast<float>(static_cast<int>((s >> 16) % 7) - 3);
  }
  return v;
}

struct IsaTables {
  Isa isa;
  const KernelTable* fwd;
  const BwdKernelTable* bwd;
};

std::vector<IsaTables> runnable_tables() {
  std::vector<IsaTables> out{{Isa::kScalar, &scalar_kernels(), &scalar_bwd_kernels()}};
  if (cpu_supports(Isa::kAvx2)) out.push_back({Isa::kAvx2, &avx2_kernels(), &avx2_bwd_kernels()});
  if (cpu_supports(Isa::kAvx512)) {
    out.push_back({Isa::kAvx512, &avx512_kernels(), &avx512_bwd_kernels()});
  }
  return out;
}

class Microkernels : public testing::TestWithParam<Isa> {
 protected:
  void SetUp() override {
    if (!cpu_supports(GetParam())) GTEST_SKIP() << to_string(GetParam()) << " not on this CPU";
    for (const IsaTables& t : runnable_tables()) {
      if (t.isa == GetParam()) tables_ = t;
    }
  }
  IsaTables tables_{};
};

// ---- GEMM tiles ----

class GemmTester {
 public:
  GemmTester& mr(int v) {
    mr_ = v;
    return *this;
  }
  GemmTester& nv(int v) {
    nv_ = v;
    return *this;
  }
  GemmTester& k(int64_t v) {
    k_ = v;
    return *this;
  }
  GemmTester& accumulate(bool v) {
    accumulate_ = v;
    return *this;
  }

  void Test(const KernelTable& t) const {
    const GemmKernel kernel = t.gemm[mr_][nv_];
    ASSERT_NE(kernel, nullptr);
    const int64_t cols = int64_t{nv_} * t.lanes, ldc = cols + 3;
    const std::vector<float> a = ints(static_cast<size_t>(k_ * mr_), 1);
    const std::vector<float> b = ints(static_cast<size_t>(k_ * cols), 2);
    const std::vector<float> bias = ints(static_cast<size_t>(mr_), 3);
    std::vector<float> c = ints(static_cast<size_t>(mr_ * ldc), 4);
    for (int m = 0; m < mr_; ++m) {
      for (int64_t j = cols; j < ldc; ++j) c[static_cast<size_t>(m * ldc + j)] = kSentinel;
    }
    std::vector<float> want = c;
    for (int m = 0; m < mr_; ++m) {
      for (int64_t j = 0; j < cols; ++j) {
        float s = accumulate_ ? c[static_cast<size_t>(m * ldc + j)] : bias[static_cast<size_t>(m)];
        for (int64_t kk = 0; kk < k_; ++kk) {
          s += a[static_cast<size_t>(kk * mr_ + m)] * b[static_cast<size_t>(kk * cols + j)];
        }
        want[static_cast<size_t>(m * ldc + j)] = s;
      }
    }
    kernel(GemmArgs{k_, a.data(), b.data(), c.data(), ldc, accumulate_, bias.data()});
    EXPECT_EQ(c, want) << t.gemm_name[mr_][nv_] << " k=" << k_ << " accumulate=" << accumulate_;
  }

 private:
  int mr_ = 1, nv_ = 1;
  int64_t k_ = 1;
  bool accumulate_ = false;
};

TEST_P(Microkernels, EveryGemmTile) {
  const KernelTable& t = *tables_.fwd;
  for (int mr = 1; mr <= t.gemm_mr; ++mr) {
    for (int nv = 1; nv <= kGemmNv; ++nv) {
      for (const int64_t k : {1, 2, 7, 33}) {
        for (const bool acc : {false, true})
          GemmTester().mr(mr).nv(nv).k(k).accumulate(acc).Test(t);
      }
    }
  }
}

// ---- direct, zipped-direct and fused-phase tiles ----

// The three tile kernels that share TileArgs.
enum class Tile { kDirect, kZip, kFused };

// One tile's input: `chans` channels of `chan_stride` floats, taps at row offsets.
class TileTester {
 public:
  TileTester& mr(int v) {
    mr_ = v;
    return *this;
  }  // fused: P phases
  TileTester& nv(int v) {
    nv_ = v;
    return *this;
  }
  TileTester& taps(int64_t v) {
    taps_ = v;
    return *this;
  }
  TileTester& icg(int64_t v) {
    icg_ = v;
    return *this;
  }
  TileTester& rows(int64_t v) {
    rows_ = v;
    return *this;
  }
  TileTester& zip_n(int64_t v) {
    zip_n_ = v;
    return *this;
  }  // zipped: y_n

  void Test(const KernelTable& t, Tile kind) const {
    const TileKernel kernel = kind == Tile::kDirect ? t.direct[mr_][nv_]
                              : kind == Tile::kZip  ? t.direct_zip[mr_][nv_]
                                                    : t.fused[mr_][nv_];
    const char* name = kind == Tile::kDirect ? t.direct_name[mr_][nv_]
                       : kind == Tile::kZip  ? "direct_zip"
                                             : t.fused_name[mr_][nv_];
    if (kernel == nullptr) return;  // a tile this ISA does not have
    const int64_t cols = int64_t{nv_} * t.lanes;
    const int64_t row_len = cols + 2 * taps_ + 5;  // each tap shifts by its index
    const int64_t cs = row_len * (rows_ + taps_);  // a channel: rows + taps rows
    const std::vector<float> x = ints(static_cast<size_t>(icg_ * cs), 11);
    std::vector<int64_t> xoff(static_cast<size_t>(taps_));
    std::vector<std::vector<float>> w(static_cast<size_t>(taps_));
    std::vector<const float*> wtap(static_cast<size_t>(taps_));
    for (int64_t tp = 0; tp < taps_; ++tp) {
      xoff[static_cast<size_t>(tp)] = tp * row_len + (tp % 3);  // rows and columns apart
      w[static_cast<size_t>(tp)] =
          ints(static_cast<size_t>(icg_ * mr_), static_cast<uint32_t>(20 + tp));
      wtap[static_cast<size_t>(tp)] = w[static_cast<size_t>(tp)].data();
    }
    const std::vector<float> bias = ints(static_cast<size_t>(mr_), 5);
    // acc(r, m, j) of the contract: fused reads bias[0] for every phase.
    const auto acc = [&](int64_t r, int m, int64_t j) {
      float s = bias[static_cast<size_t>(kind == Tile::kFused ? 0 : m)];
      for (int64_t tp = 0; tp < taps_; ++tp) {
        for (int64_t c = 0; c < icg_; ++c) {
          s += w[static_cast<size_t>(tp)][static_cast<size_t>(c * mr_ + m)] *
               x[static_cast<size_t>(r * row_len + xoff[static_cast<size_t>(tp)] + c * cs + j)];
        }
      }
      return s;
    };
    TileArgs a{};
    a.x = x.data();
    a.xoff = xoff.data();
    a.wtap = wtap.data();
    a.ntaps = taps_;
    a.icg = icg_;
    a.chan_stride = cs;
    a.bias = bias.data();
    const int64_t rows = kind == Tile::kFused ? 1 : rows_;
    a.rows = rows;
    a.x_row_step = row_len;
    const int64_t out_stride = cols + 4;
    const int64_t out_row = out_stride * mr_;
    std::vector<float> out(static_cast<size_t>(out_row * rows), kSentinel);
    a.out = out.data();
    a.out_stride = out_stride;
    a.out_row_step = out_row;
    if (kind == Tile::kZip) {
      // The even phase's results; y rows interleave them with this tile's.
      const std::vector<float> partner = ints(out.size(), 6);
      const int64_t y_stride = 2 * cols + 5, y_row = y_stride * mr_;
      std::vector<float> y(static_cast<size_t>(y_row * rows), kSentinel);
      std::vector<float> want = y;
      for (int64_t r = 0; r < rows; ++r) {
        for (int m = 0; m < mr_; ++m) {
          for (int64_t j = 0; j < cols; ++j) {
            for (int e = 0; e < 2; ++e) {
              if (2 * j + e >= zip_n_) continue;
              want[static_cast<size_t>(r * y_row + m * y_stride + 2 * j + e)] =
                  e ? acc(r, m, j) : partner[static_cast<size_t>(r * out_row + m * out_stride + j)];
            }
          }
        }
      }
      a.partner = partner.data();
      a.y = y.data();
      a.y_stride = y_stride;
      a.y_n = zip_n_;
      a.y_row_step = y_row;
      kernel(a);
      EXPECT_EQ(y, want) << "direct_zip " << mr_ << "x" << nv_ << " taps=" << taps_
                         << " icg=" << icg_ << " rows=" << rows << " y_n=" << zip_n_;
      return;
    }
    std::vector<float> want = out;
    for (int64_t r = 0; r < rows; ++r) {
      for (int m = 0; m < mr_; ++m) {
        for (int64_t j = 0; j < cols; ++j) {
          want[static_cast<size_t>(r * out_row + m * out_stride + j)] = acc(r, m, j);
        }
      }
    }
    kernel(a);
    EXPECT_EQ(out, want) << name << " taps=" << taps_ << " icg=" << icg_ << " rows=" << rows;
  }

 private:
  int mr_ = 1, nv_ = 1;
  int64_t taps_ = 1, icg_ = 1, rows_ = 1, zip_n_ = 0;
};

TEST_P(Microkernels, EveryDirectTile) {
  const KernelTable& t = *tables_.fwd;
  int tested = 0;
  for (int mr = 1; mr <= t.direct_mr; ++mr) {
    for (int nv = 1; nv <= 6; ++nv) {
      if (t.direct[mr][nv] == nullptr) continue;
      ++tested;
      for (const int64_t icg : {1, 2, 5}) {
        for (const int64_t taps : {1, 3}) {
          for (const int64_t rows : {1, 3}) {
            TileTester().mr(mr).nv(nv).taps(taps).icg(icg).rows(rows).Test(t, Tile::kDirect);
          }
        }
      }
    }
  }
  EXPECT_GE(tested, t.direct_mr);  // every channel count has a tile
}

TEST_P(Microkernels, EveryZippedDirectTileStoresExactlyYN) {
  const KernelTable& t = *tables_.fwd;
  int tested = 0;
  for (int mr = 1; mr <= t.direct_mr; ++mr) {
    for (int nv = 1; nv <= 6; ++nv) {
      if (t.direct_zip[mr][nv] == nullptr) continue;
      ++tested;
      const int64_t full = 2 * int64_t{nv} * t.lanes;
      // Every remainder of the last vector pair, and a tile that stores nothing past its first.
      for (const int64_t n : {full, full - 1, full - t.lanes, full - t.lanes - 1, int64_t{1}}) {
        TileTester().mr(mr).nv(nv).taps(2).icg(3).rows(2).zip_n(n).Test(t, Tile::kZip);
      }
    }
  }
  EXPECT_GT(tested, 0);
}

TEST_P(Microkernels, EveryFusedPhaseTile) {
  const KernelTable& t = *tables_.fwd;
  int tested = 0;
  for (int p = 2; p <= kMaxFusedP; ++p) {
    for (int nv = 1; nv <= t.fused_nv[p]; ++nv) {
      ASSERT_NE(t.fused[p][nv], nullptr) << p << "x" << nv;
      ++tested;
      for (const int64_t icg : {1, 4})
        TileTester().mr(p).nv(nv).taps(3).icg(icg).Test(t, Tile::kFused);
    }
  }
  EXPECT_GT(tested, 0);
}

// ---- stream tiles ----

class StreamTester {
 public:
  StreamTester& pixels(int v) {
    pixels_ = v;
    return *this;
  }
  StreamTester& nv(int v) {
    nv_ = v;
    return *this;
  }
  StreamTester& icg(int64_t v) {
    icg_ = v;
    return *this;
  }
  /// Channels stored: nv·lanes or fewer (a group's last block).
  StreamTester& nout(int64_t v) {
    nout_ = v;
    return *this;
  }

  void Test(const KernelTable& t) const {
    const StreamKernel kernel = t.stream[pixels_][nv_];
    ASSERT_NE(kernel, nullptr) << pixels_ << "x" << nv_;
    const int64_t width = int64_t{nv_} * t.lanes;
    const int64_t nout = nout_ > 0 ? nout_ : width;
    std::vector<float> w = ints(static_cast<size_t>(icg_ * width), 21);
    // The lanes past nout hold what a last block's padding holds (zeros); an Inf there would
    // make NaN in lanes that must never reach y.
    for (int64_t c = 0; c < icg_; ++c) {
      for (int64_t o = nout; o < width; ++o) {
        w[static_cast<size_t>(c * width + o)] = std::numeric_limits<float>::infinity();
      }
    }
    // x: channels of 2·P + 1 pixels, of which the tile reads P, in reverse and every other one.
    const int64_t xs = 2 * pixels_ + 1;
    const std::vector<float> x = ints(static_cast<size_t>(icg_ * xs), 22);
    std::vector<int64_t> xidx(static_cast<size_t>(pixels_));
    for (int p = 0; p < pixels_; ++p) xidx[static_cast<size_t>(p)] = 2 * (pixels_ - 1 - p) + 1;
    // y: per pixel a column of `stride`-spaced channels, interleaved with the other pixels
    // (offsets p, channel stride pixels + 1: the gaps and the tail hold sentinels).
    const int64_t stride = pixels_ + 1;
    std::vector<float> y(static_cast<size_t>(width * stride + 2), kSentinel);
    std::vector<int64_t> off(static_cast<size_t>(pixels_));
    for (int p = 0; p < pixels_; ++p) {
      off[static_cast<size_t>(p)] = p;
      for (int64_t o = 0; o < nout; ++o) {
        y[static_cast<size_t>(p + o * stride)] = 1.0f + static_cast<float>(p);  // +=
      }
    }
    std::vector<float> want = y;
    for (int p = 0; p < pixels_; ++p) {
      for (int64_t o = 0; o < nout; ++o) {
        float s = 0;
        for (int64_t c = 0; c < icg_; ++c) {
          s += x[static_cast<size_t>(c * xs + xidx[static_cast<size_t>(p)])] *
               w[static_cast<size_t>(c * width + o)];
        }
        want[static_cast<size_t>(p + o * stride)] += s;
      }
    }
    kernel(
        StreamArgs{w.data(), x.data(), xs, xidx.data(), icg_, y.data(), off.data(), stride, nout});
    EXPECT_EQ(y, want) << t.stream_name[pixels_][nv_] << " icg=" << icg_ << " nout=" << nout;
  }

 private:
  int pixels_ = 1, nv_ = 1;
  int64_t icg_ = 1, nout_ = 0;
};

TEST_P(Microkernels, EveryStreamTile) {
  const KernelTable& t = *tables_.fwd;
  ASSERT_GE(t.stream_nv, 1);
  ASSERT_LE(t.stream_nv, kMaxStreamNv);
  int tested = 0;
  for (int p = 1; p <= kMaxStreamP; ++p) {
    for (int nv = 1; nv <= t.stream_nv; ++nv) {
      ++tested;
      const int64_t width = int64_t{nv} * t.lanes;
      // icg: one step, every remainder of the accumulator sets' ranges (up to 4), a long one.
      for (const int64_t icg : {1, 2, 3, 5, 7, 64}) {
        StreamTester().pixels(p).nv(nv).icg(icg).Test(t);
      }
      // A last block's remainders.
      for (const int64_t nout : {width - 1, width - t.lanes + 1, int64_t{1}}) {
        StreamTester().pixels(p).nv(nv).icg(6).nout(nout).Test(t);
      }
    }
  }
  EXPECT_EQ(tested, kMaxStreamP * t.stream_nv);
}

// ---- row helpers ----

TEST_P(Microkernels, Interleave2EveryLength) {
  const KernelTable& t = *tables_.fwd;
  ASSERT_NE(t.interleave2, nullptr);
  for (int64_t n = 1; n <= 4 * t.lanes + 3; ++n) {
    const std::vector<float> even = ints(static_cast<size_t>(n), 1),
                             odd = ints(static_cast<size_t>(n), 2);
    std::vector<float> out(static_cast<size_t>(n + 8), kSentinel), want = out;
    for (int64_t i = 0; i < n; ++i) {
      want[static_cast<size_t>(i)] = (i % 2 ? odd : even)[static_cast<size_t>(i / 2)];
    }
    t.interleave2(even.data(), odd.data(), out.data(), n);
    EXPECT_EQ(out, want) << "n=" << n;
  }
}

TEST_P(Microkernels, Row2EveryLength) {
  const KernelTable& t = *tables_.fwd;
  if (t.row2 == nullptr) GTEST_SKIP() << "no row2 kernel on " << to_string(GetParam());
  for (int64_t n = 1; n <= 4 * t.lanes + 3; ++n) {
    const int64_t half = (n + 1) / 2;
    const std::vector<float> x = ints(static_cast<size_t>(half + 2 * t.lanes + 8), 3);
    const int64_t off0[3] = {0, 1, 3}, off1[2] = {2, 0};
    const std::vector<float> w0 = ints(3, 4), w1 = ints(2, 5);
    Row2Args a{};
    a.x = x.data();
    a.xoff[0] = off0;
    a.xoff[1] = off1;
    a.w[0] = w0.data();
    a.w[1] = w1.data();
    a.ntaps[0] = 3;
    a.ntaps[1] = 2;
    a.bias = 2;
    std::vector<float> out(static_cast<size_t>(n + 8), kSentinel), want = out;
    for (int64_t i = 0; i < n; ++i) {
      const int p = static_cast<int>(i % 2);
      const int64_t j = i / 2;
      float s = a.bias;
      for (int64_t tp = 0; tp < a.ntaps[p]; ++tp) {
        s += a.w[p][tp] * x[static_cast<size_t>(a.xoff[p][tp] + j)];
      }
      want[static_cast<size_t>(i)] = s;
    }
    a.out = out.data();
    a.n = n;
    t.row2(a);
    EXPECT_EQ(out, want) << "n=" << n;
  }
}

// ---- backward tiles ----

TEST_P(Microkernels, EveryBwdDataTileStoresExactlyN) {
  const BwdKernelTable& t = *tables_.bwd;
  int tested = 0;
  for (int mr = 1; mr <= kMaxBwdDataMr; ++mr) {
    for (int nv = 1; nv <= kMaxBwdDataNv; ++nv) {
      const BwdDataKernel kernel = t.data[mr][nv];
      if (kernel == nullptr) continue;
      ++tested;
      const int64_t cols = int64_t{nv} * t.lanes;
      // ocg = 1 pairs taps (the depthwise order), ocg = 3 pairs output channels; 1 and 3 taps
      // leave an odd one over; 3 rows step dy and dx between rows.
      for (const int64_t ocg : {1, 3}) {
        for (const int64_t taps : {1, 2, 3}) {
          for (const int64_t rows : {1, 3}) {
            for (const int64_t n : {cols, cols - 1, int64_t{1}}) {
              const int64_t row_len = cols + 6, cs = row_len * 3, dy_step = ocg * cs + 5;
              const std::vector<float> dy = ints(static_cast<size_t>(rows * dy_step), 7);
              const int64_t dyoff[3] = {0, row_len + 2, 2 * row_len + 5};
              const std::vector<float> w0 = ints(static_cast<size_t>(ocg * mr), 8);
              const std::vector<float> w1 = ints(static_cast<size_t>(ocg * mr), 9);
              const std::vector<float> w2 = ints(static_cast<size_t>(ocg * mr), 10);
              const float* wtap[3] = {w0.data(), w1.data(), w2.data()};
              const int64_t dx_stride = cols + 3, dx_step = mr * dx_stride + 2;
              std::vector<float> dx(static_cast<size_t>(rows * dx_step), kSentinel), want = dx;
              for (int64_t r = 0; r < rows; ++r) {
                for (int m = 0; m < mr; ++m) {
                  for (int64_t j = 0; j < n; ++j) {
                    float s = 0;
                    for (int64_t tp = 0; tp < taps; ++tp) {
                      for (int64_t o = 0; o < ocg; ++o) {
                        s += wtap[tp][o * mr + m] *
                             dy[static_cast<size_t>(r * dy_step + dyoff[tp] + o * cs + j)];
                      }
                    }
                    want[static_cast<size_t>(r * dx_step + m * dx_stride + j)] = s;
                  }
                }
              }
              kernel(BwdDataArgs{dy.data(), dyoff, wtap, taps, ocg, cs, dx.data(), dx_stride, n,
                                 rows, dy_step, dx_step});
              EXPECT_EQ(dx, want) << t.data_name[mr][nv] << " ocg=" << ocg << " taps=" << taps
                                  << " rows=" << rows << " n=" << n;
            }
          }
        }
      }
    }
  }
  EXPECT_GT(tested, 0);
}

TEST_P(Microkernels, EveryBwdWeightsTileOverEveryTail) {
  const BwdKernelTable& t = *tables_.bwd;
  int tested = 0;
  for (int mr = 1; mr <= kMaxBwdWeightsMr; ++mr) {
    for (int nr = 1; nr <= kMaxBwdWeightsNr; ++nr) {
      const BwdWeightsKernel kernel = t.weights[mr][nr];
      if (kernel == nullptr) continue;
      ++tested;
      for (const int64_t len :
           {int64_t{1}, int64_t{t.lanes} - 1, int64_t{t.lanes}, 2 * int64_t{t.lanes} + 3}) {
        const int64_t nrows = 3, row = len + 2, x_cs = row * nrows + 1, dy_cs = row * nrows + 2;
        const std::vector<float> x = ints(static_cast<size_t>(mr * x_cs), 12);
        const std::vector<float> dy = ints(static_cast<size_t>(nr * dy_cs), 13);
        const int64_t xoff[3] = {0, row + 1, 2 * row};
        const int64_t dyoff[3] = {1, row, 2 * row + 1};
        // Columns in no order of their own: dy's and dw's offsets per column, gaps in dw hold
        // sentinels.
        int64_t dy_col[kMaxBwdWeightsNr], dw_col[kMaxBwdWeightsNr];
        for (int r = 0; r < nr; ++r) {
          dy_col[r] = (nr - 1 - r) * dy_cs + r % 2;
          dw_col[r] = 2 * (nr - 1 - r);
        }
        const int64_t ldi = nr * 2 + 1;
        std::vector<float> dw(static_cast<size_t>(mr * ldi), kSentinel);
        for (int m = 0; m < mr; ++m) {
          for (int r = 0; r < nr; ++r) dw[static_cast<size_t>(m * ldi + dw_col[r])] = 1;  // +=
        }
        std::vector<float> want = dw;
        for (int m = 0; m < mr; ++m) {
          for (int r = 0; r < nr; ++r) {
            float s = 0;
            for (int64_t q = 0; q < nrows; ++q) {
              for (int64_t k = 0; k < len; ++k) {
                s += x[static_cast<size_t>(xoff[q] + m * x_cs + k)] *
                     dy[static_cast<size_t>(dyoff[q] + dy_col[r] + k)];
              }
            }
            want[static_cast<size_t>(m * ldi + dw_col[r])] += s;
          }
        }
        kernel(BwdWeightsArgs{x.data(), dy.data(), xoff, dyoff, nrows, len, x_cs, dy_col, dw.data(),
                              ldi, dw_col});
        EXPECT_EQ(dw, want) << t.weights_name[mr][nr] << " len=" << len;
      }
    }
  }
  EXPECT_GT(tested, 0);
}

// The pixel-major GEMM tiles: pixels x_ps and dy_ps floats apart, runs at offsets in no order,
// no run at all (the tile still writes c), and both = and +=; c's gaps hold sentinels.
TEST_P(Microkernels, EveryBwdWgemmTileOverRunsAndAccumulation) {
  const BwdKernelTable& t = *tables_.bwd;
  int tested = 0;
  for (int nv = 1; nv <= kMaxBwdWgemmNv; ++nv) {
    EXPECT_GE(t.wgemm_mr[nv], 1) << "nv=" << nv;
    for (int mr = 1; mr <= kMaxBwdWgemmMr; ++mr) {
      const BwdWgemmKernel kernel = t.wgemm[mr][nv];
      if (kernel == nullptr) continue;
      EXPECT_LE(mr, t.wgemm_mr[nv]) << t.wgemm_name[mr][nv];
      ++tested;
      const int64_t cols = int64_t{nv} * t.lanes, x_ps = mr + 3, dy_ps = cols + 5;
      for (const int64_t nruns : {0, 1, 3}) {
        for (const int64_t len : {1, 4}) {
          for (const bool accumulate : {false, true}) {
            const int64_t xrun = len * x_ps + 2, dyrun = len * dy_ps + 1;
            const std::vector<float> x = ints(static_cast<size_t>(3 * xrun), 15);
            const std::vector<float> dy = ints(static_cast<size_t>(3 * dyrun), 16);
            const int64_t xoff[3] = {2 * xrun, 1, xrun};
            const int64_t dyoff[3] = {dyrun, 2 * dyrun + 1, 0};
            const int64_t ldc = cols + 2;
            std::vector<float> c(static_cast<size_t>(mr * ldc), kSentinel);
            for (int m = 0; m < mr; ++m) {
              for (int64_t j = 0; j < cols; ++j) c[static_cast<size_t>(m * ldc + j)] = 3;
            }
            std::vector<float> want = c;
            for (int m = 0; m < mr; ++m) {
              for (int64_t j = 0; j < cols; ++j) {
                float s = accumulate ? 3.0f : 0.0f;
                for (int64_t r = 0; r < nruns; ++r) {
                  for (int64_t k = 0; k < len; ++k) {
                    s += x[static_cast<size_t>(xoff[r] + k * x_ps + m)] *
                         dy[static_cast<size_t>(dyoff[r] + k * dy_ps + j)];
                  }
                }
                want[static_cast<size_t>(m * ldc + j)] = s;
              }
            }
            kernel(BwdWgemmArgs{x.data(), dy.data(), xoff, dyoff, nruns, len, x_ps, dy_ps, c.data(),
                                ldc, accumulate});
            EXPECT_EQ(c, want) << t.wgemm_name[mr][nv] << " runs=" << nruns << " len=" << len
                               << " accumulate=" << accumulate;
          }
        }
      }
    }
  }
  EXPECT_GT(tested, 0);
}

TEST_P(Microkernels, BwdTransposeMovesEveryElementAndNothingElse) {
  const BwdKernelTable& t = *tables_.bwd;
  ASSERT_NE(t.transpose, nullptr);
  ASSERT_NE(t.transpose_name, nullptr);
  const int64_t l = t.lanes, src_stride = l + 3, dst_stride = l + 5;
  // Exactly l rows of src: a read past the last row's l floats is an address sanitizer's error.
  const std::vector<float> src = ints(static_cast<size_t>((l - 1) * src_stride + l), 17);
  std::vector<float> dst(static_cast<size_t>(l * dst_stride), kSentinel), want = dst;
  for (int64_t i = 0; i < l; ++i) {
    for (int64_t j = 0; j < l; ++j) {
      want[static_cast<size_t>(j * dst_stride + i)] = src[static_cast<size_t>(i * src_stride + j)];
    }
  }
  t.transpose(src.data(), src_stride, dst.data(), dst_stride);
  EXPECT_EQ(dst, want) << t.transpose_name;
}

TEST_P(Microkernels, BwdUnzip2EveryLength) {
  const BwdKernelTable& t = *tables_.bwd;
  ASSERT_NE(t.unzip2, nullptr);
  ASSERT_NE(t.unzip2_name, nullptr);
  for (int64_t n = 0; n <= 4 * t.lanes + 3; ++n) {
    // The source is exactly n floats: a read past it is an address sanitizer's error.
    const std::vector<float> src = ints(static_cast<size_t>(n), 14);
    const int64_t half = (n + 1) / 2;
    std::vector<float> even(static_cast<size_t>(half + 8), kSentinel), odd = even;
    std::vector<float> want_even = even, want_odd = odd;
    for (int64_t i = 0; i < n; ++i) {
      (i % 2 ? want_odd : want_even)[static_cast<size_t>(i / 2)] = src[static_cast<size_t>(i)];
    }
    t.unzip2(src.data(), n, even.data(), odd.data());
    EXPECT_EQ(even, want_even) << t.unzip2_name << " n=" << n;
    EXPECT_EQ(odd, want_odd) << t.unzip2_name << " n=" << n;
  }
}

TEST_P(Microkernels, BwdAllFiniteEveryLengthAndPosition) {
  const BwdKernelTable& t = *tables_.bwd;
  ASSERT_NE(t.all_finite, nullptr);
  ASSERT_NE(t.all_finite_name, nullptr);
  const float inf = std::numeric_limits<float>::infinity();
  const float bad[] = {inf, -inf, std::numeric_limits<float>::quiet_NaN()};
  for (int64_t n = 0; n <= 3 * t.lanes + 2; ++n) {
    // Finite extremes around, and a NaN just past the end that must not be read as one of n.
    std::vector<float> v(static_cast<size_t>(n) + 1, std::numeric_limits<float>::max());
    for (int64_t i = 0; i < n; i += 2) {
      v[static_cast<size_t>(i)] = i % 4 == 0 ? std::numeric_limits<float>::denorm_min() : -0.0f;
    }
    v[static_cast<size_t>(n)] = bad[2];
    EXPECT_TRUE(t.all_finite(v.data(), n)) << t.all_finite_name << " n=" << n;
    for (int64_t i = 0; i < n; ++i) {
      const float keep = v[static_cast<size_t>(i)];
      v[static_cast<size_t>(i)] = bad[i % 3];
      EXPECT_FALSE(t.all_finite(v.data(), n)) << t.all_finite_name << " n=" << n << " at " << i;
      v[static_cast<size_t>(i)] = keep;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Isas, Microkernels,
                         testing::Values(Isa::kScalar, Isa::kAvx2, Isa::kAvx512),
                         [](const testing::TestParamInfo<Isa>& i) { return to_string(i.param); });

}  // namespace
}  // namespace convt2d::optimized

// The optimized backward passes (bwd_data, bwd_weights) against the exact reference, per ISA (an
// ISA this CPU lacks is skipped): bit-equal on integer data, within the certified float32 bound
// on real and cancellation data, NaN/Inf where a plain sum over the definition puts them.
#include "convt2d/backward.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "alloc_counter.h"
#include "convt2d/compare.h"
#include "convt2d/error.h"
#include "convt2d/fill.h"
#include "convt2d/optimized.h"
#include "convt2d/optimized_backward.h"
#include "convt2d/params.h"

namespace convt2d {
namespace {

using optimized::Isa;

constexpr Pass kBwdPasses[] = {Pass::kBwdData, Pass::kBwdWeights};

class BwdIsaTest : public ::testing::TestWithParam<Isa> {
 protected:
  void SetUp() override {
    if (!optimized::cpu_supports(GetParam())) {
      GTEST_SKIP() << "this CPU lacks " << optimized::to_string(GetParam());
    }
  }
};

std::string isa_name(const ::testing::TestParamInfo<Isa>& i) {
  return optimized::to_string(i.param);
}

using optimized::BwdAlgo;
// Every algorithm of a pass: bwd_weights also has the pixel-major GEMM.
std::vector<BwdAlgo> algos_of(Pass pass) {
  std::vector<BwdAlgo> a{BwdAlgo::kAuto, BwdAlgo::kDirect, BwdAlgo::kGemm};
  if (pass == Pass::kBwdWeights) a.push_back(BwdAlgo::kPixelGemm);
  return a;
}

const char* algo_name(BwdAlgo a) {
  switch (a) {
    case BwdAlgo::kAuto:
      return "auto";
    case BwdAlgo::kDirect:
      return "direct";
    case BwdAlgo::kGemm:
      return "gemm";
    case BwdAlgo::kPixelGemm:
      return "pixel-gemm";
  }
  return "?";
}

Tensor<float> run_pass(Pass pass, const Params& p, const ProblemData<float>& d, Isa isa,
                       int threads, BwdAlgo algo = BwdAlgo::kAuto) {
  return pass == Pass::kBwdData
             ? optimized::conv_transpose2d_bwd_data(p, d.dy, d.w, threads, isa, algo)
             : optimized::conv_transpose2d_bwd_weights(p, d.x, d.dy, threads, isa, algo);
}

// Judges the pass's result r against the exact one with the compare module; `exact`: a zero
// bound (integer data, whose float32 sums are exact).
::testing::AssertionResult judged(Pass pass, const Problem& pr, const ProblemData<float>& d,
                                  const Tensor<float>& r, bool exact) {
  Case c{pr, d.x, d.w, std::nullopt, pass, AnyTensor(d.dy)};
  const Truth truth = compute_truth(c);
  const Arithmetic a{kFloat32Precision};
  const Tensor<double> bound = exact ? Tensor<double>(result_shape(pr, pass)) : case_bound(c, a);
  const Report rep = compare_outputs(truth, r, bound, nullptr, DType::kFloat32, a);
  if (rep.passed()) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << to_string(pass) << " " << format_problem(pr) << "\n"
                                       << format_report(rep);
}

/// Builder for one problem, XNNPACK style: BwdTester().stride(2).groups(4).Test(isa) runs both
/// backward passes on it.
class BwdTester {
 public:
  BwdTester& batch(int64_t n) { return set(pr_.mb, n); }
  BwdTester& input(int64_t h, int64_t w) { return set(pr_.ih, h), set(pr_.iw, w); }
  BwdTester& channels(int64_t ic, int64_t oc) {
    pr_.params.in_channels = ic;
    pr_.params.out_channels = oc;
    return *this;
  }
  BwdTester& kernel(Pair k) { return set(pr_.params.kernel_size, k); }
  BwdTester& stride(Pair s) { return set(pr_.params.stride, s); }
  BwdTester& padding(Pair p) { return set(pr_.params.padding, p); }
  BwdTester& output_padding(Pair p) { return set(pr_.params.output_padding, p); }
  BwdTester& dilation(Pair d) { return set(pr_.params.dilation, d); }
  BwdTester& groups(int64_t g) { return set(pr_.params.groups, g); }
  BwdTester& threads(int t) { return set(threads_, t); }
  const Problem& problem() const { return pr_; }

  /// Integer data must match the reference bit for bit; real and cancellation data must lie
  /// within the certified float32 bound; for each algorithm of the pass (algos_of).
  void Test(Isa isa) const {
    Problem pr = pr_;
    pr.params.bias = false;
    validate(pr);
    for (Pass pass : kBwdPasses) {
      for (Regime regime : {Regime::kInteger, Regime::kReal, Regime::kCancellation}) {
        const auto d = make_data<float>(pr, regime, 11, pass);
        for (BwdAlgo algo : algos_of(pass)) {
          const Tensor<float> r = run_pass(pass, pr.params, d, isa, threads_, algo);
          EXPECT_TRUE(judged(pass, pr, d, r, regime == Regime::kInteger))
              << to_string(regime) << ", algorithm " << algo_name(algo);
        }
      }
    }
  }

 private:
  template <class T, class V>
  BwdTester& set(T& field, V v) {
    field = static_cast<T>(v);
    return *this;
  }
  Problem pr_ = [] {
    Problem p;
    p.mb = 1;
    p.ih = p.iw = 5;
    p.params.in_channels = p.params.out_channels = 4;
    p.params.kernel_size = 3;
    return p;
  }();
  int threads_ = 0;
};

TEST_P(BwdIsaTest, OneByOneKernel) {
  BwdTester().kernel(1).Test(GetParam());
}
TEST_P(BwdIsaTest, Strides1To4) {
  for (int64_t s = 1; s <= 4; ++s) {
    BwdTester().stride(s).kernel(4).padding(1).input(7, 9).Test(GetParam());
    BwdTester().stride({s, 5 - s}).kernel({3, 2}).input(6, 5).Test(GetParam());
  }
}
TEST_P(BwdIsaTest, StrideLargerThanKernel) {
  BwdTester().kernel(2).stride(3).channels(3, 10).Test(GetParam());
  BwdTester().kernel({1, 2}).stride({4, 3}).channels(2, 9).Test(GetParam());
}
TEST_P(BwdIsaTest, Dilation) {
  BwdTester().dilation(2).padding(2).input(9, 11).Test(GetParam());
  BwdTester().dilation({3, 2}).stride(2).kernel({2, 3}).Test(GetParam());
}
TEST_P(BwdIsaTest, PaddingLargerThanKernel) {
  BwdTester().kernel(2).padding(3).stride(3).input(6, 7).Test(GetParam());
  BwdTester().kernel(3).padding({4, 1}).dilation(3).input(5, 6).Test(GetParam());
}
TEST_P(BwdIsaTest, OutputPadding) {
  BwdTester().stride(2).output_padding(1).padding(1).Test(GetParam());
  BwdTester().stride({3, 4}).output_padding({2, 3}).kernel(4).Test(GetParam());
}
TEST_P(BwdIsaTest, Groups) {
  BwdTester().channels(8, 12).groups(4).stride(2).Test(GetParam());
  BwdTester().channels(6, 4).groups(2).kernel({2, 3}).Test(GetParam());
}
TEST_P(BwdIsaTest, Depthwise) {
  BwdTester().channels(16, 16).groups(16).kernel(4).stride(2).padding(1).input(8, 20).Test(
      GetParam());
  BwdTester().channels(5, 10).groups(5).kernel(3).Test(GetParam());
}
TEST_P(BwdIsaTest, ManySmallGroupsInChunksOfTheDyCopy) {
  // bwd_data copies dy's phases for a chunk of groups at a time (~256 KB): 48 groups of 1 and
  // of 2 channels take several chunks, the last one partial; an odd dy width leaves the stride-2
  // unzip a tail; a batch of 2 reuses the copy (its padding stays zero).
  BwdTester()
      .channels(48, 48)
      .groups(48)
      .input(40, 37)
      .kernel(4)
      .stride(2)
      .padding(1)
      .batch(2)
      .output_padding(1)
      .Test(GetParam());
  BwdTester().channels(96, 48).groups(48).input(33, 40).kernel(3).stride(2).Test(GetParam());
}
TEST_P(BwdIsaTest, FewOutputChannelsTakeTapBlocks) {
  // Fewer output channels per group than the bwd_weights tile's columns (AVX-512: 6, AVX2 and
  // scalar: 3): for a finite x its columns are (o, tap row, tap column of a phase) over a
  // zero-padded copy of dy; fsrcnn's shape, dcgan's last layer's, groups with dilation.
  BwdTester().channels(7, 1).input(9, 21).kernel(9).stride(3).padding(4).output_padding(2).Test(
      GetParam());
  BwdTester().channels(10, 2).input(6, 17).kernel(4).stride(2).padding(1).batch(2).Test(GetParam());
  BwdTester().channels(6, 4).groups(2).input(5, 19).kernel({3, 2}).dilation(2).padding({2, 1}).Test(
      GetParam());
}
TEST_P(BwdIsaTest, OneByOneInput) {
  BwdTester().input(1, 1).kernel(4).stride(2).padding(1).Test(GetParam());
  BwdTester().input(1, 1).kernel(1).channels(9, 7).Test(GetParam());
}
TEST_P(BwdIsaTest, RemainderTiles) {
  // Channel counts around the tiles (8, 4, 3 and 6 wide) and widths around the vectors.
  for (int64_t c : {1, 3, 5, 7, 9, 13, 17}) {
    BwdTester().channels(c, 20 - c).input(3, 37).kernel(3).padding(1).Test(GetParam());
  }
  for (int64_t w : {15, 16, 17, 33, 47, 48, 49, 64, 65, 97}) {
    BwdTester().channels(10, 7).input(2, w).kernel(2).stride(2).Test(GetParam());
  }
}
TEST_P(BwdIsaTest, PixelMajorCopiesAroundTheVectors) {
  // The pixel GEMM's transpositions of x, dy and dw in whole blocks, the last block of a
  // dimension past a vector moved back to its edge: channels, widths and taps a few past 8 and 16.
  BwdTester().channels(18, 35).input(3, 21).kernel(5).padding(2).Test(GetParam());
  BwdTester().channels(34, 36).groups(2).input(2, 17).kernel({3, 6}).stride({1, 2}).Test(
      GetParam());
  BwdTester().channels(16, 16).input(4, 16).kernel(4).Test(GetParam());
}
using optimized::BwdDataTiles;

const char* tiles_name(BwdDataTiles t) {
  return t == BwdDataTiles::kRows ? "rows" : t == BwdDataTiles::kPlanes ? "planes" : "gather";
}

// A BwdTester whose bwd_data the cost model sends to `tiles` on the ISA, then tested.
void test_tiles(BwdDataTiles tiles, const BwdTester& t, Isa isa) {
  EXPECT_EQ(tiles_name(optimized::chosen_bwd_data_tiles(t.problem(), isa)), tiles_name(tiles))
      << format_problem(t.problem());
  t.Test(isa);
}

TEST_P(BwdIsaTest, NarrowImagesWithFewChannelsTakeThePlanes) {
  // Rows much narrower than a vector or two and few input channels per group: bwd_data tiles
  // the flattened pixels of dy's zero-padded phase planes.
  const auto planes = [&](const BwdTester& t) { test_tiles(BwdDataTiles::kPlanes, t, GetParam()); };
  planes(BwdTester().channels(4, 16).input(6, 5).kernel(3).stride(2).padding(1));
  planes(BwdTester().channels(4, 16).input(4, 4).kernel(4).stride(2).padding(1).batch(2));
  planes(BwdTester().channels(6, 24).input(5, 3).kernel(3).stride(2).groups(2).batch(2));
  // Phase rows longer than the taps read (stride 3, output padding 2: the grid is as wide as the
  // longest), stride in one dimension only, a dy width the stride-2 unzip leaves a tail of.
  planes(BwdTester().channels(3, 16).input(5, 4).kernel(4).stride(3).output_padding(2));
  planes(BwdTester().channels(2, 16).input(4, 5).kernel(3).stride({2, 1}).padding(1));
  planes(BwdTester().channels(2, 16).input(3, 5).kernel(3).stride({1, 2}).output_padding({0, 1}));
  // Taps that miss dy entirely (a 3-wide kernel dilated by 5, padded by 5), a padding larger
  // than the kernel (zero rows and columns before the planes' values), a stride above the
  // kernel (phases no tap reads), two rows.
  planes(BwdTester().channels(2, 16).input(4, 3).kernel(3).dilation(5).padding(5));
  planes(BwdTester().channels(3, 16).input(4, 5).kernel(3).padding(3).stride(2).dilation(2));
  planes(BwdTester().channels(3, 16).input(5, 4).kernel(2).stride(3));
  planes(BwdTester().channels(4, 16).input(2, 5).kernel(3).stride(2));
  planes(BwdTester().channels(4, 16).input(5, 6).kernel(4).stride(2).padding(1).threads(2));
}
TEST_P(BwdIsaTest, NarrowImagesWithManyChannelsTakeTheGather) {
  // Many input channels per group share one copy of dy per tap (dcgan's first layers, pose-head).
  const auto gather = [&](const BwdTester& t) { test_tiles(BwdDataTiles::kGather, t, GetParam()); };
  gather(BwdTester().channels(256, 4).input(4, 4).kernel(4).stride(2).padding(1));
  gather(BwdTester().channels(512, 6).input(3, 7).kernel(3).dilation(2).padding(3).groups(2));
  // Its dy goes through the column phases first: tap columns that miss dy entirely, an odd width
  // at stride 2 (the unzip's tail).
  gather(BwdTester().channels(256, 3).input(4, 3).kernel(3).dilation(5).padding(5));
  gather(BwdTester().channels(256, 4).input(5, 5).kernel(3).stride(2).padding(1).output_padding(1));
}
TEST_P(BwdIsaTest, WideRowsTakeTheRows) {
  test_tiles(BwdDataTiles::kRows, BwdTester().channels(16, 16).input(3, 64).kernel(3).padding(1),
             GetParam());
  // dcgan's last layer (three output channels: the planes' copy out would not pay) and a
  // depthwise layer.
  test_tiles(BwdDataTiles::kRows,
             BwdTester().channels(64, 3).input(2, 32).kernel(4).stride(2).padding(1), GetParam());
  test_tiles(BwdDataTiles::kRows,
             BwdTester().channels(8, 8).groups(8).input(3, 64).kernel(4).stride(2).padding(1),
             GetParam());
}
TEST_P(BwdIsaTest, ReleaseScratchFreesTheKeptBuffersAndRunsStillAgree) {
  // The copies of dy (backward) and the padded input (forward) stay with the calling thread
  // between runs; release_scratch() gives them back, and the next run allocates them again and
  // computes the same results.
  const Problem pr = parse_problem("mb1ic32ih64oc32kh4sh2ph1");
  const auto d = make_data<float>(pr, Regime::kInteger, 9, Pass::kBwdData);
  const auto runs = [&] {
    std::vector<Tensor<float>> r;
    Params fwd = pr.params;
    fwd.bias = false;
    r.push_back(optimized::conv_transpose2d(fwd, d.x, d.w, nullptr, 1, GetParam(),
                                            optimized::Path::kDirect));
    for (Pass pass : kBwdPasses) r.push_back(run_pass(pass, pr.params, d, GetParam(), 1));
    return r;
  };
  const std::vector<Tensor<float>> first = runs();  // kernel names and tables: built once
  int64_t kept = 0, after = 0, before = 0;
  std::vector<Tensor<float>> again;
  std::thread t([&] {  // a thread whose scratch starts empty
    before = testing::live_allocated_bytes();
    runs();
    kept = testing::live_allocated_bytes() - before;
    optimized::release_scratch();
    after = testing::live_allocated_bytes() - before;
    again = runs();
    optimized::release_scratch();
  });
  t.join();
  // dy's phase copy alone is 32 channels of 128 rows of two phase rows of 64+ floats: 2 MB.
  EXPECT_GE(kept, int64_t{2} << 20);
  EXPECT_LE(after, 0);
  ASSERT_EQ(again.size(), first.size());
  for (size_t i = 0; i < first.size(); ++i) {
    EXPECT_EQ(again[i].data, first[i].data) << "run " << i;
  }
}

TEST_P(BwdIsaTest, WorkingBytesBoundTheAllocations) {
  // bwd_*_working_bytes bound what a run allocates (through operator new, the returned tensor
  // excepted) on each tiling and algorithm and thread count.
  for (const char* s :
       {"mb1ic4ih6iw5oc16kh3sh2ph1", "mb2ic256ih4oc4kh4sh2ph1", "mb1ic16ih3iw64oc16kh3ph1",
        "mb1ic32ih8oc64kh2sh2", "mb1ic8ih3iw40oc2kh4sh2ph1g2", "mb1ic3ih5iw4oc16kh4sh3oph2"}) {
    SCOPED_TRACE(s);
    const Problem pr = parse_problem(s);
    for (Pass pass : kBwdPasses) {
      const auto d = make_data<float>(pr, Regime::kReal, 4, pass);
      for (BwdAlgo algo : algos_of(pass)) {
        for (int threads : {1, 2}) {
          const int64_t declared =
              pass == Pass::kBwdData
                  ? optimized::bwd_data_working_bytes(pr, GetParam(), threads)
                  : optimized::bwd_weights_working_bytes(pr, GetParam(), threads);
          // Once before measuring: the kernel tables' names are built on their first use, once
          // per process, not per run.
          run_pass(pass, pr.params, d, GetParam(), threads, algo);
          int64_t result_bytes = 0;
          const int64_t peak = testing::peak_allocated_bytes([&] {
            const Tensor<float> r = run_pass(pass, pr.params, d, GetParam(), threads, algo);
            result_bytes = r.size() * 4 + static_cast<int64_t>(r.shape.size() * sizeof(int64_t));
          });
          EXPECT_LE(peak - result_bytes, declared)
              << to_string(pass) << ", algorithm " << algo_name(algo) << ", " << threads
              << " thread(s)";
        }
      }
    }
  }
}
TEST_P(BwdIsaTest, LongChannelSumAcrossBlocks) {
  // More than one K block of the GEMM's bwd_data (OC/G · kh · kw > 256) and its bwd_weights
  // (N · H · W > 256), with remainder tiles in rows and columns.
  BwdTester().channels(20, 40).input(5, 7).kernel(3).stride(2).padding(1).Test(GetParam());
  BwdTester().batch(3).channels(11, 29).input(9, 13).kernel({3, 4}).groups(1).Test(GetParam());
}
TEST_P(BwdIsaTest, Batch) {
  BwdTester().batch(3).channels(6, 5).stride(2).kernel(3).Test(GetParam());
}
TEST_P(BwdIsaTest, LongPixelSumAcrossBlocks) {
  // Enough rows of the batch that bwd_weights blocks its pixel sum.
  BwdTester().batch(5).channels(3, 2).input(40, 40).kernel(3).padding(1).Test(GetParam());
}
TEST_P(BwdIsaTest, ThreadCountDoesNotChangeResults) {
  Problem pr;
  pr.mb = 2;
  pr.ih = 9;
  pr.iw = 21;
  pr.params.in_channels = 12;
  pr.params.out_channels = 10;
  pr.params.kernel_size = 3;
  pr.params.stride = 2;
  pr.params.bias = false;
  for (Pass pass : kBwdPasses) {
    const auto d = make_data<float>(pr, Regime::kReal, 5, pass);
    for (BwdAlgo algo : algos_of(pass)) {
      EXPECT_EQ(run_pass(pass, pr.params, d, GetParam(), 1, algo),
                run_pass(pass, pr.params, d, GetParam(), 3, algo))
          << to_string(pass) << ", algorithm " << algo_name(algo);
    }
  }
}
TEST_P(BwdIsaTest, EmptyBatch) {
  Problem pr;
  pr.mb = 0;
  pr.params.in_channels = 4;
  pr.params.out_channels = 6;
  pr.params.kernel_size = 3;
  pr.params.bias = false;
  for (Pass pass : kBwdPasses) {
    const auto d = make_data<float>(pr, Regime::kInteger, 1, pass);
    const Tensor<float> r = run_pass(pass, pr.params, d, GetParam(), 0);
    EXPECT_EQ(r.shape, result_shape(pr, pass));
    for (float v : r.data) EXPECT_EQ(v, 0.0f);  // bwd_weights: an empty sum
  }
}

// NaN and infinity where a plain sum over the definition's terms puts them: the padding of dy's
// copy must not meet an infinite weight (bwd_data), and no pixel outside the definition may meet
// an infinite x (bwd_weights).
TEST_P(BwdIsaTest, NonFiniteValuesPropagateLikeThePlainSum) {
  Problem pr;
  pr.mb = 1;
  pr.ih = 4;
  pr.iw = 5;
  pr.params.in_channels = 3;
  pr.params.out_channels = 2;
  pr.params.kernel_size = 3;
  pr.params.stride = 2;
  pr.params.padding = 1;
  pr.params.bias = false;
  const float inf = std::numeric_limits<float>::infinity();
  for (Pass pass : kBwdPasses) {
    auto d = make_data<float>(pr, Regime::kInteger, 3, pass);
    d.w.data[4] = inf;
    d.w.data[9] = -inf;
    d.x.data[0] = inf;  // a corner pixel: some taps leave dy there
    d.x.data[d.x.data.size() - 1] = std::numeric_limits<float>::quiet_NaN();
    d.dy.data[7] = -inf;
    const Tensor<float> want =
        conv_transpose2d_pass<float, float>(pass, pr.params, &d.x, &d.w, nullptr, &d.dy);
    for (BwdAlgo algo : algos_of(pass)) {
      const Tensor<float> r = run_pass(pass, pr.params, d, GetParam(), 0, algo);
      ASSERT_EQ(r.shape, want.shape);
      for (size_t i = 0; i < r.data.size(); ++i) {
        if (std::isnan(want.data[i])) {
          EXPECT_TRUE(std::isnan(r.data[i]))
              << to_string(pass) << " element " << i << ", algorithm " << algo_name(algo);
        } else {
          EXPECT_EQ(r.data[i], want.data[i])
              << to_string(pass) << " element " << i << ", algorithm " << algo_name(algo);
        }
      }
    }
  }
}

TEST_P(BwdIsaTest, ShapeErrorsNameTheTensor) {
  Params p;
  p.in_channels = 2;
  p.out_channels = 3;
  p.kernel_size = 2;
  p.bias = false;
  const Tensor<float> w(weight_shape(p)), x(Shape{1, 2, 4, 4}), bad(Shape{1, 4, 5, 5});
  try {
    optimized::conv_transpose2d_bwd_data(p, bad, w, 0, GetParam());
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.subject(), "dy");
  }
  try {
    optimized::conv_transpose2d_bwd_weights(p, x, bad, 0, GetParam());
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.subject(), "dy");
  }
  try {
    optimized::conv_transpose2d_bwd_weights(p, bad, Tensor<float>(Shape{1, 3, 5, 5}), 0,
                                            GetParam());
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.subject(), "x");
  }
  try {
    optimized::conv_transpose2d_bwd_data(p, Tensor<float>(Shape{1, 3, 5, 5}), x, 0, GetParam());
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.subject(), "weight");
  }
}

// A random sweep of small valid problems, both passes.
TEST_P(BwdIsaTest, RandomProblems) {
  uint64_t s = 12345;
  const auto next = [&](int64_t lo, int64_t hi) {
    s = s * 6364136223846793005ULL + 1442695040888963407ULL;
    return lo + static_cast<int64_t>((s >> 33) % static_cast<uint64_t>(hi - lo + 1));
  };
  int tested = 0;
  for (int i = 0; i < 60; ++i) {
    Problem pr;
    pr.mb = next(0, 2);
    pr.ih = next(1, 9);
    pr.iw = next(1, 23);
    const int64_t g = next(1, 3);
    pr.params.groups = g;
    pr.params.in_channels = g * next(1, 9);
    pr.params.out_channels = g * next(1, 9);
    pr.params.kernel_size = {next(1, 4), next(1, 4)};
    pr.params.stride = {next(1, 4), next(1, 4)};
    pr.params.dilation = {next(1, 3), next(1, 3)};
    pr.params.padding = {next(0, 4), next(0, 4)};
    pr.params.output_padding = {next(0, pr.params.stride.h - 1), next(0, pr.params.stride.w - 1)};
    pr.params.bias = false;
    try {
      validate(pr);
    } catch (const Error&) {
      continue;  // e.g. an empty output
    }
    ++tested;
    for (Pass pass : kBwdPasses) {
      const auto d = make_data<float>(pr, Regime::kInteger, static_cast<uint64_t>(i), pass);
      for (BwdAlgo algo : algos_of(pass)) {
        EXPECT_TRUE(judged(pass, pr, d, run_pass(pass, pr.params, d, GetParam(), 0, algo), true))
            << "algorithm " << algo_name(algo);
      }
    }
  }
  EXPECT_GT(tested, 30);
}

// The automatic choice (the cost models of backward.cc, bwd_weights.cc): dcgan-2's 4×4 image
// sends bwd_weights to the packed GEMM (its 2M-float dw is too large for the pixel GEMM) and
// bwd_data to the direct gather; unet's 2×2 kernel at stride 2 keeps bwd_data's direct rows (their
// dy rows fit in the L2 cache); fcn8s' 16×16 kernel (dy rows beyond it) sends bwd_data to the
// planes where the ISA's tiles hold 24 accumulators (AVX-512), else to the GEMM; depthwise keeps
// the direct tiles in both passes.
TEST_P(BwdIsaTest, AutomaticAlgorithmFollowsTheShape) {
  const auto algos = [&](const char* problem) {
    const Problem pr = parse_problem(problem);
    return std::pair{optimized::chosen_bwd_data_algo(pr, GetParam()),
                     optimized::chosen_bwd_weights_algo(pr, GetParam())};
  };
  const bool avx512 = GetParam() == Isa::kAvx512;
  EXPECT_EQ(algos("mb1ic512ih4oc256kh4sh2ph1"), std::pair(BwdAlgo::kDirect, BwdAlgo::kGemm));
  EXPECT_EQ(algos("mb1ic256ih32oc128kh2sh2").first, BwdAlgo::kDirect);
  EXPECT_EQ(optimized::chosen_bwd_data_tiles(parse_problem("mb1ic256ih32oc128kh2sh2"), GetParam()),
            BwdDataTiles::kRows);
  const Problem fcn8s = parse_problem("mb1ic21ih70oc21kh16sh8");
  if (GetParam() == Isa::kAvx512) {
    EXPECT_EQ(algos("mb1ic21ih70oc21kh16sh8").first, BwdAlgo::kDirect);
    EXPECT_EQ(optimized::chosen_bwd_data_tiles(fcn8s, GetParam()), BwdDataTiles::kPlanes);
  } else {
    EXPECT_EQ(algos("mb1ic21ih70oc21kh16sh8").first, BwdAlgo::kGemm);
  }
  EXPECT_EQ(algos("mb1ic64ih64oc64kh4sh2ph1g64"), std::pair(BwdAlgo::kDirect, BwdAlgo::kDirect));
  // A vector of output channels per group or more: the pixel-major GEMM at stride 1 (stride1-3x3,
  // dilated-d2), and at stride 2 on AVX-512 (grouped-g4); with fewer never, nor for a dw beyond
  // 1M floats (pose-head's 8M).
  EXPECT_EQ(algos("mb1ic64ih56oc64kh3ph1").second, BwdAlgo::kPixelGemm);
  EXPECT_EQ(algos("mb1ic64ih28oc64kh3ph2dh2").second, BwdAlgo::kPixelGemm);
  EXPECT_EQ(algos("mb1ic64ih28oc64kh3sh2ph1oph1g4").second == BwdAlgo::kPixelGemm, avx512);
  EXPECT_NE(algos("mb1ic64ih32oc3kh4sh2ph1").second, BwdAlgo::kPixelGemm);
  EXPECT_NE(algos("mb1ic2048ih8iw6oc256kh4sh2ph1").second, BwdAlgo::kPixelGemm);
}

// The pixel-major GEMM has no bwd_data side: asking for it is an error naming the algorithm.
TEST_P(BwdIsaTest, BwdDataRefusesThePixelGemm) {
  const Problem pr = parse_problem("mb1ic4ih5oc8kh3");
  const auto d = make_data<float>(pr, Regime::kInteger, 1, Pass::kBwdData);
  try {
    run_pass(Pass::kBwdData, pr.params, d, GetParam(), 1, BwdAlgo::kPixelGemm);
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.subject(), "algo") << e.what();
  }
}

TEST_P(BwdIsaTest, WorkingBytesIgnorePaddingAndDilationAlone) {
  Problem pr;
  pr.ih = pr.iw = 4;
  pr.params.in_channels = pr.params.out_channels = 2;
  pr.params.kernel_size = 3;
  pr.params.dilation = 1000000;
  pr.params.padding = 999999;  // Hout = 3 + 2·10^6 - 2·999999 + 1 = 6
  pr.params.bias = false;
  EXPECT_LT(optimized::bwd_data_working_bytes(pr, GetParam(), 1), 1 << 20);
  EXPECT_LT(optimized::bwd_weights_working_bytes(pr, GetParam(), 1), 1 << 20);
  BwdTester().input(4, 4).channels(2, 2).kernel(3).dilation(1000).padding(999).Test(GetParam());
}

TEST(BwdKernels, NamesSayPassTypeTileAndIsa) {
  Params p;
  p.in_channels = 64;
  p.out_channels = 8;
  p.kernel_size = 3;
  p.bias = false;
  if (optimized::cpu_supports(Isa::kAvx512)) {
    EXPECT_EQ(
        optimized::pack_bwd_data(p, Tensor<float>(weight_shape(p)), Isa::kAvx512).kernel_names(),
        "convt2d_bwd_data_f32_8x48__avx512");
    EXPECT_EQ(optimized::bwd_weights_kernel_names(Isa::kAvx512),
              "convt2d_bwd_weights_f32_4x6__avx512");
  }
  EXPECT_EQ(
      optimized::pack_bwd_data(p, Tensor<float>(weight_shape(p)), Isa::kScalar).kernel_names(),
      "convt2d_bwd_data_f32_4x24__scalar");
  EXPECT_EQ(optimized::bwd_weights_kernel_names(Isa::kScalar),
            "convt2d_bwd_weights_f32_3x3__scalar");
}

INSTANTIATE_TEST_SUITE_P(AllIsas, BwdIsaTest,
                         ::testing::Values(Isa::kScalar, Isa::kAvx2, Isa::kAvx512), isa_name);

}  // namespace
}  // namespace convt2d

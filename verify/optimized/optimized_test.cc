// The optimized implementation against the exact reference, per ISA (an ISA this CPU lacks is
// skipped): bit-equal on integer data, within the certified float32 bound on real and
// cancellation data, NaN/Inf where the definition puts them. Named edge cases use the
// builder-style tester; a random sweep covers the rest.
#include "convt2d/optimized.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>

#include "alloc_counter.h"
#include "convt2d/compare.h"
#include "convt2d/error.h"
#include "convt2d/fill.h"
#include "convt2d/reference.h"

namespace convt2d {
namespace {

using optimized::Isa;
using optimized::Path;

// Every test runs every algorithm: auto would send most small problems down the direct path.
constexpr Path kPaths[] = {Path::kDirect, Path::kGemm, Path::kStream};

class IsaTest : public ::testing::TestWithParam<Isa> {
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

// Judges y against the exact result of (pr, d) with the compare module.
::testing::AssertionResult judged(const Problem& pr, const ProblemData<float>& d,
                                  const Tensor<float>& y, bool exact) {
  const Case c{pr, d.x, d.w, pr.params.bias ? std::optional<AnyTensor>(d.b) : std::nullopt};
  const Truth truth = compute_truth(c);
  const Tensor<double> bound =
      exact ? Tensor<double>(output_shape(pr)) : case_bound(c, kFloat32Precision);
  const Report r =
      compare_outputs(truth, y, bound, nullptr, DType::kFloat32, Arithmetic{kFloat32Precision});
  if (r.passed()) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << format_problem(pr) << "\n" << format_report(r);
}

/// Builder for one problem, XNNPACK style: ConvTransposeTester().stride(2).groups(4).Test(isa).
class ConvTransposeTester {
 public:
  ConvTransposeTester& batch(int64_t n) { return set(pr_.mb, n); }
  ConvTransposeTester& input(int64_t h, int64_t w) { return set(pr_.ih, h), set(pr_.iw, w); }
  ConvTransposeTester& channels(int64_t ic, int64_t oc) {
    pr_.params.in_channels = ic;
    pr_.params.out_channels = oc;
    return *this;
  }
  ConvTransposeTester& kernel(Pair k) { return set(pr_.params.kernel_size, k); }
  ConvTransposeTester& stride(Pair s) { return set(pr_.params.stride, s); }
  ConvTransposeTester& padding(Pair p) { return set(pr_.params.padding, p); }
  ConvTransposeTester& output_padding(Pair p) { return set(pr_.params.output_padding, p); }
  ConvTransposeTester& dilation(Pair d) { return set(pr_.params.dilation, d); }
  ConvTransposeTester& groups(int64_t g) { return set(pr_.params.groups, g); }
  ConvTransposeTester& bias(bool b) { return set(pr_.params.bias, b); }
  ConvTransposeTester& pytorch_rule() {
    return set(pr_.params.output_padding_rule, OutputPaddingRule::kPyTorch);
  }
  ConvTransposeTester& threads(int t) { return set(threads_, t); }
  /// The algorithm forced (default: auto), checked to be the one packed.
  ConvTransposeTester& path(Path p) { return set(path_, p); }

  /// Integer data must match the reference bit for bit; real and cancellation data must lie
  /// within the certified float32 bound.
  void Test(Isa isa) const {
    validate(pr_);
    const auto packed = [&](const ProblemData<float>& d) {
      return optimized::pack(pr_.params, d.w, isa, path_);
    };
    for (Regime regime : {Regime::kInteger, Regime::kReal, Regime::kCancellation}) {
      const auto d = make_data<float>(pr_, regime, 7);
      const auto pw = packed(d);
      if (path_ != Path::kAuto) {
        EXPECT_EQ(pw.path(), path_);
      }
      const Tensor<float> y = optimized::run(pw, d.x, d.bias(), threads_);
      EXPECT_TRUE(judged(pr_, d, y, regime == Regime::kInteger)) << to_string(regime);
    }
  }

 private:
  template <class T, class V>
  ConvTransposeTester& set(T& field, V v) {
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
  Path path_ = Path::kAuto;
};

TEST_P(IsaTest, OneByOneStrideOne) {
  ConvTransposeTester().kernel(1).Test(GetParam());
}
TEST_P(IsaTest, DcganBlock) {
  ConvTransposeTester().channels(32, 16).input(4, 4).kernel(4).stride(2).padding(1).Test(
      GetParam());
}
TEST_P(IsaTest, StrideLargerThanKernel) {
  // Phases no tap reaches hold the bias alone.
  ConvTransposeTester().kernel(2).stride(3).channels(3, 10).Test(GetParam());
}
TEST_P(IsaTest, StrideLargerThanKernelNoBias) {
  ConvTransposeTester().kernel({1, 2}).stride({4, 3}).channels(2, 9).bias(false).Test(GetParam());
}
TEST_P(IsaTest, PaddingBeyondKernelExtent) {
  ConvTransposeTester().input(9, 8).kernel(3).stride(2).padding({5, 4}).Test(GetParam());
}
TEST_P(IsaTest, DilationEqualToStride) {
  // Every tap lands in phase 0; the other phases are bias only.
  ConvTransposeTester().kernel(3).stride(2).dilation(2).channels(4, 12).Test(GetParam());
}
TEST_P(IsaTest, DilationCoprimeToStride) {
  ConvTransposeTester().kernel(4).stride(3).dilation(2).padding(2).output_padding(1).Test(
      GetParam());
}
TEST_P(IsaTest, PyTorchOutputPaddingBelowDilation) {
  ConvTransposeTester().stride(1).dilation(3).output_padding(2).pytorch_rule().Test(GetParam());
}
TEST_P(IsaTest, AsymmetricEverything) {
  ConvTransposeTester()
      .input(6, 11)
      .channels(6, 9)
      .kernel({2, 5})
      .stride({3, 2})
      .padding({1, 3})
      .output_padding({2, 1})
      .dilation({2, 1})
      .Test(GetParam());
}
TEST_P(IsaTest, GroupsWithOutputPadding) {
  ConvTransposeTester()
      .channels(8, 16)
      .groups(4)
      .kernel(3)
      .stride(2)
      .padding(1)
      .output_padding(1)
      .Test(GetParam());
}
TEST_P(IsaTest, Depthwise) {
  ConvTransposeTester().channels(6, 6).groups(6).input(16, 20).kernel(4).stride(2).padding(1).Test(
      GetParam());
}
TEST_P(IsaTest, ManySmallGroupsPadTheirOwnInput) {
  // Enough (image, group) pairs that each work item pads its own group's input (direct path).
  ConvTransposeTester()
      .batch(2)
      .channels(16, 16)
      .groups(16)
      .input(9, 11)
      .kernel(4)
      .stride(2)
      .padding(1)
      .Test(GetParam());
  ConvTransposeTester()
      .batch(3)
      .channels(12, 24)
      .groups(4)
      .input(5, 7)
      .kernel(3)
      .stride(2)
      .output_padding(1)
      .threads(1)
      .Test(GetParam());
}
TEST_P(IsaTest, HugeStridesCostOnlyTheirOutput) {
  // Stride 10^9 on a 1×1 input: 10^18 phases, of which the output (5×5) touches 25. Per-phase
  // state for all of them would not fit in memory.
  ConvTransposeTester()
      .input(1, 1)
      .channels(3, 40)
      .kernel(3)
      .dilation(2)
      .stride(1000000000)
      .Test(GetParam());
  // One output channel (the fused-phase tiles): 10^15 row phases per phase row, 4 of them with
  // outputs. Visiting every phase would not finish.
  for (int64_t oc : {1, 2}) {
    ConvTransposeTester()
        .input(1, 3)
        .channels(2 * oc, oc)
        .groups(oc)
        .kernel({4, 2})
        .stride({1000000000000000, 2})
        .Test(GetParam());
  }
  // Sparse phases on real images: most phases hold the bias alone.
  ConvTransposeTester()
      .input(2, 3)
      .channels(2, 40)
      .kernel({2, 3})
      .stride({300, 7})
      .dilation({2, 1})
      .Test(GetParam());
  ConvTransposeTester()
      .batch(2)
      .input(1, 1)
      .channels(3, 33)
      .kernel({3, 2})
      .stride({50, 40})
      .dilation({20, 30})
      .Test(GetParam());
  // Column phases narrower than the stride, in more than one group of phases.
  ConvTransposeTester()
      .input(2, 1)
      .channels(2, 36)
      .kernel({1, 40})
      .stride({2, 100})
      .dilation({1, 3})
      .padding({0, 7})
      .Test(GetParam());
}
// Padding, dilation or strides up to 2^62 with outputs of a few elements (issue 14's repros
// first: padding rows by the taps' offsets wrapped an int64 product and overran the heap, or
// allocated 8 GB for 3 outputs, or asked for a vector beyond max_size()).
constexpr const char* kHugeGeometry[] = {
    // Every tap beside the input: the output is the bias alone.
    "mb1ic4ih1iw1oc1kh1kw2pw2305843009213693951dh1dw4611686018427387904",
    "mb1ic1ih1iw1oc1kh1kw2pw999999999dh1dw2000000000",
    "mb1ic1ih1oc1kh2dh4611686018427387904ph2305843009213693951",
    // The middle one of three taps 2^61 apart lands on the input, the outer two beside it; in W,
    // then in both dimensions.
    "mb1ic2ih1iw5oc3kh1kw3pw2305843009213693951dw2305843009213693952",
    "mb1ic3ih4iw3oc2kh3kw3ph2305843009213693951pw2305843009213693951dh2305843009213693952"
    "dw2305843009213693952",
    // GEMM-sized channel counts, and a batch.
    "mb2ic3ih1iw4oc40kh1kw3pw1152921504606846975dw1152921504606846976",
    // One output channel with phases that share their tap offsets (the fused-phase tiles' shape).
    "mb1ic2ih2iw3oc1kh2sh2kw3pw2305843009213693951dw2305843009213693952",
    // Strides of 2^40 on both dimensions, cancelled by the padding: only the middle input row
    // and column land in the output.
    "mb1ic2ih3iw3oc2kh3kw3sh1099511627776sw1099511627776ph1099511627775pw1099511627775",
    "mb1ic2ih3iw3oc33kh3kw3sh1099511627776sw1099511627776ph1099511627775pw1099511627775",
};

// Every path computes them exactly (integer data) or within the bound, and allocates no more
// than a few pages for them (tile buffers and padded rows of a few vectors).
TEST_P(IsaTest, HugePaddingDilationAndStridesCostOnlyTheirOutput) {
  for (const char* s : kHugeGeometry) {
    SCOPED_TRACE(s);
    const Problem pr = parse_problem(s);
    for (Regime regime : {Regime::kInteger, Regime::kReal}) {
      const auto d = make_data<float>(pr, regime, 9);
      for (Path path : {Path::kAuto, Path::kDirect, Path::kGemm, Path::kStream}) {
        Tensor<float> y;
        const int64_t peak = testing::peak_allocated_bytes([&] {
          y = optimized::conv_transpose2d(pr.params, d.x, d.w, d.bias(), 0, GetParam(), path);
        });
        EXPECT_TRUE(judged(pr, d, y, regime == Regime::kInteger)) << optimized::to_string(path);
        EXPECT_LT(peak, 1 << 20) << optimized::to_string(path) << " path";
      }
    }
  }
}

// Phases far wider than the input (a large dilation): each tap reaches only some of a phase's
// tiles, and each tile leaves out the taps that read no input column for its outputs; with
// groups (each item pads its group), zipped stride-2 stores, the row buffer's phase groups.
TEST_P(IsaTest, PhasesWiderThanTheInputLeaveOutTapsPerTile) {
  for (const char* s : {"mb1ic2ih2iw3oc2kh1kw2dw500", "mb1ic3ih2iw3oc4kh2kw4sw2dw101",
                        "mb2ic8ih3iw2oc8kh2kw2dw300g8", "mb1ic2ih3iw1oc9kh3kw3sw3dh40dw41ph3pw20",
                        "mb1ic2ih1iw2oc40kh1kw3dw200pw150"}) {
    SCOPED_TRACE(s);
    const Problem pr = parse_problem(s);
    for (Regime regime : {Regime::kInteger, Regime::kReal}) {
      const auto d = make_data<float>(pr, regime, 4);
      for (Path path : kPaths) {
        const Tensor<float> y =
            optimized::conv_transpose2d(pr.params, d.x, d.w, d.bias(), 0, GetParam(), path);
        EXPECT_TRUE(judged(pr, d, y, regime == Regime::kInteger)) << optimized::to_string(path);
      }
    }
  }
  // Every dilation from 40 to 140 with one to five input columns and the channel counts of each
  // tile height: a tap's first or last input column then falls on every position of a tile, its
  // first and last output included.
  for (int64_t oc : {1, 2, 3, 9}) {
    for (int64_t iw : {1, 2, 5}) {
      for (int64_t dw = 40; dw <= 140; ++dw) {
        Problem pr = parse_problem("mb1ic2ih2oc1kh1kw2");
        pr.iw = iw;
        pr.params.out_channels = oc;
        pr.params.dilation.w = dw;
        const auto d = make_data<float>(pr, Regime::kInteger, 5);
        const Tensor<float> y = optimized::conv_transpose2d(pr.params, d.x, d.w, d.bias(), 1,
                                                            GetParam(), Path::kDirect);
        ASSERT_TRUE(judged(pr, d, y, true));
      }
    }
  }
}

// What a run may allocate by its real work alone (never by its padding, dilation or stride):
// 64 floats per input, weight and output element (the GEMM's result tiles are 48 pixels wide even
// for a one-pixel output), the zero padding of each input row (two tiles of 6 vectors of 16
// floats), 2 KiB per kernel tap (tap lists, the GEMM's row copies) and 128 KiB (the GEMM's packing
// panel of 5/6 of L1, the direct path's row buffer), for the calling thread and for each thread.
int64_t real_work_bytes(const Problem& pr, int threads) {
  const int64_t elements = element_count(input_shape(pr)) + element_count(weight_shape(pr.params)) +
                           element_count(output_shape(pr));
  const int64_t input_rows = pr.mb * pr.params.in_channels * pr.ih;
  const int64_t taps = pr.params.kernel_size.h * pr.params.kernel_size.w;
  return (threads + 1) * (256 * elements + 768 * input_rows + 2048 * taps + (128 << 10));
}

// working_bytes() bounds what a run allocates (measured through operator new, the returned y
// excepted), on every path and thread count, for the huge geometries above and for layers of
// every kernel family (fused phases, stride-2 rows, per-group padding, power-of-two strides,
// permute packing, many small phases); and it stays within the real work's bound.
TEST_P(IsaTest, WorkingBytesBoundTheAllocations) {
  std::vector<std::string> problems(std::begin(kHugeGeometry), std::end(kHugeGeometry));
  for (const char* s :
       {"mb1ic16ih12oc24kh4sh2ph1", "mb2ic24ih9iw13oc40kh3sh2ph1oph1", "mb1ic5ih7oc1kh9sh3ph4oph2",
        "mb1ic3ih9iw20oc3kh3sh2g3", "mb2ic16ih9iw11oc16kh4sh2ph1g16", "mb1ic3ih3iw9oc5kh2kw8sw8",
        "mb1ic20ih4oc40kh4sh2ph1", "mb1ic2ih1iw1oc36kh1kw40sh2sw100dw3pw7", "mb0ic4ih5oc6kh3sh2",
        "mb1ic2ih2iw3oc2kh1kw2dw500", "mb1ic1ih1oc256kh1", "mb1ic2ih8iw10oc3kh13kw13ph5"}) {
    problems.emplace_back(s);
  }
  for (const std::string& s : problems) {
    SCOPED_TRACE(s);
    const Problem pr = parse_problem(s);
    const auto d = make_data<float>(pr, Regime::kReal, 2);
    for (Path path : {Path::kAuto, Path::kDirect, Path::kGemm, Path::kStream}) {
      for (int threads : {1, 2}) {
        const int64_t declared = optimized::working_bytes(pr, GetParam(), path, threads);
        EXPECT_LE(declared, real_work_bytes(pr, threads)) << optimized::to_string(path);
        int64_t y_bytes = 0;
        const int64_t peak = testing::peak_allocated_bytes([&] {
          const Tensor<float> y =
              optimized::conv_transpose2d(pr.params, d.x, d.w, d.bias(), threads, GetParam(), path);
          y_bytes = y.size() * 4 + static_cast<int64_t>(y.shape.size() * sizeof(int64_t));
        });
        EXPECT_LE(peak - y_bytes, declared)
            << optimized::to_string(path) << " path, " << threads << " thread(s)";
      }
    }
  }
  // Inf weights take the direct tiles where the fused-phase ones would run: declared too.
  const Problem pr = parse_problem("mb1ic5ih7oc1kh9sh3ph4oph2");
  auto d = make_data<float>(pr, Regime::kReal, 2);
  d.w.data[3] = std::numeric_limits<float>::infinity();
  const int64_t peak = testing::peak_allocated_bytes(
      [&] { optimized::conv_transpose2d(pr.params, d.x, d.w, d.bias(), 1, GetParam()); });
  EXPECT_LE(peak - element_count(output_shape(pr)) * 4 - 32,
            optimized::working_bytes(pr, GetParam(), Path::kAuto, 1));
}

TEST_P(IsaTest, HalfWorkingBytesBoundTheAllocations) {
  for (const char* s : {kHugeGeometry[0], kHugeGeometry[3], "mb2ic8ih5iw6oc6kh4sh2ph1",
                        "mb1ic64ih6oc40kh3sh2ph1oph1", "mb1ic6ih7oc6kh4sh2ph1g6"}) {
    SCOPED_TRACE(s);
    Problem pr = parse_problem(s);
    pr.params.compute_mode = ComputeMode::kFloat32;
    const auto d = make_data<float16>(pr, Regime::kReal, 2);
    const int64_t declared = optimized::working_bytes_half(pr, GetParam(), 1);
    EXPECT_LE(declared, real_work_bytes(pr, 1) + 12 * element_count(output_shape(pr)));
    int64_t y_bytes = 0;
    const int64_t peak = testing::peak_allocated_bytes([&] {
      const Tensor<float16> y =
          optimized::conv_transpose2d(pr.params, d.x, d.w, d.bias(), 1, GetParam());
      y_bytes = y.size() * 2 + static_cast<int64_t>(y.shape.size() * sizeof(int64_t));
    });
    EXPECT_LE(peak - y_bytes, declared);
  }
}

TEST_P(IsaTest, WorkingBytesValidatesAndNamesOverflows) {
  EXPECT_THROW(optimized::working_bytes(parse_problem("mb1ic4ih5oc6kh3sh2g4"), GetParam()), Error);
  // 2^59 - 1 input rows of one float, each padded to a vector: valid (the input's bytes fit),
  // but the padded input's bytes overflow int64.
  const Problem big = parse_problem("mb1ic1ih576460752303423487iw1oc1kh1");
  validate(big);
  try {
    optimized::working_bytes(big, GetParam(), Path::kDirect, 1);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("padded input"), std::string::npos) << e.what();
  }
}

TEST_P(IsaTest, DepthwiseStrideTwoRowsOfEveryWidth) {
  // Odd and even output widths, tails shorter than a vector, boundary rows with fewer taps,
  // one-column input; 3×3 takes the fused stride-2 row kernel (its phases' tap offsets differ),
  // 4×4 the fused-phase tiles.
  for (int64_t iw : {1, 2, 7, 8, 9, 16, 17, 33}) {
    SCOPED_TRACE(iw);
    ConvTransposeTester().channels(3, 3).groups(3).input(5, iw).kernel({3, 3}).stride(2).Test(
        GetParam());
    ConvTransposeTester()
        .channels(2, 2)
        .groups(2)
        .input(4, iw)
        .kernel({4, 4})
        .stride(2)
        .padding({1, 1})
        .output_padding({0, 1})
        .Test(GetParam());
  }
}
TEST_P(IsaTest, MoreTapsPerPhaseThanAKChunk) {
  // 13×13 at stride 1: 169 taps in the one phase, more than a k-chunk of the GEMM path holds.
  ConvTransposeTester().channels(2, 40).input(8, 10).kernel(13).stride(1).padding(5).Test(
      GetParam());
  ConvTransposeTester().channels(3, 9).input(2, 2).kernel({17, 9}).stride({1, 2}).Test(GetParam());
}
TEST_P(IsaTest, DepthwiseMultiplier) {
  ConvTransposeTester().channels(3, 9).groups(3).kernel(3).stride(2).Test(GetParam());
}
TEST_P(IsaTest, ChannelBlockRemainders) {
  // Around the direct/GEMM switch (8 channels per group) and the 4- and 8-channel tiles.
  for (int64_t oc : {1, 3, 5, 7, 8, 9, 12, 17}) {
    SCOPED_TRACE(oc);
    ConvTransposeTester().channels(5, oc).kernel(3).stride(2).input(7, 9).Test(GetParam());
  }
}
TEST_P(IsaTest, WideRowsAndManyPixels) {
  // Several pixel tiles and blocks per phase, with partial last tiles.
  ConvTransposeTester().channels(3, 16).input(13, 101).kernel(3).stride(1).padding(1).Test(
      GetParam());
}
TEST_P(IsaTest, DeepReductionSpansKChunks) {
  // icg · taps = 80 · 9 > the k-chunk (5/6 of L1 in floats / tile width: 213 with AVX-512 on
  // a 48 KiB L1): partial sums carried across chunks.
  ConvTransposeTester().channels(80, 12).input(6, 6).kernel(3).stride(1).padding(1).Test(
      GetParam());
}
TEST_P(IsaTest, BatchOfThree) {
  ConvTransposeTester().batch(3).channels(4, 10).kernel(2).stride(2).Test(GetParam());
}
TEST_P(IsaTest, BatchedSmallImagesShareTiles) {
  // The GEMM runs all images' phase rows as one sequence: 3x5 phases of five images, so tiles
  // and blocks start and end inside images; uneven column phases (W 4, stride 2, op 1).
  for (const int threads : {1, 2}) {
    ConvTransposeTester()
        .batch(5)
        .channels(9, 40)
        .input(3, 4)
        .kernel(3)
        .stride(2)
        .padding(1)
        .output_padding(1)
        .threads(threads)
        .Test(GetParam());
  }
}
TEST_P(IsaTest, SinglePixelInput) {
  ConvTransposeTester().input(1, 1).channels(7, 11).kernel(5).stride(3).Test(GetParam());
}
TEST_P(IsaTest, TwoThreads) {
  ConvTransposeTester()
      .channels(16, 24)
      .input(12, 12)
      .kernel(4)
      .stride(2)
      .padding(1)
      .threads(2)
      .Test(GetParam());
}

// One output channel per group with every phase sharing its tap offsets: the fused-phase tiles
// (all phases of a phase row at once). Edge cases: phase rows and columns that stick out of the
// output at both ends, rows whose taps all miss the input, phases no tap reaches, groups,
// batches, two threads, and rows of several tiles.
TEST_P(IsaTest, FusedPhasesForOneOutputChannel) {
  for (const char* s :
       {"mb1ic5ih7oc1kh9sh3ph4oph2", "mb2ic3ih5iw6oc1kh6kw4sh3sw2ph1pw2", "mb1ic6ih5oc3kh4sh2ph3g3",
        "mb1ic4ih6oc1kh2sh3ph4pw0", "mb2ic3ih4oc1kh2sh3bias0", "mb1ic4ih9iw40oc1kh3sh3",
        "mb1ic2ih3iw70oc1kh4sh2ph1", "mb3ic4ih20iw33oc2kh4kw6sh2sw3ph2pw5g2"}) {
    SCOPED_TRACE(s);
    const Problem pr = parse_problem(s);
    for (int threads : {1, 2}) {
      for (Regime regime : {Regime::kInteger, Regime::kReal}) {
        const auto d = make_data<float>(pr, regime, 3);
        const auto packed = optimized::pack(pr.params, d.w, GetParam(), Path::kDirect);
        ASSERT_NE(packed.kernel_names().find("phases"), std::string::npos) << packed.kernel_names();
        EXPECT_TRUE(judged(pr, d, optimized::run(packed, d.x, d.bias(), threads),
                           regime == Regime::kInteger))
            << to_string(regime) << ", " << threads << " thread(s)";
      }
    }
  }
  // Offsets that differ between phases (taps 0 and 3 of dilation 3 at stride 2), two output
  // channels or a single phase: the per-phase tiles.
  for (const char* s : {"mb1ic3ih5oc1kh2sh2dh3dw1", "mb1ic3ih5oc2kh4sh2", "mb1ic3ih5oc1kh3"}) {
    const Problem pr = parse_problem(s);
    const auto d = make_data<float>(pr, Regime::kInteger, 3);
    const auto packed = optimized::pack(pr.params, d.w, GetParam(), Path::kDirect);
    EXPECT_EQ(packed.kernel_names().find("phases"), std::string::npos) << s;
    EXPECT_TRUE(judged(pr, d, optimized::run(packed, d.x, d.bias()), true)) << s;
  }
}

// Input planes of at most 64 floats pack by permutes on AVX-512: of one register pair up to 32
// floats (4×4, 4×8), of two pairs up to 64 (3×11, 5×7, 8×8), one call per image where a tile's
// pixels span images (batches); 66 floats take the row copies. Padding beyond the kernel, stride 3
// and dilation put zeros at both ends of the packed rows.
TEST_P(IsaTest, GemmOnSmallPlanes) {
  for (const char* s :
       {"mb1ic20ih4oc40kh4sh2ph1", "mb1ic9ih4iw8oc33kh3sh2ph2", "mb1ic9ih3iw11oc33kh3sh2ph1",
        "mb1ic6ih5iw7oc34kh4sh2ph1", "mb1ic10ih8oc32kh4sh2ph1", "mb1ic4ih6iw11oc32kh3sh2ph1",
        "mb3ic5ih4oc40kh4sh2ph1", "mb3ic6ih8oc32kh4sh2ph1", "mb2ic7ih2iw3oc35kh5sh3ph3pw1",
        "mb1ic6ih5oc32kh3sh2dh2ph3", "mb1ic300ih4oc32kh4sh2ph1"}) {
    SCOPED_TRACE(s);
    const Problem pr = parse_problem(s);
    for (Regime regime : {Regime::kInteger, Regime::kReal}) {
      const auto d = make_data<float>(pr, regime, 5);
      const auto packed = optimized::pack(pr.params, d.w, GetParam(), Path::kGemm);
      EXPECT_TRUE(
          judged(pr, d, optimized::run(packed, d.x, d.bias(), 1), regime == Regime::kInteger))
          << to_string(regime);
    }
  }
}

// Stride 2 in W on the direct path: the odd column phase's tiles store both phases. With an odd
// output width the even phase has one column more; when the odd phase's count is a whole number
// of vectors (16 of 33), that last even output needs a tile of its own.
TEST_P(IsaTest, StrideTwoOddWidthsKeepTheLastEvenOutput) {
  for (int64_t iw : {9, 17, 25, 33}) {
    SCOPED_TRACE(iw);
    ConvTransposeTester().channels(3, 4).input(3, iw).kernel(3).stride(2).padding(1).Test(
        GetParam());
  }
  // The same with groups, so that each work item pads its own group's input into a buffer of
  // exactly its size: the odd phase's tiles over the even phase's 17 columns (33 outputs) must
  // stay inside it (AddressSanitizer checks).
  ConvTransposeTester().channels(8, 8).groups(4).input(3, 17).kernel(3).stride(2).padding(1).Test(
      GetParam());
  // The fuzzer's case: odd-phase taps far apart (dilation 37), 65 outputs.
  ConvTransposeTester()
      .channels(2, 1)
      .input(3, 1)
      .kernel({1, 3})
      .stride({3, 2})
      .padding({1, 5})
      .dilation(37)
      .Test(GetParam());
}

// The direct path computes consecutive phase rows that read the same row taps in one tile call
// (up to 8 rows): runs must end where a row tap starts or stops reaching an input row, and at the
// end of a work item, with or without the per-group padding and the zipped stride-2 stores.
TEST_P(IsaTest, RowRunsSplitWhereTheRowTapsChange) {
  // A tall kernel on 23 input rows: near both borders every row has its own set of taps.
  ConvTransposeTester()
      .channels(8, 8)
      .groups(4)
      .input(23, 12)
      .kernel({7, 3})
      .stride(2)
      .padding({2, 1})
      .output_padding(1)
      .Test(GetParam());
  // One group: the whole input padded up front and items of a few rows; stride 3 in H with a
  // dilation that leaves a row phase without taps.
  ConvTransposeTester()
      .channels(3, 5)
      .input(30, 9)
      .kernel({3, 2})
      .stride({3, 2})
      .dilation({3, 1})
      .padding({1, 0})
      .Test(GetParam());
}

TEST_P(IsaTest, EmptyBatchGivesEmptyOutput) {
  Problem pr = parse_problem("mb0ic4ih5oc6kh3sh2");
  const auto d = make_data<float>(pr, Regime::kReal, 1);
  const Tensor<float> y = optimized::conv_transpose2d(pr.params, d.x, d.w, d.bias(), 0, GetParam());
  EXPECT_EQ(y.shape, (Shape{0, 6, 11, 11}));
  EXPECT_EQ(y.size(), 0);
}

TEST_P(IsaTest, RandomProblemsMatchTheReference) {
  for (uint64_t seed = 1; seed <= 150; ++seed) {
    const Problem pr = random_problem(seed * 977);
    for (Regime regime : {Regime::kInteger, Regime::kReal}) {
      const auto d = make_data<float>(pr, regime, seed);
      for (Path path : kPaths) {
        const Tensor<float> y =
            optimized::conv_transpose2d(pr.params, d.x, d.w, d.bias(), 0, GetParam(), path);
        ASSERT_TRUE(judged(pr, d, y, regime == Regime::kInteger))
            << "seed " << seed << ", " << optimized::to_string(path) << " path";
      }
    }
  }
}

// Strides 4, 8 and 16 in W build each output row from their phases by rounds of two-way zips,
// on both paths: widths that are and are not multiples of the stride, taps that reach only some
// phases (the others hold the bias), and rows narrower than a vector.
TEST_P(IsaTest, PowerOfTwoStridesInterleaveTheirPhases) {
  const char* problems[] = {
      "mb1ic3ih3iw9oc5kh2kw8sh1sw8",        "mb1ic3ih3iw9oc5kh2kw8sh1sw8pw3",
      "mb1ic2ih2iw11oc4kh1kw5sh2sw4ph0pw1", "mb1ic2ih2iw3oc3kh1kw3sh1sw16",
      "mb2ic4ih3iw6oc36kh2kw4sh2sw4",       "mb1ic3ih2iw20oc33kh1kw16sh1sw16pw2",
  };
  for (const char* s : problems) {
    const Problem pr = parse_problem(s);
    for (Regime regime : {Regime::kInteger, Regime::kReal}) {
      const auto d = make_data<float>(pr, regime, 5);
      for (Path path : kPaths) {
        const Tensor<float> y =
            optimized::conv_transpose2d(pr.params, d.x, d.w, d.bias(), 0, GetParam(), path);
        EXPECT_TRUE(judged(pr, d, y, regime == Regime::kInteger))
            << s << ", " << optimized::to_string(path) << " path";
      }
    }
  }
}

TEST_P(IsaTest, ThreadCountDoesNotChangeBits) {
  // Work is split by output blocks, never inside a sum: every thread count gives the same bits.
  const Problem pr = parse_problem("mb2ic24ih9iw13oc20kh3sh2ph1oph1");
  const auto d = make_data<float>(pr, Regime::kReal, 3);
  for (Path path : kPaths) {
    const auto packed = optimized::pack(pr.params, d.w, GetParam(), path);
    EXPECT_EQ(packed.path(), path);
    const Tensor<float> y1 = optimized::run(packed, d.x, d.bias(), 1);
    for (int t : {2, 3}) EXPECT_EQ(optimized::run(packed, d.x, d.bias(), t), y1) << t << " threads";
  }
}

TEST_P(IsaTest, PackOnceRunMany) {
  const Problem pr = parse_problem("mb1ic12ih6oc16kh4sh2ph1");
  const auto d1 = make_data<float>(pr, Regime::kInteger, 1);
  for (Path path : kPaths) {
    const auto packed = optimized::pack(pr.params, d1.w, GetParam(), path);
    EXPECT_NE(packed.kernel_names().find("__" + optimized::to_string(GetParam())),
              std::string::npos)
        << packed.kernel_names();
    for (uint64_t s = 2; s <= 4; ++s) {
      auto d = make_data<float>(pr, Regime::kInteger, s);
      d.w = d1.w;  // the packed weights
      d.b = d1.b;
      Tensor<float> y(output_shape(pr));
      optimized::run_into(packed, d.x, d.bias(), y);
      EXPECT_TRUE(judged(pr, d, y, true));
      // A larger input with the same parameters reuses the packing too.
      Problem big = pr;
      big.ih = 9;
      big.iw = 3;
      auto db = make_data<float>(big, Regime::kInteger, s);
      db.w = d1.w;
      db.b = d1.b;
      EXPECT_TRUE(judged(big, db, optimized::run(packed, db.x, db.bias()), true));
    }
  }
}

// Where the zero padding meets an Inf weight, 0·Inf would be NaN; the definition only sums the
// taps whose input exists, so the result is Inf there (or NaN only where +Inf meets -Inf).
TEST_P(IsaTest, InfiniteWeightsGiveTheDefinitionsNonFinitePositions) {
  // The last two: phases wider than the input, whose tiles leave out taps beside it.
  for (const char* s : {"mb1ic3ih5iw6oc4kh3sh2ph1", "mb1ic2ih4oc12kh4sh2ph1", "mb1ic2ih7oc2kh3",
                        "mb1ic16ih5oc16kh3sh2ph2g16", "mb1ic2ih3iw3oc4kh2kw2dw200",
                        "mb1ic2ih3iw3oc2kh2kw3sw2dw61"}) {
    const Problem pr = parse_problem(s);
    auto d = make_data<float>(pr, Regime::kReal, 11);
    d.w.data[0] = std::numeric_limits<float>::infinity();
    d.w.data[d.w.data.size() - 1] = -std::numeric_limits<float>::infinity();
    d.x.data[1] = std::numeric_limits<float>::quiet_NaN();
    for (Path path : kPaths) {
      const Tensor<float> y =
          optimized::conv_transpose2d(pr.params, d.x, d.w, d.bias(), 0, GetParam(), path);
      const Tensor<double> r = conv_transpose2d<float, double>(pr.params, d.x, d.w, d.bias());
      ASSERT_EQ(y.shape, r.shape);
      int64_t nonfinite = 0;
      for (int64_t i = 0; i < y.size(); ++i) {
        const double a = y.data[static_cast<size_t>(i)], e = r.data[static_cast<size_t>(i)];
        ASSERT_EQ(std::isnan(a), std::isnan(e))
            << s << " element " << i << ": " << a << " vs " << e;
        ASSERT_EQ(std::isinf(a), std::isinf(e))
            << s << " element " << i << ": " << a << " vs " << e;
        if (std::isinf(e)) {
          ASSERT_EQ(a, e) << s << " element " << i;
        }
        nonfinite += !std::isfinite(e);
      }
      EXPECT_GT(nonfinite, 0) << s;  // the case does exercise non-finite values
    }
  }
}

TEST_P(IsaTest, ShapeErrorsNameTheTensor) {
  const Problem pr = parse_problem("mb1ic4ih5oc6kh3sh2");
  const auto d = make_data<float>(pr, Regime::kReal, 1);
  Tensor<float> wrong_w(Shape{4, 6, 3, 2});
  try {
    optimized::pack(pr.params, wrong_w, GetParam());
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.subject(), "weight") << e.what();
  }
  const auto packed = optimized::pack(pr.params, d.w, GetParam());
  Tensor<float> wrong_x(Shape{1, 5, 5, 5});
  EXPECT_THROW(optimized::run(packed, wrong_x, d.bias()), Error);
  EXPECT_THROW(optimized::run(packed, d.x, nullptr), Error);  // params.bias but no bias
  Tensor<float> wrong_y(Shape{1, 6, 11, 10});
  try {
    optimized::run_into(packed, d.x, d.bias(), wrong_y);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.subject(), "output") << e.what();
  }
}

// float16 / bfloat16 with compute_mode float32: bit-equal to the reference on integer data, and
// within the float32-mode certified bound (float32 accumulation, one rounding, bias after it) on
// real and cancellation data, for both algorithms' shapes.
template <class H>
void CheckHalf(Isa isa) {
  for (const char* s :
       {"mb2ic8ih5iw6oc6kh4sh2ph1", "mb1ic64ih6oc40kh3sh2ph1oph1", "mb1ic6ih7oc6kh4sh2ph1g6",
        "mb1ic3ih4oc3kh3sh3dh2bias0", "mb1ic300ih3oc4kh2sh2"}) {
    Problem pr = parse_problem(s);
    pr.params.compute_mode = ComputeMode::kFloat32;
    for (Regime regime : {Regime::kInteger, Regime::kReal, Regime::kCancellation}) {
      const auto d = make_data<H>(pr, regime, 5);
      const Tensor<H> y = optimized::conv_transpose2d(pr.params, d.x, d.w, d.bias(), 0, isa);
      const Case c{pr, d.x, d.w, pr.params.bias ? std::optional<AnyTensor>(d.b) : std::nullopt};
      const Truth truth = compute_truth(c);
      const Arithmetic a = claimed_arithmetic(dtype_v<H>, ComputeMode::kFloat32);
      const Tensor<double> bound =
          regime == Regime::kInteger ? Tensor<double>(output_shape(pr)) : case_bound(c, a);
      const Report r = compare_outputs(truth, y, bound, nullptr, dtype_v<H>, a);
      EXPECT_TRUE(r.passed()) << s << " " << to_string(regime) << "\n" << format_report(r);
    }
  }
}

TEST_P(IsaTest, Float16WithFloat32Accumulation) {
  CheckHalf<float16>(GetParam());
}
TEST_P(IsaTest, BFloat16WithFloat32Accumulation) {
  CheckHalf<bfloat16>(GetParam());
}

TEST_P(IsaTest, HalfBiasIsAddedAfterTheRoundedConvolution) {
  // One tap, x = 1 + 2^-10, w = 1 + 3·2^-10, bias = -1: the exact product 1 + 2^-8 + 3·2^-20
  // rounds to 1 + 2^-8 in float16, so MegEngine's order gives exactly 2^-8; adding the bias
  // before the rounding would give 2^-8 + 3·2^-20, which rounds to 2^-8 + 2^-18.
  Problem pr = parse_problem("mb1ic1ih1oc1kh1");
  pr.params.compute_mode = ComputeMode::kFloat32;
  const Tensor<float16> x(Shape{1, 1, 1, 1}, {float16(1.0 + 0x1p-10)});
  const Tensor<float16> w(Shape{1, 1, 1, 1}, {float16(1.0 + 3 * 0x1p-10)});
  const Tensor<float16> b(Shape{1, 1, 1, 1}, {float16(-1.0)});
  const Tensor<float16> y = optimized::conv_transpose2d(pr.params, x, w, &b, 0, GetParam());
  EXPECT_EQ(y.data[0].to_float(), 0x1p-8f);
}

TEST_P(IsaTest, HalfShapeErrorsNameTheTensor) {
  const Problem pr = parse_problem("mb1ic4ih5oc6kh3sh2");
  const auto d = make_data<float16>(pr, Regime::kReal, 1);
  try {
    optimized::conv_transpose2d(pr.params, d.x, Tensor<float16>(Shape{4, 6, 3, 2}), d.bias(), 0,
                                GetParam());
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.subject(), "weight") << e.what();
  }
  EXPECT_THROW(optimized::conv_transpose2d(pr.params, d.x, d.w, nullptr, 0, GetParam()), Error);
}

INSTANTIATE_TEST_SUITE_P(Isas, IsaTest, ::testing::Values(Isa::kScalar, Isa::kAvx2, Isa::kAvx512),
                         isa_name);

// ---- the weight stream (Path::kStream) ----

// The tiny layers it is for: a latent of 1x1 or 2x2 through a 4x4 kernel to many channels.
TEST_P(IsaTest, StreamLatentProjections) {
  ConvTransposeTester().input(1, 1).channels(20, 96).kernel(4).path(Path::kStream).Test(GetParam());
  ConvTransposeTester()
      .input(2, 2)
      .channels(24, 40)
      .kernel(4)
      .stride(2)
      .padding(1)
      .path(Path::kStream)
      .Test(GetParam());
}
TEST_P(IsaTest, StreamGroups) {
  // 3 groups of 13 output channels: blocks of every group, each with its remainder.
  ConvTransposeTester()
      .input(2, 1)
      .channels(9, 39)
      .groups(3)
      .kernel({3, 2})
      .stride(2)
      .path(Path::kStream)
      .Test(GetParam());
  // Depthwise: one channel per group, 15 lanes of each vector unused.
  ConvTransposeTester()
      .input(2, 3)
      .channels(6, 6)
      .groups(6)
      .kernel(3)
      .stride(2)
      .padding(1)
      .path(Path::kStream)
      .Test(GetParam());
}
TEST_P(IsaTest, StreamBatchAndPixelChunks) {
  // 2·2·2 = 8 pixels: two chunks of 4; 3·1·3 = 9 pixels: 5 + 4; 3·3·3 = 27: 6 chunks of 4 or 5
  // pixels, several of them spanning two images.
  ConvTransposeTester()
      .batch(2)
      .input(2, 2)
      .channels(12, 33)
      .kernel(4)
      .stride(2)
      .padding(1)
      .path(Path::kStream)
      .Test(GetParam());
  ConvTransposeTester()
      .batch(3)
      .input(1, 3)
      .channels(5, 17)
      .kernel(2)
      .path(Path::kStream)
      .Test(GetParam());
  for (int threads : {1, 2}) {
    ConvTransposeTester()
        .batch(3)
        .input(3, 3)
        .channels(7, 70)
        .kernel(3)
        .stride(2)
        .threads(threads)
        .path(Path::kStream)
        .Test(GetParam());
  }
}
TEST_P(IsaTest, StreamStridePaddingDilationOutputPadding) {
  // Taps that land in the cropped padding (padding 2 of a 3x3 kernel), dilation that spreads
  // taps over the output, output padding (a bias-only last row and column), a stride larger than
  // the kernel (bias-only phases), asymmetric everything.
  ConvTransposeTester()
      .input(2, 3)
      .channels(6, 20)
      .kernel({3, 4})
      .stride({3, 2})
      .padding({2, 1})
      .dilation({2, 3})
      .output_padding({2, 1})
      .path(Path::kStream)
      .Test(GetParam());
  ConvTransposeTester()
      .input(1, 2)
      .channels(4, 18)
      .kernel(2)
      .stride(5)
      .output_padding(3)
      .bias(false)
      .path(Path::kStream)
      .Test(GetParam());
  ConvTransposeTester()
      .input(3, 2)
      .channels(3, 9)
      .kernel(5)
      .stride(2)
      .padding(4)
      .dilation(2)
      .pytorch_rule()
      .output_padding(1)
      .path(Path::kStream)
      .Test(GetParam());
}
TEST_P(IsaTest, StreamChannelRemainders) {
  // Output channels around the vector width and the block width (AVX-512 64, AVX2 16).
  for (int64_t oc : {1, 7, 8, 9, 15, 16, 17, 31, 63, 64, 65, 100}) {
    SCOPED_TRACE(oc);
    ConvTransposeTester()
        .input(1, 2)
        .channels(3, oc)
        .kernel(2)
        .stride(2)
        .path(Path::kStream)
        .Test(GetParam());
  }
}
TEST_P(IsaTest, StreamLargerInputsStayCorrect) {
  // Forced on an input far from tiny: many pixel chunks per tap, every chunk's own offsets.
  ConvTransposeTester()
      .input(7, 9)
      .channels(5, 12)
      .kernel(3)
      .stride(2)
      .padding(1)
      .path(Path::kStream)
      .Test(GetParam());
}
TEST_P(IsaTest, StreamNonFiniteValuesAsTheDefinition) {
  // 0·Inf = NaN only where the definition multiplies them: an Inf input pixel against the zero
  // weights of output channel 0 (Inf in the others), Inf weights against zero inputs and taps
  // that land in the cropped padding (padding 1), a NaN input pixel where there are several.
  for (const char* s :
       {"mb1ic4ih1oc24kh4", "mb1ic3ih2oc20kh4sh2ph1", "mb2ic4ih2iw2oc18kh3sh2ph1g2"}) {
    SCOPED_TRACE(s);
    const Problem pr = parse_problem(s);
    auto d = make_data<float>(pr, Regime::kInteger, 4);
    const float inf = std::numeric_limits<float>::infinity();
    const int64_t ocg = pr.params.out_channels / pr.params.groups;
    const int64_t taps = pr.params.kernel_size.h * pr.params.kernel_size.w;
    for (int64_t c = 0; c < pr.params.in_channels; ++c) {
      for (int64_t t = 0; t < taps; ++t) d.w.data[static_cast<size_t>(c * ocg * taps + t)] = 0.0f;
    }
    d.x.data[0] = inf;
    if (pr.mb * pr.ih * pr.iw > 1) {
      d.x.data[d.x.data.size() - 1] = std::numeric_limits<float>::quiet_NaN();
    }
    d.w.data[d.w.data.size() - 1] = -inf;
    d.w.data[d.w.data.size() / 2 + 1] = inf;
    const Tensor<float> y =
        optimized::conv_transpose2d(pr.params, d.x, d.w, d.bias(), 0, GetParam(), Path::kStream);
    const Tensor<double> r = conv_transpose2d<float, double>(pr.params, d.x, d.w, d.bias());
    ASSERT_EQ(y.shape, r.shape);
    int64_t nan = 0, inf_count = 0;
    for (int64_t i = 0; i < y.size(); ++i) {
      const double a = y.data[static_cast<size_t>(i)], e = r.data[static_cast<size_t>(i)];
      ASSERT_EQ(std::isnan(a), std::isnan(e)) << "element " << i << ": " << a << " vs " << e;
      if (!std::isnan(e)) {
        ASSERT_EQ(a, e) << "element " << i;  // small integers: exact
      }
      nan += std::isnan(e);
      inf_count += std::isinf(e);
    }
    EXPECT_GT(nan, 0);
    EXPECT_GT(inf_count, 0);
  }
}
TEST_P(IsaTest, StreamWorkingBytesAreExact) {
  // The plan (the padded stream weights) and the run (the transposed input and its pixel list)
  // are all it allocates: declared and measured agree within the bookkeeping allowance.
  const Problem pr = parse_problem("mb2ic12ih2oc40kh4sh2ph1");
  const auto d = make_data<float>(pr, Regime::kReal, 2);
  const int64_t declared = optimized::working_bytes(pr, GetParam(), Path::kStream, 1);
  int64_t y_bytes = 0;
  const int64_t peak = testing::peak_allocated_bytes([&] {
    const Tensor<float> y =
        optimized::conv_transpose2d(pr.params, d.x, d.w, d.bias(), 1, GetParam(), Path::kStream);
    y_bytes = y.size() * 4 + static_cast<int64_t>(y.shape.size() * sizeof(int64_t));
  });
  EXPECT_LE(peak - y_bytes, declared);
  EXPECT_GE(peak - y_bytes, declared - 1024 - 4096) << "declared far more than allocated";
}

TEST(Path, AutoStreamsTheWeightsOfTinyInputs) {
  for (Isa isa : {Isa::kAvx2, Isa::kAvx512}) {
    const int64_t lanes = isa == Isa::kAvx512 ? 16 : 8;
    SCOPED_TRACE(optimized::to_string(isa));
    // The benchmark's tiny layers.
    for (const char* s : {"mb1ic128ih1oc1024kh4", "mb1ic512ih2oc256kh4sh2ph1",
                          "mb1ic100ih1oc512kh4", "mb2ic16ih2oc64kh4sh2ph1"}) {
      EXPECT_EQ(optimized::auto_path(parse_problem(s), isa), Path::kStream) << s;
    }
    // The shared suite's dcgan-2 (16 pixels) streams, dcgan-3 (64) and pose-head (48) do not.
    EXPECT_EQ(optimized::auto_path(parse_problem("mb1ic512ih4oc256kh4sh2ph1"), isa), Path::kStream);
    EXPECT_EQ(optimized::auto_path(parse_problem("mb1ic256ih8oc128kh4sh2ph1"), isa), Path::kGemm);
    EXPECT_EQ(optimized::auto_path(parse_problem("mb1ic2048ih8iw6oc256kh4sh2ph1"), isa),
              Path::kGemm);
    // Up to kStreamMaxPixels input pixels, from one vector of output channels per group.
    Problem pr = parse_problem("mb1ic16ih1oc16kh4");
    pr.params.out_channels = lanes;
    for (int64_t mb = 1; mb <= optimized::kStreamMaxPixels + 1; ++mb) {
      pr.mb = mb;
      EXPECT_EQ(optimized::auto_path(pr, isa) == Path::kStream, mb <= optimized::kStreamMaxPixels)
          << mb;
    }
    pr.mb = 1;
    pr.params.out_channels = lanes - 1;
    EXPECT_NE(optimized::auto_path(pr, isa), Path::kStream);
    pr.params.out_channels = lanes;
    pr.ih = 6;
    pr.iw = 6;  // 36 pixels
    EXPECT_NE(optimized::auto_path(pr, isa), Path::kStream);
    pr.iw = 5;  // 30 pixels
    EXPECT_EQ(optimized::auto_path(pr, isa), Path::kStream);
  }
}

TEST(Path, NamesRoundTripAndUnknownIsAnError) {
  for (Path p : {Path::kAuto, Path::kDirect, Path::kGemm, Path::kStream}) {
    EXPECT_EQ(optimized::parse_path(optimized::to_string(p)), p);
  }
  try {
    optimized::parse_path("streaming", "--path");
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("--path"), std::string::npos) << e.what();
  }
}

TEST(Path, AutoTakesTheGemmForManyChannelsOnSmallImages) {
  // Without the input size: by channels per group alone.
  for (const auto& [problem, path] : {std::pair{"mb1ic8ih4oc31kh3sh2", Path::kDirect},
                                      std::pair{"mb1ic8ih4oc32kh3sh2", Path::kGemm},
                                      std::pair{"mb1ic64ih4oc64kh3sh2g4", Path::kDirect},
                                      std::pair{"mb1ic64ih4oc64kh3sh2g2", Path::kGemm}}) {
    const Problem pr = parse_problem(problem);
    const auto d = make_data<float>(pr, Regime::kReal, 1);
    EXPECT_EQ(optimized::pack(pr.params, d.w).path(), path) << problem;
  }
  // With it: the GEMM while a column phase of an output row fits in one vector.
  for (Isa isa : {Isa::kAvx2, Isa::kAvx512}) {
    const int64_t lanes = isa == Isa::kAvx512 ? 16 : 8;
    for (int64_t iw : {lanes - 1, lanes, lanes + 1}) {
      // stride 2, k 4, padding 1: Wout = 2·iw, so a column phase is iw wide (two taps each);
      // 5 rows: more than 32 pixels, so not the stream.
      Problem pr = parse_problem("mb1ic8ih5oc32kh4sh2ph1");
      pr.iw = iw;
      EXPECT_EQ(optimized::auto_path(pr, isa), iw <= lanes ? Path::kGemm : Path::kDirect)
          << optimized::to_string(isa) << " iw " << iw;
    }
    EXPECT_EQ(optimized::auto_path(parse_problem("mb1ic8ih6oc31kh2sh2"), isa), Path::kDirect);
    // Wider phases of one tap each (kernel within the stride, dilation spreading taps over
    // distinct phases): the GEMM on AVX2 only; two taps in one phase (kh2 sh2 dh2): direct.
    for (const auto& [problem, one_tap] :
         {std::pair{"mb1ic8ih3iw40oc32kh2sh2", true}, std::pair{"mb1ic8ih3iw40oc32kh3sh3", true},
          std::pair{"mb1ic8ih3iw40oc32kh2sh4dh2", true},
          std::pair{"mb1ic8ih3iw40oc32kh2sh2dh2", false},
          std::pair{"mb1ic8ih3iw40oc32kh1kw2sh1sw2", true},
          std::pair{"mb1ic8ih3iw40oc32kh3kw2sh1sw2", false}}) {
      const Path want = one_tap && isa == Isa::kAvx2 ? Path::kGemm : Path::kDirect;
      EXPECT_EQ(optimized::auto_path(parse_problem(problem), isa), want)
          << optimized::to_string(isa) << " " << problem;
    }
  }
}

TEST(Isa, NamesRoundTripAndUnknownIsAnError) {
  for (Isa i : {Isa::kScalar, Isa::kAvx2, Isa::kAvx512}) {
    EXPECT_EQ(optimized::parse_isa(optimized::to_string(i)), i);
  }
  EXPECT_THROW(optimized::parse_isa("sse9"), Error);
  EXPECT_TRUE(optimized::cpu_supports(Isa::kScalar));
  EXPECT_TRUE(optimized::cpu_supports(optimized::detected_isa()));
}

TEST(Isa, MissingIsaIsAnError) {
  for (Isa i : {Isa::kAvx2, Isa::kAvx512}) {
    if (optimized::cpu_supports(i)) continue;
    const Problem pr = parse_problem("mb1ic4ih5oc6kh3sh2");
    const auto d = make_data<float>(pr, Regime::kReal, 1);
    EXPECT_THROW(optimized::pack(pr.params, d.w, i), Error);
  }
}

}  // namespace
}  // namespace convt2d

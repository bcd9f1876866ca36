// Verdict fuzz target: the compare module against criteria of its own, on data of every magnitude
// (subnormal to beyond overflow) in all four dtypes and both compute modes. Any violation aborts.
//
// - Soundness: a result that a correct implementation of the claimed arithmetic can produce must
//   pass. Checked for every registered implementation of the dtype under its own arithmetic, and,
//   element by element, for summation orders evaluated here in the claimed arithmetic: every
//   order of elements with at most 5 terms, random ones beyond, plain and FMA chains, with the
//   bias inside the sum or added after rounding, and for compute_mode default every operation in
//   the storage type or in float32.
// - Precision: a wrong result must fail. NaN and +-inf where a simple a-priori argument excludes
//   them (the exact term sums far below the overflow threshold, or no term of the sign needed);
//   any finite value where a product must overflow in a fixed-format accumulator; a finite value
//   farther than the bound from the exact one.
#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "convt2d/compare.h"
#include "convt2d/error.h"
#include "convt2d/implementations.h"
#include "fuzz_input.h"

namespace {

using namespace convt2d;

[[noreturn]] void finding(const Problem& pr, DType dt, const Arithmetic& a,
                          const std::string& what) {
  std::fprintf(stderr, "convt2d verdict finding (%s, u=%g, extra=%d, wider=%d): %s for %s\n",
               std::string(to_string(dt)).c_str(), a.accumulation.u, a.extra_roundings,
               a.wider_intermediates ? 1 : 0, what.c_str(), format_problem(pr).c_str());
  std::abort();
}

Problem problem_from(fuzz::Input& in) {
  Problem pr;
  Params& p = pr.params;
  pr.mb = 1;
  p.groups = in.in(1, 2);
  p.in_channels = p.groups * in.in(1, 2);
  p.out_channels = p.groups * in.in(1, 2);
  pr.ih = in.in(1, 3);
  pr.iw = in.in(1, 3);
  p.kernel_size = {in.in(1, 3), in.in(1, 3)};
  p.stride = {in.in(1, 2), in.in(1, 2)};
  p.dilation = {in.in(1, 2), in.in(1, 2)};
  p.padding = {in.in(0, 2), in.in(0, 2)};
  p.output_padding = {in.in(0, p.stride.h - 1), in.in(0, p.stride.w - 1)};
  p.bias = in.byte() % 4 != 0;
  if (in.byte() % 8 == 0) {
    // Now and then one element with hundreds of taps: beyond the 255 roundings of bfloat16 and
    // near float16's 2047 where the classical gamma(K) bound ceases to exist.
    p = Params{};
    p.in_channels = in.in(64, 255) * 8;
    p.bias = in.byte() % 2 == 0;
    pr.ih = pr.iw = 1;
  }
  return pr;
}

// Largest finite value and the exponent range of a dtype's finite values.
struct Range {
  int emin, emax;  // of the smallest subnormal and of the largest finite value
};
Range range_of(DType t) {
  switch (t) {
    case DType::kFloat32:
      return {-149, 127};
    case DType::kFloat16:
      return {-24, 15};
    case DType::kBFloat16:
      return {-133, 127};
    case DType::kFloat64:
      break;
  }
  return {-1074, 1023};
}

// A value of every magnitude: zero, or ±m·2^e with e near a scale chosen for the tensor (so that
// products land near the overflow threshold, near underflow, or anywhere), and now and then the
// largest finite value itself. Drawn from a generator seeded by the input, so that tensors of
// any size are filled.
double value_from(std::mt19937_64& rng, DType t, int scale) {
  const uint64_t bits = rng();
  const uint8_t kind = static_cast<uint8_t>(bits);
  if (kind % 16 == 0) return 0.0;
  const Range r = range_of(t);
  const double sign = kind & 0x80 ? -1.0 : 1.0;
  if (kind % 16 == 1) return sign * precision_of(t).max;
  const int e = std::clamp(scale + static_cast<int>((bits >> 8) % 7) - 3, r.emin, r.emax);
  const double m = 1.0 + static_cast<double>((bits >> 16) & 0xff) / 256.0;
  return sign * std::ldexp(m, e);
}

template <class T>
Tensor<T> tensor_from(fuzz::Input& in, const Shape& s, DType dt) {
  const Range r = range_of(dt);
  // The tensor's scale: around 0, half the largest exponent (products near overflow), the largest
  // exponent, or near the bottom of the range.
  const int scales[] = {0, r.emax / 2, r.emax / 2 + 1, r.emax, r.emin / 2, 2, -2, r.emax - 2};
  const int scale = scales[in.byte() % 8];
  std::mt19937_64 rng(in.u64());
  Tensor<T> t(s);
  for (T& v : t.data) v = T(value_from(rng, dt, scale));
  return t;
}

// One output element's terms: its products' factors, in the definition's order.
struct Terms {
  std::vector<std::pair<double, double>> xw;  // (x, w) of each product
  std::optional<double> bias;
};

template <class T>
std::vector<Terms> terms_of(const Problem& pr, const Tensor<T>& x, const Tensor<T>& w,
                            const Tensor<T>* b) {
  const Params& p = pr.params;
  const Shape ys = output_shape(pr);
  std::vector<Terms> t(static_cast<size_t>(element_count(ys)));
  const int64_t icg = p.in_channels / p.groups, ocg = p.out_channels / p.groups;
  for (int64_t g = 0; g < p.groups; ++g)
    for (int64_t i = 0; i < icg; ++i)
      for (int64_t ih = 0; ih < pr.ih; ++ih)
        for (int64_t iw = 0; iw < pr.iw; ++iw)
          for (int64_t o = 0; o < ocg; ++o)
            for (int64_t fh = 0; fh < p.kernel_size.h; ++fh)
              for (int64_t fw = 0; fw < p.kernel_size.w; ++fw) {
                const int64_t oh = ih * p.stride.h - p.padding.h + fh * p.dilation.h;
                const int64_t ow = iw * p.stride.w - p.padding.w + fw * p.dilation.w;
                if (oh < 0 || oh >= ys[2] || ow < 0 || ow >= ys[3]) continue;
                const int64_t ic = g * icg + i, oc = g * ocg + o;
                const double wv = static_cast<double>(w.data[static_cast<size_t>(
                    ((ic * ocg + o) * p.kernel_size.h + fh) * p.kernel_size.w + fw)]);
                t[static_cast<size_t>((oc * ys[2] + oh) * ys[3] + ow)].xw.push_back(
                    {static_cast<double>(x.at(0, ic, ih, iw)), wv});
              }
  if (b != nullptr) {
    const int64_t plane = ys[2] * ys[3];
    for (size_t k = 0; k < t.size(); ++k) {
      t[k].bias =
          static_cast<double>(b->data[static_cast<size_t>(static_cast<int64_t>(k) / plane)]);
    }
  }
  return t;
}

// Rounding to the formats an order may use. Values are float32 or T numbers (T = the storage
// type), whose sums and products are exact in long double or (for float64) computed in double.
enum class Fmt { kStorage, kFloat32 };

template <class T>
double round_to(long double v, Fmt f) {
  if constexpr (std::is_same_v<T, double>) {
    return static_cast<double>(v);
  } else if constexpr (std::is_same_v<T, float>) {
    return static_cast<double>(static_cast<float>(v));
  } else {
    if (f == Fmt::kFloat32) return static_cast<double>(static_cast<float>(v));
    return static_cast<double>(static_cast<float>(T(static_cast<double>(v))));
  }
}

// One random summation of `leaves` by a random binary tree: pick two, add them with rounding to a
// format chosen by `fmt`, until one is left.
template <class T, class Pick>
double tree_sum(std::vector<double> leaves, std::mt19937_64& rng, Pick fmt) {
  if (leaves.empty()) return 0.0;
  while (leaves.size() > 1) {
    const size_t i = rng() % leaves.size();
    std::swap(leaves[i], leaves.back());
    const double a = leaves.back();
    leaves.pop_back();
    const size_t j = rng() % leaves.size();
    const long double s = static_cast<long double>(a) + static_cast<long double>(leaves[j]);
    leaves[j] = std::is_same_v<T, double> ? a + leaves[j] : round_to<T>(s, fmt());
  }
  return leaves[0];
}

// Results that correct implementations of arithmetic `a` (of storage type T) may return for one
// element: `count` random orders and format choices.
template <class T>
std::vector<double> correct_results(const Terms& t, const Arithmetic& a, std::mt19937_64& rng,
                                    int count) {
  std::vector<double> out;
  const bool half = is_half_v<T>;
  const bool mode32 = half && a.bias_after_rounding;  // compute_mode float32
  const bool wide = a.wider_intermediates;            // compute_mode default
  const auto fmt = [&] {
    if (mode32) return Fmt::kFloat32;
    return wide && rng() % 2 == 0 ? Fmt::kFloat32 : Fmt::kStorage;
  };
  const auto to_storage = [](double v) { return round_to<T>(v, Fmt::kStorage); };
  for (int r = 0; r < count; ++r) {
    std::vector<double> leaves;
    for (const auto& [x, w] : t.xw) {
      leaves.push_back(
          std::is_same_v<T, double> ? x * w : round_to<T>(static_cast<long double>(x) * w, fmt()));
    }
    // The bias inside the sum, or (half formats) added after the result is rounded to T.
    const bool after = half && t.bias && rng() % 2 == 0;
    if (t.bias && !after) leaves.push_back(*t.bias);
    double y;
    if (rng() % 3 == 0 && !t.xw.empty() && !(half && !mode32 && !wide)) {
      // A chain of FMAs in a random order (float32 or float64 accumulators).
      std::vector<size_t> order(t.xw.size());
      for (size_t i = 0; i < order.size(); ++i) order[i] = i;
      std::shuffle(order.begin(), order.end(), rng);
      double acc = t.bias && !after ? *t.bias : 0.0;
      for (size_t i : order) {
        const auto& [x, w] = t.xw[i];
        acc = std::is_same_v<T, double>
                  ? std::fma(x, w, acc)
                  : static_cast<double>(std::fmaf(static_cast<float>(x), static_cast<float>(w),
                                                  static_cast<float>(acc)));
      }
      y = acc;
    } else {
      y = tree_sum<T>(leaves, rng, fmt);
    }
    if (half) y = to_storage(y);  // the float32 result rounded to T (no-op for a T result)
    if (after) y = to_storage(static_cast<long double>(y) + *t.bias);
    out.push_back(y);
  }
  return out;
}

template <class T>
Tensor<T> with(const Tensor<T>& base, size_t i, double v) {
  Tensor<T> t = base;
  t.data[i] = T(v);
  return t;
}

template <class T>
void check_dtype(fuzz::Input& in, const Problem& pr, DType dt, ComputeMode mode) {
  const Shape xs = input_shape(pr), ws = weight_shape(pr.params);
  Case c{pr, tensor_from<T>(in, xs, dt), tensor_from<T>(in, ws, dt), std::nullopt};
  if (pr.params.bias) c.b = tensor_from<T>(in, bias_shape(pr.params), dt);
  const auto& x = std::get<Tensor<T>>(c.x);
  const auto& w = std::get<Tensor<T>>(c.w);
  const Tensor<T>* b = c.b ? &std::get<Tensor<T>>(*c.b) : nullptr;
  const Truth truth = compute_truth(c);
  const Arithmetic claim = claimed_arithmetic(dt, mode);
  const Tensor<double> bound = case_bound(c, claim);
  const auto judge = [&](const Tensor<T>& y) {
    return compare_outputs(truth, y, bound, nullptr, dt, claim);
  };

  // Every registered implementation of this dtype, under its own arithmetic.
  static const Registry registry = builtin_registry();
  for (const Implementation& impl : registry.all()) {
    if (impl.input != dt || impl.exact || impl.pass != Pass::kForward) continue;
    const AnyTensor y = impl.run(pr.params, c.x, c.w, c.b ? &*c.b : nullptr);
    const Arithmetic a = arithmetic_of(impl);
    const Report r = compare_outputs(truth, y, case_bound(c, a), nullptr, impl.output, a);
    if (!r.passed()) finding(pr, dt, a, impl.name + " rejected:\n" + format_report(r));
  }

  // The base candidate: one correct result per element (an order of the claimed arithmetic). It
  // must pass as a whole; then each element in turn is replaced by other values.
  const std::vector<Terms> terms = terms_of(pr, x, w, b);
  std::mt19937_64 rng(in.u64());
  Tensor<T> base(truth.expected.shape);
  for (size_t i = 0; i < base.data.size(); ++i) {
    base.data[i] = T(correct_results<T>(terms[i], claim, rng, 1)[0]);
  }
  if (const Report r = judge(base); !r.passed()) {
    finding(pr, dt, claim, "a correct result rejected:\n" + format_report(r));
  }

  const Precision out = precision_of(dt);
  const long double threshold =
      std::min(overflow_threshold(claim.accumulation), overflow_threshold(out));
  for (size_t i = 0; i < terms.size(); ++i) {
    const Terms& t = terms[i];
    // Soundness: many orders of the claimed arithmetic.
    const int orders = t.xw.size() + (t.bias ? 1 : 0) <= 5 ? 24 : 8;
    for (double v : correct_results<T>(t, claim, rng, orders)) {
      const Report r = judge(with(base, i, v));
      if (!r.passed()) {
        finding(pr, dt, claim,
                "an order's result " + std::to_string(v) + " rejected:\n" + format_report(r));
      }
    }
    if (!boost::multiprecision::isfinite(truth.expected.data[i])) continue;
    // Precision. The exact term sums by sign (products and bias) in long double, and K.
    long double pos = 0, neg = 0, largest = 0;
    for (const auto& [xv, wv] : t.xw) {
      const long double p = static_cast<long double>(xv) * wv;
      (p > 0 ? pos : neg) += std::fabs(p);
      largest = std::max(largest, std::fabs(p));
    }
    if (t.bias) (*t.bias > 0 ? pos : neg) += std::fabs(static_cast<long double>(*t.bias));
    const double k = static_cast<double>(t.xw.size());
    // Any value on the way is at most the sum of one sign's terms grown by every rounding: here
    // e^((K + 4) u) >= (1 + u)^(K + 4) with a factor 2 to spare.
    const long double grow = 2 * std::exp((k + 4) * claim.accumulation.u);
    // The bound itself is no larger than that growth of all terms (plus underflows): finite
    // wherever this is, for every number of taps.
    const long double loose =
        grow * (pos + neg + (k + 2) * std::max(claim.accumulation.eta, out.eta));
    if (loose < 0x1p1000L && !(bound.data[i] <= loose)) {
      finding(pr, dt, claim,
              "bound " + std::to_string(bound.data[i]) + " beyond " +
                  std::to_string(static_cast<double>(loose)) + " at " + std::to_string(i));
    }
    const auto rejects = [&](double v, const char* why) {
      if (judge(with(base, i, v)).passed()) {
        finding(pr, dt, claim,
                std::string(why) + ": " + std::to_string(v) + " accepted at " + std::to_string(i));
      }
    };
    if (pos * grow < threshold) {
      rejects(INFINITY, "+inf where the positive terms cannot overflow");
      rejects(NAN, "NaN where the positive terms cannot overflow");
    }
    if (neg * grow < threshold) {
      rejects(-INFINITY, "-inf where the negative terms cannot overflow");
      rejects(NAN, "NaN where the negative terms cannot overflow");
    }
    const bool fixed = !claim.wider_intermediates;
    if (fixed && largest >= 2 * overflow_threshold(claim.accumulation)) {
      rejects(0.0, "a finite value where a product must overflow");
      const double rounded = static_cast<double>(T(static_cast<double>(truth.expected.data[i])));
      if (std::isfinite(rounded)) rejects(rounded, "the exact value where a product must overflow");
      continue;
    }
    // Finite values beyond the bound: the exact value plus 1.25 and 3 times the bound, where
    // that is a finite T away from the truth by more than the bound.
    const double e = static_cast<double>(truth.expected.data[i]);
    for (const double f : {1.25, -1.25, 3.0}) {
      const double far = static_cast<double>(T(e + f * bound.data[i]));
      if (std::isfinite(bound.data[i]) && std::isfinite(far) &&
          abs(Exact(far) - truth.expected.data[i]) > Exact(bound.data[i])) {
        rejects(far, "a value beyond the bound");
      }
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fuzz::Input in(data, size);
  const Problem pr = problem_from(in);
  try {
    validate(pr);
  } catch (const Error&) {
    return 0;
  }
  if (element_count(output_shape(pr)) > 36) return 0;  // each element is judged many times
  const uint8_t pick = in.byte();
  const ComputeMode mode = pick & 0x10 ? ComputeMode::kFloat32 : ComputeMode::kDefault;
  switch (pick % 4) {
    case 0:
      check_dtype<float>(in, pr, DType::kFloat32, mode);
      break;
    case 1:
      check_dtype<double>(in, pr, DType::kFloat64, mode);
      break;
    case 2:
      check_dtype<float16>(in, pr, DType::kFloat16, mode);
      break;
    default:
      check_dtype<bfloat16>(in, pr, DType::kBFloat16, mode);
      break;
  }
  return 0;
}

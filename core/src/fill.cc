#include "convt2d/fill.h"

#include <fmt/format.h>

#include <cmath>
#include <type_traits>
#include <vector>

#include "convt2d/error.h"

namespace convt2d {
namespace {

// splitmix64: a tiny, well-tested generator whose output is fully specified by its arithmetic.
class Stream {
 public:
  explicit Stream(uint64_t seed) : state_(seed) {}
  uint64_t next() {
    uint64_t z = (state_ += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
  // Uniform in [-1, 1) with 53 random bits. Converted to float32 it keeps 24 significant bits at
  // its own exponent, so small values are as finely resolved as large ones and sums of products
  // really round (a 24-bit fixed-point grid would make double accumulation exact).
  double real() { return static_cast<double>(next() >> 11) * 0x1p-52 - 1.0; }
  // Uniform integer in [lo, hi].
  int64_t between(int64_t lo, int64_t hi) {
    return lo + static_cast<int64_t>(next() % static_cast<uint64_t>(hi - lo + 1));
  }
  // Uniform integer in [-r, r].
  int64_t integer(int64_t r) {
    return static_cast<int64_t>(next() % static_cast<uint64_t>(2 * r + 1)) - r;
  }

 private:
  uint64_t state_;
};

// The cancellation regime in float16/bfloat16 (fill.h): channel i < IC/(2G) of a group pairs
// with i + IC/(2G). Each unpaired-or-first channel gets a random sign shared by all its pixels and
// samples; its x are that sign times [1, 2) and its w are that sign times [0, 8), so every product
// of the first half is positive. The partner's x is a few units in the last place away (relative
// distance about 2^-6 for float16, whose spacing is 2^-10, and 2^-4 for bfloat16, spacing 2^-7),
// its w exactly opposite: each pair leaves a remainder of a few significant bits. An odd last
// channel of a group is unpaired. |w*x| < 16, so sums stay far below float16's overflow.
template <class T>
void fill_half_cancellation(const Problem& pr, Stream& s, ProblemData<T>& d) {
  const Params& p = pr.params;
  const int64_t icg = p.in_channels / p.groups, half = icg / 2;
  const int64_t plane = pr.ih * pr.iw;
  const int64_t taps = p.out_channels / p.groups * p.kernel_size.h * p.kernel_size.w;
  const double rel = std::is_same_v<T, float16> ? 0x1p-6 : 0x1p-4;
  const auto paired = [&](int64_t c) { return c % icg >= half && c % icg < 2 * half; };
  std::vector<double> sign(static_cast<size_t>(p.in_channels));
  for (double& v : sign) v = s.real() < 0 ? -1.0 : 1.0;
  for (int64_t n = 0; n < pr.mb; ++n)
    for (int64_t c = 0; c < p.in_channels; ++c)
      for (int64_t i = 0; i < plane; ++i) {
        T& v = d.x.data[static_cast<size_t>((n * p.in_channels + c) * plane + i)];
        if (paired(c)) {
          const T partner =
              d.x.data[static_cast<size_t>((n * p.in_channels + c - half) * plane + i)];
          v = T(static_cast<double>(partner) * (1.0 + s.real() * rel));
        } else {
          v = T(sign[static_cast<size_t>(c)] * (1.0 + std::fabs(s.real())));
        }
      }
  for (int64_t c = 0; c < p.in_channels; ++c)
    for (int64_t t = 0; t < taps; ++t) {
      T& v = d.w.data[static_cast<size_t>(c * taps + t)];
      v = paired(c) ? -d.w.data[static_cast<size_t>((c - half) * taps + t)]
                    : T(sign[static_cast<size_t>(c)] * 8.0 * std::fabs(s.real()));
    }
  for (T& v : d.b.data) v = T(s.real());
}

}  // namespace

std::string_view to_string(Regime r) {
  switch (r) {
    case Regime::kInteger:
      return "integer";
    case Regime::kReal:
      return "real";
    case Regime::kCancellation:
      return "cancellation";
  }
  return "?";
}

Regime parse_regime(std::string_view s) {
  if (s == "integer") return Regime::kInteger;
  if (s == "real") return Regime::kReal;
  if (s == "cancellation") return Regime::kCancellation;
  throw Error("--regime", fmt::format("--regime: unknown regime '{}' (expected integer, real or "
                                      "cancellation)",
                                      excerpt(s)));
}

namespace {

// Large values of both signs, ±[512, 1024): the cancellation regime's dy.
template <class T>
void fill_large_mixed(Stream& s, Tensor<T>& t) {
  for (T& v : t.data) {
    v = static_cast<T>(std::copysign(512.0 + 512.0 * std::fabs(s.real()), s.real()));
  }
}

// Twice the largest partial sum of integer data of range r, against 2^bits.
bool fits(double r, double k, int significand_bits) {
  return 2 * (r * r * k + r) < std::ldexp(1.0, significand_bits);
}

}  // namespace

double max_taps(const Problem& pr, Pass pass) {
  const Params& p = pr.params;
  const auto d = [](int64_t v) { return static_cast<double>(v); };
  const double taps = d(p.kernel_size.h) * d(p.kernel_size.w);
  switch (pass) {
    case Pass::kBwdData:
      return d(p.out_channels / p.groups) * taps;
    case Pass::kBwdWeights:
      return d(pr.mb) * d(pr.ih) * d(pr.iw);
    case Pass::kBwdBias: {
      const Pair o = output_size(pr);
      return d(pr.mb) * d(o.h) * d(o.w);
    }
    case Pass::kForward:
      break;
  }
  return d(p.in_channels / p.groups) * taps;
}

int64_t integer_range(const Problem& pr, int significand_bits, Pass pass) {
  const double k = max_taps(pr, pass);
  int64_t r = 8;
  while (r > 1 && !fits(static_cast<double>(r), k, significand_bits)) --r;
  return r;
}

bool integer_exact(const Problem& pr, int significand_bits, Pass pass) {
  return fits(static_cast<double>(integer_range(pr, significand_bits, pass)), max_taps(pr, pass),
              significand_bits);
}

template <class T>
ProblemData<T> make_data(const Problem& pr, Regime regime, uint64_t seed, Pass pass) {
  validate(pr);
  const Params& p = pr.params;
  ProblemData<T> d;
  d.x = Tensor<T>(input_shape(pr));
  d.w = Tensor<T>(weight_shape(p));
  if (p.bias) d.b = Tensor<T>(bias_shape(p));
  if (reads_dy(pass)) d.dy = Tensor<T>(output_shape(pr));
  Stream s(seed);
  switch (regime) {
    case Regime::kInteger: {
      const int64_t r = integer_range(pr, significand_bits_v<T>, pass);
      for (auto* t : {&d.x, &d.w, &d.b, &d.dy})
        for (T& v : t->data) v = static_cast<T>(s.integer(r));
      break;
    }
    case Regime::kReal:
      for (auto* t : {&d.x, &d.w, &d.b, &d.dy})
        for (T& v : t->data) v = static_cast<T>(s.real());
      break;
    case Regime::kCancellation: {
      if constexpr (is_half_v<T>) {
        fill_half_cancellation(pr, s, d);
        fill_large_mixed(s, d.dy);
        break;
      }
      // x ~ +-[512, 1024); channel pairs (2i, 2i+1) of a group get x nearly equal (relative
      // difference ~2^-10) and exactly opposite weights, so each pair's products cancel to a
      // ~2^-10 remainder of terms around 2^20.
      const int64_t icg = p.in_channels / p.groups, ocg = p.out_channels / p.groups;
      const int64_t plane = pr.ih * pr.iw, taps = ocg * p.kernel_size.h * p.kernel_size.w;
      for (int64_t n = 0; n < pr.mb; ++n)
        for (int64_t c = 0; c < p.in_channels; ++c)
          for (int64_t i = 0; i < plane; ++i) {
            T& v = d.x.data[static_cast<size_t>((n * p.in_channels + c) * plane + i)];
            if (c % icg % 2 == 1) {
              const T prev = d.x.data[static_cast<size_t>((n * p.in_channels + c - 1) * plane + i)];
              v = static_cast<T>(prev * static_cast<T>(1.0 + s.real() * 0x1p-10));
            } else {
              v = static_cast<T>(std::copysign(512.0 + 512.0 * std::fabs(s.real()), s.real()));
            }
          }
      for (int64_t c = 0; c < p.in_channels; ++c)
        for (int64_t t = 0; t < taps; ++t) {
          T& v = d.w.data[static_cast<size_t>(c * taps + t)];
          v = c % icg % 2 == 1 ? -d.w.data[static_cast<size_t>((c - 1) * taps + t)]
                               : static_cast<T>(s.real() * 1024.0);
        }
      for (T& v : d.b.data) v = static_cast<T>(s.real());
      fill_large_mixed(s, d.dy);
      break;
    }
  }
  return d;
}

template <class T>
Tensor<T> make_tensor(const Shape& shape, Regime regime, uint64_t seed, int64_t int_range) {
  Tensor<T> t(shape);
  Stream s(seed);
  for (T& v : t.data) {
    v = regime == Regime::kInteger ? static_cast<T>(s.integer(int_range))
                                   : static_cast<T>(s.real());
  }
  return t;
}

Problem random_problem(uint64_t seed) {
  Stream s(seed);
  Problem pr;
  Params& p = pr.params;
  pr.mb = s.between(0, 9) == 0 ? 0 : s.between(1, 2);
  // Groups first, then channels as multiples of it; sometimes depthwise.
  p.groups = s.between(0, 3) == 0 ? s.between(2, 4) : 1;
  const bool depthwise = p.groups > 1 && s.between(0, 1) == 0;
  p.in_channels = p.groups * (depthwise ? 1 : s.between(1, 4));
  p.out_channels = p.groups * (depthwise ? 1 : s.between(1, 4));
  const bool square = s.between(0, 1) == 0;
  const auto dim = [&](int64_t lo, int64_t hi) {
    const int64_t h = s.between(lo, hi);
    return Pair{h, square ? h : s.between(lo, hi)};
  };
  Pair in = dim(1, 8);
  pr.ih = in.h;
  pr.iw = in.w;
  p.kernel_size = dim(1, 5);
  p.stride = dim(1, 4);
  p.dilation = s.between(0, 2) == 0 ? dim(2, 3) : Pair{1, 1};
  p.output_padding = {s.between(0, p.stride.h - 1), s.between(0, p.stride.w - 1)};
  // Padding up to the largest value that keeps the output size >= 1 (so sometimes beyond the
  // kernel extent d*(k-1)): 2p <= (H-1)*s + d*(k-1) + op.
  const auto pad = [&](int64_t in_size, int64_t k, int64_t st, int64_t d, int64_t op) {
    return s.between(0, ((in_size - 1) * st + d * (k - 1) + op) / 2);
  };
  p.padding = {pad(pr.ih, p.kernel_size.h, p.stride.h, p.dilation.h, p.output_padding.h),
               pad(pr.iw, p.kernel_size.w, p.stride.w, p.dilation.w, p.output_padding.w)};
  p.bias = s.between(0, 3) != 0;
  validate(pr);
  return pr;
}

template Tensor<float> make_tensor<float>(const Shape&, Regime, uint64_t, int64_t);
template Tensor<double> make_tensor<double>(const Shape&, Regime, uint64_t, int64_t);
template Tensor<float16> make_tensor<float16>(const Shape&, Regime, uint64_t, int64_t);
template Tensor<bfloat16> make_tensor<bfloat16>(const Shape&, Regime, uint64_t, int64_t);
template ProblemData<float> make_data<float>(const Problem&, Regime, uint64_t, Pass);
template ProblemData<double> make_data<double>(const Problem&, Regime, uint64_t, Pass);
template ProblemData<float16> make_data<float16>(const Problem&, Regime, uint64_t, Pass);
template ProblemData<bfloat16> make_data<bfloat16>(const Problem&, Regime, uint64_t, Pass);

}  // namespace convt2d

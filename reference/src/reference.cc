#include "convt2d/reference.h"

#include <fmt/format.h>

#include <bit>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <type_traits>

#include "convt2d/error.h"

namespace convt2d {
namespace {

// For Conv2d's sizes and window positions, whose intermediates can exceed int64 (gather below).
__extension__ typedef __int128 Int128;

// An exact sum of float32 products (and float32 values) in fixed point: the value is
// sum_i limb[i] * 2^(32 i - 298). Every such product is a double that is a multiple of 2^-298
// below 2^256 (see Exact in reference.h), so it adds exactly as at most three 32-bit digits, each
// into a 64-bit limb with room for 2^31 additions before carries must move. 22 limbs reach
// 2^406, beyond any sum of 2^60 such terms. An addition costs a few integer operations instead of
// a 640-bit floating-point addition; the conversion to Exact at the end is exact. Non-finite
// terms are summed apart in double, with IEEE semantics (Inf + -Inf is NaN), as Exact does.
class FixedSum {
 public:
  FixedSum() = default;
  explicit FixedSum(double v) { *this += v; }

  FixedSum& operator+=(double v) {
    if (v == 0) return *this;
    if (!std::isfinite(v)) {
      special_ += v;
      return *this;
    }
    const uint64_t bits = std::bit_cast<uint64_t>(v);
    const int biased = static_cast<int>(bits >> 52 & 0x7ff);
    uint64_t m = bits & ((uint64_t{1} << 52) - 1);
    const int lsb = biased == 0 ? -1074 : biased - 1075;  // the exponent of m's last bit
    if (biased != 0) m |= uint64_t{1} << 52;
    const int tz = std::countr_zero(m);
    m >>= tz;
    const int pos = lsb + tz + kOffset;  // where m's last bit sits in the limbs
    const int i = pos >> 5, sh = pos & 31;
    if (pos < 0 || i + 2 >= static_cast<int>(kLimbs)) {
      throw std::logic_error("FixedSum: a term outside the range of float32 products");
    }
    const uint64_t lo = (m & kDigit) << sh, hi = (m >> 32) << sh;  // m < 2^53, sh < 32
    const auto d0 = static_cast<int64_t>(lo & kDigit);
    const auto d1 = static_cast<int64_t>((lo >> 32) + (hi & kDigit));
    const auto d2 = static_cast<int64_t>(hi >> 32);
    const size_t k = static_cast<size_t>(i);
    if (std::signbit(v)) {
      limb_[k] -= d0, limb_[k + 1] -= d1, limb_[k + 2] -= d2;
    } else {
      limb_[k] += d0, limb_[k + 1] += d1, limb_[k + 2] += d2;
    }
    if (++adds_ == kAddsPerCarry) carry();
    return *this;
  }

  Exact value() const {
    if (special_ != 0) return Exact(special_);  // Inf or NaN
    FixedSum t = *this;
    const bool negative = t.to_magnitude();
    // In 64-bit pieces from the top: all of one sign, so the additions never cancel, and a sum of
    // small numbers (most sums) takes one or two of them.
    Exact r = 0;
    for (size_t i = kLimbs; i-- > 0;) {
      if (t.limb_[i] == 0) continue;
      uint64_t piece = static_cast<uint64_t>(t.limb_[i]) << 32;
      int low = 32 * static_cast<int>(i) - 32;
      if (i > 0) {
        piece |= static_cast<uint64_t>(t.limb_[i - 1]);
        --i;
      } else {
        piece >>= 32;
        low += 32;
      }
      r += ldexp(Exact(piece), low - kOffset);
    }
    return negative ? -r : r;
  }

  /// The value as hi + lo: hi a double within an ulp of it (two roundings), lo the rest where that
  /// is a double, else NaN. Non-finite: hi is the value, lo NaN.
  void pair(double& hi, double& lo) const {
    lo = std::numeric_limits<double>::quiet_NaN();
    if (special_ != 0) {
      hi = special_;
      return;
    }
    FixedSum t = *this;
    const bool negative = t.to_magnitude();
    size_t top = kLimbs;
    while (top > 0 && t.limb_[top - 1] == 0) --top;
    if (top == 0) {
      hi = lo = 0;
      return;
    }
    --top;
    const auto at = [&](size_t i) {
      return std::ldexp(static_cast<double>(t.limb_[i]), 32 * static_cast<int>(i) - kOffset);
    };
    // The top 96 bits (the 64-bit conversion and the addition round at most once each).
    double h = at(top);
    if (top >= 1) {
      const uint64_t piece =
          static_cast<uint64_t>(t.limb_[top]) << 32 | static_cast<uint64_t>(t.limb_[top - 1]);
      h = std::ldexp(static_cast<double>(piece), 32 * static_cast<int>(top - 1) - kOffset);
      if (top >= 2) h += at(top - 2);
    }
    hi = negative ? -h : h;
    FixedSum rest = *this;
    rest += -hi;  // exact: hi is a multiple of 2^-298 (it rounds a sum of such multiples)
    rest.as_double(lo);
  }

 private:
  // lo = the value if it is exactly a double (at most 53 significant bits); else unchanged.
  void as_double(double& out) const {
    FixedSum t = *this;
    const bool negative = t.to_magnitude();
    size_t bottom = 0;
    while (bottom < kLimbs && t.limb_[bottom] == 0) ++bottom;
    if (bottom == kLimbs) {
      out = 0;
      return;
    }
    size_t top = kLimbs - 1;
    while (t.limb_[top] == 0) --top;
    const auto top_limb = static_cast<uint64_t>(t.limb_[top]);
    const auto bottom_limb = static_cast<uint64_t>(t.limb_[bottom]);
    const int tz = std::countr_zero(bottom_limb);
    const int low = 32 * static_cast<int>(bottom) + tz;
    const int high = 32 * static_cast<int>(top) + 63 - std::countl_zero(top_limb);
    if (high - low >= 53) return;
    uint64_t m = bottom_limb >> tz;
    for (size_t i = bottom + 1, shift = 32 - static_cast<size_t>(tz); i <= top; ++i, shift += 32) {
      m |= static_cast<uint64_t>(t.limb_[i]) << shift;  // shift < 53 here: the span is < 53
    }
    const double v = std::ldexp(static_cast<double>(m), low - kOffset);
    out = negative ? -v : v;
  }

  // Carries moved, then the magnitude as 32-bit digits (two's complement negation when the top
  // limb is negative); returns whether the value is negative.
  bool to_magnitude() {
    carry();
    const bool negative = limb_[kLimbs - 1] < 0;
    if (negative) {
      int64_t borrow = 0;
      for (size_t i = 0; i < kLimbs; ++i) {
        const int64_t d = -limb_[i] - borrow;
        borrow = d < 0 && i + 1 < kLimbs ? 1 : 0;
        limb_[i] = d + borrow * (int64_t{1} << 32);
      }
    }
    return negative;
  }

  static constexpr size_t kLimbs = 22;
  static constexpr int kOffset = 298;
  static constexpr uint64_t kDigit = 0xffffffffu;
  static constexpr int64_t kAddsPerCarry = int64_t{1} << 30;
  // Every limb but the last into [0, 2^32), its carry (the arithmetic shift floors) moved up.
  void carry() {
    for (size_t i = 0; i + 1 < kLimbs; ++i) {
      const int64_t c = limb_[i] >> 32;
      limb_[i] -= c * (int64_t{1} << 32);
      limb_[i + 1] += c;
    }
    adds_ = 0;
  }
  int64_t limb_[kLimbs] = {};
  int64_t adds_ = 0;
  double special_ = 0;  // the sum of the non-finite terms
};

static_assert(sizeof(FixedSum) <= 192, "kExactBytesPerElement counts 192 bytes per sum");

// What the loops sum in for an Acc result: FixedSum for exact sums of float32 products (float16
// and bfloat16 values are float32 values), Acc itself otherwise.
template <class T, class Acc>
using SumOf =
    std::conditional_t<(std::is_same_v<T, float> || is_half_v<T>)&&std::is_same_v<Acc, Exact>,
                       FixedSum, Acc>;

// v as a term of a Sum. float16 and bfloat16 values are float values, so they widen through float
// exactly.
template <class Sum, class T>
auto widen(T v) {
  if constexpr (std::is_same_v<Sum, FixedSum>) {
    return static_cast<double>(static_cast<float>(v));
  } else if constexpr (std::is_same_v<Sum, T>) {
    return v;
  } else if constexpr (is_half_v<T>) {
    return static_cast<Sum>(static_cast<float>(v));
  } else {
    return static_cast<Sum>(v);
  }
}

// x * w as a term of a Sum. A float32 product has 48 significant bits and an exponent within
// double's range, so for FixedSum and Exact it is formed in double, exactly: same value, far
// cheaper than a 640-bit multiplication (the same holds for float16 and bfloat16).
template <class T, class Sum>
auto product(T x, T w) {
  if constexpr (std::is_same_v<Sum, FixedSum>) {
    return static_cast<double>(widen<float>(x)) * static_cast<double>(widen<float>(w));
  } else if constexpr ((std::is_same_v<T, float> || is_half_v<T>)&&std::is_same_v<Sum, Exact>) {
    return Sum(static_cast<double>(x) * static_cast<double>(w));
  } else {
    return widen<Sum>(x) * widen<Sum>(w);
  }
}

template <class Acc, class Sum>
Tensor<Acc> results_of(Tensor<Sum>&& t) {
  if constexpr (std::is_same_v<Acc, Sum>) {
    return std::move(t);
  } else {
    Tensor<Acc> r(t.shape);
    for (size_t i = 0; i < t.data.size(); ++i) r.data[i] = t.data[i].value();
    return r;
  }
}

// The scatter definition, summed in Sum.
template <class T, class Sum>
Tensor<Sum> scatter(const Params& params, const Tensor<T>& x, const Tensor<T>& w,
                    const Tensor<T>* b) {
  const Problem pr = problem_from_shapes(params, x.shape, w.shape, b ? &b->shape : nullptr);
  const Params& p = pr.params;
  Tensor<Sum> y(output_shape(pr));
  const int64_t oh_size = y.shape[2], ow_size = y.shape[3];
  const int64_t icg = p.in_channels / p.groups, ocg = p.out_channels / p.groups;
  const int64_t kh = p.kernel_size.h, kw = p.kernel_size.w;
  for (int64_t n = 0; n < pr.mb; ++n) {
    for (int64_t g = 0; g < p.groups; ++g) {
      for (int64_t i = 0; i < icg; ++i) {
        const int64_t ic = g * icg + i;
        for (int64_t ih = 0; ih < pr.ih; ++ih) {
          for (int64_t iw = 0; iw < pr.iw; ++iw) {
            const T xv = x.at(n, ic, ih, iw);
            for (int64_t o = 0; o < ocg; ++o) {
              for (int64_t fh = 0; fh < kh; ++fh) {
                for (int64_t fw = 0; fw < kw; ++fw) {
                  // Scatter: input pixel (ih, iw) through tap (fh, fw) lands here.
                  const int64_t oh = ih * p.stride.h - p.padding.h + fh * p.dilation.h;
                  const int64_t ow = iw * p.stride.w - p.padding.w + fw * p.dilation.w;
                  if (oh < 0 || oh >= oh_size || ow < 0 || ow >= ow_size) continue;
                  // Weight (G, IC/G, OC/G, kh, kw); for G == 1 the same as (IC, OC, kh, kw).
                  const T wv = w.data[static_cast<size_t>(((ic * ocg + o) * kh + fh) * kw + fw)];
                  y.at(n, g * ocg + o, oh, ow) += product<T, Sum>(xv, wv);
                }
              }
            }
          }
        }
      }
    }
  }
  if (p.bias) {
    for (int64_t n = 0; n < pr.mb; ++n)
      for (int64_t c = 0; c < p.out_channels; ++c)
        for (int64_t oh = 0; oh < oh_size; ++oh)
          for (int64_t ow = 0; ow < ow_size; ++ow)
            y.at(n, c, oh, ow) += widen<Sum>(b->data[static_cast<size_t>(c)]);
  }
  return y;
}

// The gather definition of Conv2d, summed in Sum.
template <class T, class Sum>
Tensor<Sum> gather(const Params& params, const Tensor<T>& in, const Tensor<T>& w,
                   const Tensor<T>* b) {
  validate(params);
  const Params& p = params;
  if (in.shape.size() != 4 || in.shape[1] != p.out_channels) {
    throw Error("input", fmt::format("conv2d input: expected shape (N, {}, H, W), got {}",
                                     p.out_channels, format_shape(in.shape)));
  }
  const Shape ws = weight_shape(p);
  if (w.shape != ws) {
    throw Error("weight", fmt::format("weight: shape {} does not match the parameters, which "
                                      "require {}",
                                      format_shape(w.shape), format_shape(ws)));
  }
  if (b != nullptr && b->shape != Shape{1, p.in_channels, 1, 1}) {
    throw Error("bias", fmt::format("conv2d bias: expected shape (1, {}, 1, 1), got {}",
                                    p.in_channels, format_shape(b->shape)));
  }
  const int64_t n_size = in.shape[0], h = in.shape[2], wd = in.shape[3];
  // Conv2d's own output size: floor((H + 2p - d*(k-1) - 1) / s) + 1, in 128-bit arithmetic: the
  // intermediate H + 2p can exceed int64 for a valid ConvTranspose2d whose output Conv2d maps back
  // to a small input (huge padding cancelled by a huge dilation), and each term is below 2^127.
  const auto out_extent = [](const char* dim, int64_t size, int64_t k, int64_t s, int64_t pad,
                             int64_t d) {
    const Int128 num = Int128{size} + 2 * Int128{pad} - Int128{d} * (k - 1) - 1;
    if (num < 0) {
      throw Error("padding", fmt::format("conv2d: output {} would be < 1 (input {}, kernel {}, "
                                         "dilation {}, padding {})",
                                         dim, size, k, d, pad));
    }
    const Int128 extent = num / s + 1;
    if (extent > std::numeric_limits<int64_t>::max()) {
      throw Error("conv2d output", fmt::format("conv2d: output {} overflows int64 (input {}, "
                                               "kernel {}, stride {}, dilation {}, padding {})",
                                               dim, size, k, s, d, pad));
    }
    return static_cast<int64_t>(extent);
  };
  const int64_t oh_size =
      out_extent("height", h, p.kernel_size.h, p.stride.h, p.padding.h, p.dilation.h);
  const int64_t ow_size =
      out_extent("width", wd, p.kernel_size.w, p.stride.w, p.padding.w, p.dilation.w);
  Tensor<Sum> out(Shape{n_size, p.in_channels, oh_size, ow_size});
  const int64_t icg = p.in_channels / p.groups, ocg = p.out_channels / p.groups;
  const int64_t kh = p.kernel_size.h, kw = p.kernel_size.w;
  for (int64_t n = 0; n < n_size; ++n) {
    for (int64_t g = 0; g < p.groups; ++g) {
      for (int64_t i = 0; i < icg; ++i) {
        for (int64_t oh = 0; oh < oh_size; ++oh) {
          for (int64_t ow = 0; ow < ow_size; ++ow) {
            // Gather: the window of output pixel (oh, ow) over every input channel of the group.
            Sum acc(0);
            for (int64_t o = 0; o < ocg; ++o) {
              for (int64_t fh = 0; fh < kh; ++fh) {
                // Window positions in 128 bits too: oh*s - p + fh*d stays within [-p, H + p).
                const Int128 ih = Int128{oh} * p.stride.h - p.padding.h + Int128{fh} * p.dilation.h;
                if (ih < 0 || ih >= h) continue;
                for (int64_t fw = 0; fw < kw; ++fw) {
                  const Int128 iw =
                      Int128{ow} * p.stride.w - p.padding.w + Int128{fw} * p.dilation.w;
                  if (iw < 0 || iw >= wd) continue;
                  const size_t widx =
                      static_cast<size_t>(((((g * icg + i) * ocg) + o) * kh + fh) * kw + fw);
                  acc += product<T, Sum>(
                      w.data[widx],
                      in.at(n, g * ocg + o, static_cast<int64_t>(ih), static_cast<int64_t>(iw)));
                }
              }
            }
            if (b != nullptr) acc += widen<Sum>(b->data[static_cast<size_t>(g * icg + i)]);
            out.at(n, g * icg + i, oh, ow) = acc;
          }
        }
      }
    }
  }
  return out;
}

}  // namespace

template <class T, class Acc>
Tensor<Acc> conv_transpose2d(const Params& params, const Tensor<T>& x, const Tensor<T>& w,
                             const Tensor<T>* b) {
  return results_of<Acc>(scatter<T, SumOf<T, Acc>>(params, x, w, b));
}

template <class T, class Acc>
Tensor<Acc> conv2d(const Params& params, const Tensor<T>& in, const Tensor<T>& w,
                   const Tensor<T>* b) {
  return results_of<Acc>(gather<T, SumOf<T, Acc>>(params, in, w, b));
}

template <class T>
ExactResult conv_transpose2d_exact(const Params& params, const Tensor<T>& x, const Tensor<T>& w,
                                   const Tensor<T>* b) {
  const Tensor<FixedSum> s = scatter<T, FixedSum>(params, x, w, b);
  ExactResult r{Tensor<Exact>(s.shape), Tensor<double>(s.shape), Tensor<double>(s.shape)};
  for (size_t i = 0; i < s.data.size(); ++i) {
    r.value.data[i] = s.data[i].value();
    s.data[i].pair(r.hi.data[i], r.lo.data[i]);
  }
  return r;
}

template <class T>
Tensor<Exact> conv_transpose2d_mp(const Params& params, const Tensor<T>& x, const Tensor<T>& w,
                                  const Tensor<T>* b) {
  return scatter<T, Exact>(params, x, w, b);
}

template <class T>
Tensor<Exact> conv2d_mp(const Params& params, const Tensor<T>& in, const Tensor<T>& w,
                        const Tensor<T>* b) {
  return gather<T, Exact>(params, in, w, b);
}

template <class T, class Acc>
Tensor<T> conv_transpose2d_rounded(const Params& params, const Tensor<T>& x, const Tensor<T>& w,
                                   const Tensor<T>* b) {
  const Problem pr = problem_from_shapes(params, x.shape, w.shape, b ? &b->shape : nullptr);
  Params no_bias = pr.params;
  no_bias.bias = false;
  // The convolution result, accumulated in Acc and rounded once to T...
  Tensor<T> y = round_to<T>(conv_transpose2d<T, Acc>(no_bias, x, w, nullptr));
  if (!pr.params.bias) return y;
  // ...then the bias, added in T (one more rounding).
  for (int64_t n = 0; n < y.shape[0]; ++n)
    for (int64_t c = 0; c < y.shape[1]; ++c)
      for (int64_t oh = 0; oh < y.shape[2]; ++oh)
        for (int64_t ow = 0; ow < y.shape[3]; ++ow)
          y.at(n, c, oh, ow) = y.at(n, c, oh, ow) + b->data[static_cast<size_t>(c)];
  return y;
}

#define CONVT2D_REFERENCE_INSTANTIATE(T, Acc)                                                      \
  template Tensor<Acc> conv_transpose2d<T, Acc>(const Params&, const Tensor<T>&, const Tensor<T>&, \
                                                const Tensor<T>*);                                 \
  template Tensor<Acc> conv2d<T, Acc>(const Params&, const Tensor<T>&, const Tensor<T>&,           \
                                      const Tensor<T>*);
CONVT2D_REFERENCE_INSTANTIATE(float, float)
CONVT2D_REFERENCE_INSTANTIATE(float, double)
CONVT2D_REFERENCE_INSTANTIATE(float, long double)
CONVT2D_REFERENCE_INSTANTIATE(float, Exact)
CONVT2D_REFERENCE_INSTANTIATE(double, double)
CONVT2D_REFERENCE_INSTANTIATE(double, long double)
CONVT2D_REFERENCE_INSTANTIATE(double, Exact)
CONVT2D_REFERENCE_INSTANTIATE(float16, float16)
CONVT2D_REFERENCE_INSTANTIATE(float16, float)
CONVT2D_REFERENCE_INSTANTIATE(float16, long double)
CONVT2D_REFERENCE_INSTANTIATE(float16, Exact)
CONVT2D_REFERENCE_INSTANTIATE(bfloat16, bfloat16)
CONVT2D_REFERENCE_INSTANTIATE(bfloat16, float)
CONVT2D_REFERENCE_INSTANTIATE(bfloat16, long double)
CONVT2D_REFERENCE_INSTANTIATE(bfloat16, Exact)
#define CONVT2D_REFERENCE_MP_INSTANTIATE(T)                                                        \
  template Tensor<Exact> conv_transpose2d_mp<T>(const Params&, const Tensor<T>&, const Tensor<T>&, \
                                                const Tensor<T>*);                                 \
  template Tensor<Exact> conv2d_mp<T>(const Params&, const Tensor<T>&, const Tensor<T>&,           \
                                      const Tensor<T>*);
#define CONVT2D_REFERENCE_EXACT_INSTANTIATE(T)                                    \
  template ExactResult conv_transpose2d_exact<T>(const Params&, const Tensor<T>&, \
                                                 const Tensor<T>&, const Tensor<T>*);
CONVT2D_REFERENCE_EXACT_INSTANTIATE(float)
CONVT2D_REFERENCE_EXACT_INSTANTIATE(float16)
CONVT2D_REFERENCE_EXACT_INSTANTIATE(bfloat16)
CONVT2D_REFERENCE_MP_INSTANTIATE(float)
CONVT2D_REFERENCE_MP_INSTANTIATE(float16)
CONVT2D_REFERENCE_MP_INSTANTIATE(bfloat16)
template Tensor<float16> conv_transpose2d_rounded<float16, float16>(const Params&,
                                                                    const Tensor<float16>&,
                                                                    const Tensor<float16>&,
                                                                    const Tensor<float16>*);
template Tensor<float16> conv_transpose2d_rounded<float16, float>(const Params&,
                                                                  const Tensor<float16>&,
                                                                  const Tensor<float16>&,
                                                                  const Tensor<float16>*);
template Tensor<bfloat16> conv_transpose2d_rounded<bfloat16, bfloat16>(const Params&,
                                                                       const Tensor<bfloat16>&,
                                                                       const Tensor<bfloat16>&,
                                                                       const Tensor<bfloat16>*);
template Tensor<bfloat16> conv_transpose2d_rounded<bfloat16, float>(const Params&,
                                                                    const Tensor<bfloat16>&,
                                                                    const Tensor<bfloat16>&,
                                                                    const Tensor<bfloat16>*);

}  // namespace convt2d

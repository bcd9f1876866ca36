#include "convt2d/reference.h"

#include <fmt/format.h>

#include "convt2d/checked.h"
#include "convt2d/error.h"

namespace convt2d {
namespace {

// v as an Acc. float16 and bfloat16 values are float values, so they widen through float exactly.
template <class Acc, class T>
Acc widen(T v) {
  if constexpr (std::is_same_v<Acc, T>) {
    return v;
  } else if constexpr (is_half_v<T>) {
    return static_cast<Acc>(static_cast<float>(v));
  } else {
    return static_cast<Acc>(v);
  }
}

// x * w formed in Acc. A float32 product has 48 significant bits and an exponent within double's
// range, so for Exact it is formed in double, exactly, and converted: same value, far cheaper than
// a 640-bit multiplication (the same holds for float16 and bfloat16, which are float values).
template <class T, class Acc>
Acc product(T x, T w) {
  if constexpr ((std::is_same_v<T, float> || is_half_v<T>)&&std::is_same_v<Acc, Exact>) {
    return Acc(static_cast<double>(x) * static_cast<double>(w));
  } else {
    return widen<Acc>(x) * widen<Acc>(w);
  }
}

}  // namespace

template <class T, class Acc>
Tensor<Acc> conv_transpose2d(const Params& params, const Tensor<T>& x, const Tensor<T>& w,
                             const Tensor<T>* b) {
  const Problem pr = problem_from_shapes(params, x.shape, w.shape, b ? &b->shape : nullptr);
  const Params& p = pr.params;
  Tensor<Acc> y(output_shape(pr));
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
                  y.at(n, g * ocg + o, oh, ow) += product<T, Acc>(xv, wv);
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
            y.at(n, c, oh, ow) += widen<Acc>(b->data[static_cast<size_t>(c)]);
  }
  return y;
}

template <class T, class Acc>
Tensor<Acc> conv2d(const Params& params, const Tensor<T>& in, const Tensor<T>& w,
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
  // Conv2d's own output size: floor((H + 2p - d*(k-1) - 1) / s) + 1.
  const auto out_extent = [](const char* dim, int64_t size, int64_t k, int64_t s, int64_t pad,
                             int64_t d) {
    const std::string what = fmt::format("conv2d output {}", dim);
    int64_t num = checked_add(size, checked_mul(2, pad, what), what);
    num = checked_sub(num, checked_add(checked_mul(d, k - 1, what), 1, what), what);
    if (num < 0) {
      throw Error("padding", fmt::format("conv2d: output {} would be < 1 (input {}, kernel {}, "
                                         "dilation {}, padding {})",
                                         dim, size, k, d, pad));
    }
    return num / s + 1;
  };
  const int64_t oh_size =
      out_extent("height", h, p.kernel_size.h, p.stride.h, p.padding.h, p.dilation.h);
  const int64_t ow_size =
      out_extent("width", wd, p.kernel_size.w, p.stride.w, p.padding.w, p.dilation.w);
  Tensor<Acc> out(Shape{n_size, p.in_channels, oh_size, ow_size});
  const int64_t icg = p.in_channels / p.groups, ocg = p.out_channels / p.groups;
  const int64_t kh = p.kernel_size.h, kw = p.kernel_size.w;
  for (int64_t n = 0; n < n_size; ++n) {
    for (int64_t g = 0; g < p.groups; ++g) {
      for (int64_t i = 0; i < icg; ++i) {
        for (int64_t oh = 0; oh < oh_size; ++oh) {
          for (int64_t ow = 0; ow < ow_size; ++ow) {
            // Gather: the window of output pixel (oh, ow) over every input channel of the group.
            Acc acc(0);
            for (int64_t o = 0; o < ocg; ++o) {
              for (int64_t fh = 0; fh < kh; ++fh) {
                const int64_t ih = oh * p.stride.h - p.padding.h + fh * p.dilation.h;
                if (ih < 0 || ih >= h) continue;
                for (int64_t fw = 0; fw < kw; ++fw) {
                  const int64_t iw = ow * p.stride.w - p.padding.w + fw * p.dilation.w;
                  if (iw < 0 || iw >= wd) continue;
                  const size_t widx =
                      static_cast<size_t>(((((g * icg + i) * ocg) + o) * kh + fh) * kw + fw);
                  acc += product<T, Acc>(w.data[widx], in.at(n, g * ocg + o, ih, iw));
                }
              }
            }
            if (b != nullptr) acc += widen<Acc>(b->data[static_cast<size_t>(g * icg + i)]);
            out.at(n, g * icg + i, oh, ow) = acc;
          }
        }
      }
    }
  }
  return out;
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

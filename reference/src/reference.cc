#include "convt2d/reference.h"

#include <fmt/format.h>

#include <bit>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <type_traits>

#include "convt2d/error.h"
#include "sums.h"

namespace convt2d {
namespace {

using detail::FixedSum;
using detail::product;
using detail::results_of;
using detail::SumOf;
using detail::widen;

// For Conv2d's sizes and window positions, whose intermediates can exceed int64 (gather below).
__extension__ typedef __int128 Int128;

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
  // y is this function's own tensor, never a view: its elements are reached through one pointer,
  // which keeps the storage's copy-on-write test out of the innermost loop (half the time).
  Sum* const yd = y.ptr();
  const auto y_at = [&](int64_t n, int64_t c, int64_t oh, int64_t ow) -> Sum& {
    return yd[static_cast<size_t>(((n * p.out_channels + c) * oh_size + oh) * ow_size + ow)];
  };
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
                  y_at(n, g * ocg + o, oh, ow) += product<T, Sum>(xv, wv);
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
            y_at(n, c, oh, ow) += widen<Sum>(b->data[static_cast<size_t>(c)]);
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
  check_weight_shape(p, w.shape);
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

#pragma once
// Test support: a float16 "backend" that cuts a corner the float32 compute_mode forbids. Each
// product is rounded to float16 (float16 intermediates) before a float32 accumulator sums them;
// the sum is rounded to float16 and the bias added in float16, as MegEngine does. Its error grows
// like sqrt(K) * 2^-11 * |w*x| instead of K * 2^-24 * sum|w*x|: for K of a few hundred it stays
// inside the float32-mode certified bound but leaves the band (docs/oracle.md).

#include "convt2d/params.h"
#include "convt2d/tensor.h"

namespace convt2d::testing {

inline Tensor<float16> float16_products_float32_sums(const Params& params, const Tensor<float16>& x,
                                                     const Tensor<float16>& w,
                                                     const Tensor<float16>* b) {
  const Problem pr = problem_from_shapes(params, x.shape, w.shape, b ? &b->shape : nullptr);
  const Params& p = pr.params;
  Tensor<float> acc(output_shape(pr));
  const int64_t icg = p.in_channels / p.groups, ocg = p.out_channels / p.groups;
  const int64_t kh = p.kernel_size.h, kw = p.kernel_size.w;
  for (int64_t n = 0; n < pr.mb; ++n)
    for (int64_t ic = 0; ic < p.in_channels; ++ic)
      for (int64_t ih = 0; ih < pr.ih; ++ih)
        for (int64_t iw = 0; iw < pr.iw; ++iw)
          for (int64_t o = 0; o < ocg; ++o)
            for (int64_t fh = 0; fh < kh; ++fh)
              for (int64_t fw = 0; fw < kw; ++fw) {
                const int64_t oh = ih * p.stride.h - p.padding.h + fh * p.dilation.h;
                const int64_t ow = iw * p.stride.w - p.padding.w + fw * p.dilation.w;
                if (oh < 0 || oh >= acc.shape[2] || ow < 0 || ow >= acc.shape[3]) continue;
                const float16 t = x.at(n, ic, ih, iw) *
                                  w.data[static_cast<size_t>(((ic * ocg + o) * kh + fh) * kw +
                                                             fw)];  // rounded to float16
                acc.at(n, ic / icg * ocg + o, oh, ow) += t.to_float();
              }
  Tensor<float16> y = tensor_cast<float16>(acc);
  if (b != nullptr) {
    for (int64_t i = 0; i < y.size(); ++i) {
      const int64_t c = i / (y.shape[2] * y.shape[3]) % y.shape[1];
      y.data[static_cast<size_t>(i)] =
          y.data[static_cast<size_t>(i)] + b->data[static_cast<size_t>(c)];
    }
  }
  return y;
}

}  // namespace convt2d::testing

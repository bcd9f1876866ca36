#pragma once
// The backward passes' definitions (convt2d/backward.h) as loops over any accumulator Sum:
// backward.cc sums them in the accumulator of a reference, bounds.cc in sign-split magnitudes
// whose count of terms is each element's K. Internal to reference/.

#include <fmt/format.h>

#include "convt2d/backward.h"
#include "convt2d/error.h"
#include "sums.h"

namespace convt2d::detail {

// acc += a * b and acc += v as terms of a Sum; bounds.cc overloads them for its own accumulator
// (found by argument-dependent lookup where the loops are instantiated).
template <class T, class Sum>
void add_product(Sum& acc, T a, T b) {
  acc += product<T, Sum>(a, b);
}
template <class T, class Sum>
void add_value(Sum& acc, T v) {
  acc += widen<Sum>(v);
}

// dx[n, g*ICg + i, ih, iw] = sum over o, fh, fw of w[g, i, o, fh, fw] * dy[n, g*OCg + o, oh, ow],
// (oh, ow) = (ih*sh - ph + fh*dh, iw*sw - pw + fw*dw) inside dy.
template <class Sum, class T>
Tensor<Sum> bwd_data_sums(const Params& params, const Tensor<T>& dy, const Tensor<T>& w) {
  const Problem pr = problem_from_output(params, dy.shape);
  const Params& p = pr.params;
  check_weight_shape(p, w.shape);
  Tensor<Sum> dx(input_shape(pr));
  const int64_t icg = p.in_channels / p.groups, ocg = p.out_channels / p.groups;
  const int64_t kh = p.kernel_size.h, kw = p.kernel_size.w;
  const int64_t oh_size = dy.shape[2], ow_size = dy.shape[3];
  for (int64_t n = 0; n < pr.mb; ++n)
    for (int64_t g = 0; g < p.groups; ++g)
      for (int64_t i = 0; i < icg; ++i)
        for (int64_t ih = 0; ih < pr.ih; ++ih)
          for (int64_t iw = 0; iw < pr.iw; ++iw) {
            Sum acc{};
            for (int64_t o = 0; o < ocg; ++o)
              for (int64_t fh = 0; fh < kh; ++fh) {
                const int64_t oh = ih * p.stride.h - p.padding.h + fh * p.dilation.h;
                if (oh < 0 || oh >= oh_size) continue;
                for (int64_t fw = 0; fw < kw; ++fw) {
                  const int64_t ow = iw * p.stride.w - p.padding.w + fw * p.dilation.w;
                  if (ow < 0 || ow >= ow_size) continue;
                  const T wv =
                      w.data[static_cast<size_t>((((g * icg + i) * ocg + o) * kh + fh) * kw + fw)];
                  add_product(acc, wv, dy.at(n, g * ocg + o, oh, ow));
                }
              }
            dx.at(n, g * icg + i, ih, iw) = acc;
          }
  return dx;
}

// dw[g, i, o, fh, fw] = sum over n, ih, iw of x[n, g*ICg + i, ih, iw] * dy[n, g*OCg + o, oh, ow].
template <class Sum, class T>
Tensor<Sum> bwd_weights_sums(const Params& params, const Tensor<T>& x, const Tensor<T>& dy) {
  Params no_bias = params;
  no_bias.bias = false;
  const Problem pr = problem_from_shapes(no_bias, x.shape, weight_shape(no_bias), nullptr);
  const Params& p = pr.params;
  if (dy.shape != output_shape(pr)) {
    throw Error("dy", fmt::format("dy: shape {} is not the output shape {} of input {}",
                                  format_shape(dy.shape), format_shape(output_shape(pr)),
                                  format_shape(x.shape)));
  }
  Tensor<Sum> dw(weight_shape(p));
  const int64_t icg = p.in_channels / p.groups, ocg = p.out_channels / p.groups;
  const int64_t kh = p.kernel_size.h, kw = p.kernel_size.w;
  const int64_t oh_size = dy.shape[2], ow_size = dy.shape[3];
  for (int64_t g = 0; g < p.groups; ++g)
    for (int64_t i = 0; i < icg; ++i)
      for (int64_t o = 0; o < ocg; ++o)
        for (int64_t fh = 0; fh < kh; ++fh)
          for (int64_t fw = 0; fw < kw; ++fw) {
            Sum acc{};
            for (int64_t n = 0; n < pr.mb; ++n)
              for (int64_t ih = 0; ih < pr.ih; ++ih) {
                const int64_t oh = ih * p.stride.h - p.padding.h + fh * p.dilation.h;
                if (oh < 0 || oh >= oh_size) continue;
                for (int64_t iw = 0; iw < pr.iw; ++iw) {
                  const int64_t ow = iw * p.stride.w - p.padding.w + fw * p.dilation.w;
                  if (ow < 0 || ow >= ow_size) continue;
                  add_product(acc, x.at(n, g * icg + i, ih, iw), dy.at(n, g * ocg + o, oh, ow));
                }
              }
            dw.data[static_cast<size_t>((((g * icg + i) * ocg + o) * kh + fh) * kw + fw)] = acc;
          }
  return dw;
}

// db[0, oc, 0, 0] = sum over n, h, w of dy[n, oc, h, w].
template <class Sum, class T>
Tensor<Sum> bwd_bias_sums(const Params& params, const Tensor<T>& dy) {
  problem_from_output(params, dy.shape);  // validates params and dy's shape
  Tensor<Sum> db(Shape{1, params.out_channels, 1, 1});
  for (int64_t oc = 0; oc < params.out_channels; ++oc) {
    Sum acc{};
    for (int64_t n = 0; n < dy.shape[0]; ++n)
      for (int64_t h = 0; h < dy.shape[2]; ++h)
        for (int64_t w = 0; w < dy.shape[3]; ++w) add_value(acc, dy.at(n, oc, h, w));
    db.data[static_cast<size_t>(oc)] = acc;
  }
  return db;
}

// The operand a pass needs, or an Error naming it.
template <class T>
const Tensor<T>& operand(const Tensor<T>* t, Pass pass, const char* name) {
  if (t == nullptr) {
    throw Error(name, fmt::format("{}: the {} pass reads {}, but none was given", name,
                                  to_string(pass), name));
  }
  return *t;
}

}  // namespace convt2d::detail

// The backward passes of the mutant copy: the definitions' gather loops (float32 accumulator),
// written again here, with mutants 17-26 switched on by CONVT2D_MUTANT. Mutants 0-16 leave them
// faithful (and break only the forward pass in mutant_reference.cc).
#include <fmt/format.h>

#include "convt2d/error.h"
#include "convt2d/pass.h"
#include "mutant_reference.h"

#ifndef CONVT2D_MUTANT
#define CONVT2D_MUTANT 0
#endif

namespace convt2d::mutants {
namespace {

void check_shape(const char* what, const Shape& got, const Shape& want) {
  if (got != want) {
    throw Error(what, fmt::format("{}: shape {}, expected {}", what, format_shape(got),
                                  format_shape(want)));
  }
}

}  // namespace

const char* backward_mutant_description() {
  switch (CONVT2D_MUTANT) {
    case 17:
      return "bwd_weights: tap offset without the padding (row ih*sh + fh*dh)";
    case 18:
      return "bwd_weights: missing group offset (x channel i instead of g*ICg + i)";
    case 19:
      return "bwd_weights: output_padding rows and columns of dy dropped";
    case 20:
      return "bwd_bias: the batch axis not summed (sample 0 only)";
    case 21:
      return "bwd_bias: the W axis not summed (column 0 only)";
    case 22:
      return "bwd_data: kernel spatially flipped";
    case 23:
      return "bwd_data: missing group offset (dy channel o instead of g*OCg + o)";
    case 24:
      return "bwd_data: dilation ignored in W (column iw*sw - pw + fw)";
    case 25:
      return "bwd_data: stride ignored in H (row ih - ph + fh*dh)";
    case 26:
      return "bwd_weights: only the first sample summed";
    default:
      return nullptr;
  }
}

Tensor<float> bwd_data_mutant(const Params& params, const Tensor<float>& dy,
                              const Tensor<float>& w) {
  const Problem pr = problem_from_output(params, dy.shape);
  const Params& p = pr.params;
  check_shape("weight", w.shape, weight_shape(p));
  Tensor<float> dx(input_shape(pr));
  const int64_t icg = p.in_channels / p.groups, ocg = p.out_channels / p.groups;
  const int64_t kh = p.kernel_size.h, kw = p.kernel_size.w;
  for (int64_t n = 0; n < pr.mb; ++n)
    for (int64_t g = 0; g < p.groups; ++g)
      for (int64_t i = 0; i < icg; ++i)
        for (int64_t ih = 0; ih < pr.ih; ++ih)
          for (int64_t iw = 0; iw < pr.iw; ++iw) {
            float acc = 0;
            for (int64_t o = 0; o < ocg; ++o)
              for (int64_t fh = 0; fh < kh; ++fh)
                for (int64_t fw = 0; fw < kw; ++fw) {
#if CONVT2D_MUTANT == 25
                  const int64_t oh = ih - p.padding.h + fh * p.dilation.h;
#else
                  const int64_t oh = ih * p.stride.h - p.padding.h + fh * p.dilation.h;
#endif
#if CONVT2D_MUTANT == 24
                  const int64_t ow = iw * p.stride.w - p.padding.w + fw;
#else
                  const int64_t ow = iw * p.stride.w - p.padding.w + fw * p.dilation.w;
#endif
                  if (oh < 0 || oh >= dy.shape[2] || ow < 0 || ow >= dy.shape[3]) continue;
#if CONVT2D_MUTANT == 22
                  const int64_t kfh = kh - 1 - fh, kfw = kw - 1 - fw;
#else
                  const int64_t kfh = fh, kfw = fw;
#endif
#if CONVT2D_MUTANT == 23
                  const int64_t oc = o;
#else
                  const int64_t oc = g * ocg + o;
#endif
                  const float wv = w.data[static_cast<size_t>(
                      (((g * icg + i) * ocg + o) * kh + kfh) * kw + kfw)];
                  acc += wv * dy.at(n, oc, oh, ow);
                }
            dx.at(n, g * icg + i, ih, iw) = acc;
          }
  return dx;
}

Tensor<float> bwd_weights_mutant(const Params& params, const Tensor<float>& x,
                                 const Tensor<float>& dy) {
  const Problem pr = problem_from_output(params, dy.shape);
  const Params& p = pr.params;
  check_shape("x", x.shape, input_shape(pr));
  Tensor<float> dw(weight_shape(p));
  const int64_t icg = p.in_channels / p.groups, ocg = p.out_channels / p.groups;
  const int64_t kh = p.kernel_size.h, kw = p.kernel_size.w;
  int64_t oh_end = dy.shape[2], ow_end = dy.shape[3], mb_end = pr.mb;
#if CONVT2D_MUTANT == 19
  oh_end -= p.output_padding.h;
  ow_end -= p.output_padding.w;
#elif CONVT2D_MUTANT == 26
  mb_end = pr.mb > 0 ? 1 : 0;
#endif
  float* out = dw.data.data();
  for (int64_t g = 0; g < p.groups; ++g)
    for (int64_t i = 0; i < icg; ++i)
      for (int64_t o = 0; o < ocg; ++o)
        for (int64_t fh = 0; fh < kh; ++fh)
          for (int64_t fw = 0; fw < kw; ++fw) {
            float acc = 0;
            for (int64_t n = 0; n < mb_end; ++n)
              for (int64_t ih = 0; ih < pr.ih; ++ih)
                for (int64_t iw = 0; iw < pr.iw; ++iw) {
#if CONVT2D_MUTANT == 17
                  const int64_t oh = ih * p.stride.h + fh * p.dilation.h;
#else
                  const int64_t oh = ih * p.stride.h - p.padding.h + fh * p.dilation.h;
#endif
                  const int64_t ow = iw * p.stride.w - p.padding.w + fw * p.dilation.w;
                  if (oh < 0 || oh >= oh_end || ow < 0 || ow >= ow_end) continue;
#if CONVT2D_MUTANT == 18
                  const int64_t ic = i;
#else
                  const int64_t ic = g * icg + i;
#endif
                  acc += x.at(n, ic, ih, iw) * dy.at(n, g * ocg + o, oh, ow);
                }
            *out++ = acc;
          }
  return dw;
}

Tensor<float> bwd_bias_mutant(const Params& params, const Tensor<float>& dy) {
  const Problem pr = problem_from_output(params, dy.shape);
  check_pass(pr, Pass::kBwdBias);
  Tensor<float> db(Shape{1, pr.params.out_channels, 1, 1});
  int64_t mb_end = pr.mb, ow_end = dy.shape[3];
#if CONVT2D_MUTANT == 20
  mb_end = pr.mb > 0 ? 1 : 0;
#elif CONVT2D_MUTANT == 21
  ow_end = 1;
#endif
  for (int64_t oc = 0; oc < pr.params.out_channels; ++oc) {
    float acc = 0;
    for (int64_t n = 0; n < mb_end; ++n)
      for (int64_t h = 0; h < dy.shape[2]; ++h)
        for (int64_t w = 0; w < ow_end; ++w) acc += dy.at(n, oc, h, w);
    db.data[static_cast<size_t>(oc)] = acc;
  }
  return db;
}

}  // namespace convt2d::mutants

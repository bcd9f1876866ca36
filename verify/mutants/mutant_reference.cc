#include "mutant_reference.h"

#include <cmath>
#include <limits>
#include <vector>

#ifndef CONVT2D_MUTANT
#define CONVT2D_MUTANT 0
#endif

namespace convt2d::mutants {
namespace {

// Rounds to the nearest IEEE binary16 value (11-bit significand, subnormals below 2^-14,
// overflow to infinity above 65504): the "accumulation in half precision" mutant.
[[maybe_unused]] float round_to_half(float v) {
  if (v == 0 || !std::isfinite(v)) return v;
  int e = 0;
  std::frexp(v, &e);  // |v| in [2^(e-1), 2^e)
  const int quantum_exp = std::max(e - 11, -24);
  const float r = std::ldexp(std::nearbyint(std::ldexp(v, -quantum_exp)), quantum_exp);
  return std::fabs(r) > 65504.f ? std::copysign(std::numeric_limits<float>::infinity(), r) : r;
}

}  // namespace

int mutant_id() {
  return CONVT2D_MUTANT;
}

const char* mutant_description() {
  switch (CONVT2D_MUTANT) {
    case 0:
      return "none (faithful copy of the reference; must pass)";
    case 1:
      return "output_padding ignored in W (output width too small)";
    case 2:
      return "kernel spatially flipped";
    case 3:
      return "padding off by one (p + 1 in the scatter position)";
    case 4:
      return "wrong group offset (input channel g*OCg + i)";
    case 5:
      return "bias skipped on rows/cols that no tap reaches";
    case 6:
      return "dilation applied to the input instead of the kernel";
    case 7:
      return "in/out channels swapped in the grouped weight (G, OCg, ICg, kh, kw)";
    case 8:
      return "stride applied to the wrong axis (h uses sw, w uses sh)";
    case 9:
      return "accumulation in half precision (binary16 after every add)";
    case 10:
      return "bias indexed by the group-local output channel";
    case 11:
      return "output_padding rows placed at the top/left instead of bottom/right";
    case 12:
      return "last input row skipped (loop bound off by one)";
    case 13:
      return "every batch sample reads sample 0's input";
    case 14:
      return "bias added to taps-bearing elements only in the first sample";
    case 15:
      return "output_padding in W ignored when output_padding in H is 0";
    case 16:
      return "kernel plane read transposed (w[fw][fh] in column-major order)";
    default: {
      const char* d = backward_mutant_description();
      return d != nullptr ? d : "unknown";
    }
  }
}

Tensor<float> conv_transpose2d_mutant(const Params& params, const Tensor<float>& x,
                                      const Tensor<float>& w, const Tensor<float>* b) {
  const Problem pr = problem_from_shapes(params, x.shape, w.shape, b ? &b->shape : nullptr);
  const Params& p = pr.params;
  Shape os = output_shape(pr);
#if CONVT2D_MUTANT == 1
  os[3] -= p.output_padding.w;
#elif CONVT2D_MUTANT == 15
  if (p.output_padding.h == 0) os[3] -= p.output_padding.w;
#endif
  Tensor<float> y(os);
  const int64_t oh_size = y.shape[2], ow_size = y.shape[3];
  const int64_t icg = p.in_channels / p.groups, ocg = p.out_channels / p.groups;
  const int64_t kh = p.kernel_size.h, kw = p.kernel_size.w;
  [[maybe_unused]] std::vector<char> tapped(static_cast<size_t>(oh_size * ow_size), 0);
  int64_t ih_end = pr.ih;
#if CONVT2D_MUTANT == 12
  ih_end = pr.ih - 1;
#endif
  for (int64_t n = 0; n < pr.mb; ++n) {
    for (int64_t g = 0; g < p.groups; ++g) {
      for (int64_t i = 0; i < icg; ++i) {
        int64_t ic = g * icg + i;
#if CONVT2D_MUTANT == 4
        ic = (g * ocg + i) % p.in_channels;
#endif
        for (int64_t ih = 0; ih < ih_end; ++ih) {
          for (int64_t iw = 0; iw < pr.iw; ++iw) {
#if CONVT2D_MUTANT == 13
            const float xv = x.at(0, ic, ih, iw);
#else
            const float xv = x.at(n, ic, ih, iw);
#endif
            for (int64_t o = 0; o < ocg; ++o) {
              for (int64_t fh = 0; fh < kh; ++fh) {
                for (int64_t fw = 0; fw < kw; ++fw) {
#if CONVT2D_MUTANT == 3
                  const int64_t oh = ih * p.stride.h - (p.padding.h + 1) + fh * p.dilation.h;
                  const int64_t ow = iw * p.stride.w - p.padding.w + fw * p.dilation.w;
#elif CONVT2D_MUTANT == 6
                  const int64_t oh = ih * p.stride.h * p.dilation.h - p.padding.h + fh;
                  const int64_t ow = iw * p.stride.w * p.dilation.w - p.padding.w + fw;
#elif CONVT2D_MUTANT == 8
                  const int64_t oh = ih * p.stride.w - p.padding.h + fh * p.dilation.h;
                  const int64_t ow = iw * p.stride.h - p.padding.w + fw * p.dilation.w;
#elif CONVT2D_MUTANT == 11
                  const int64_t oh =
                      ih * p.stride.h - p.padding.h + fh * p.dilation.h + p.output_padding.h;
                  const int64_t ow =
                      iw * p.stride.w - p.padding.w + fw * p.dilation.w + p.output_padding.w;
#else
                  const int64_t oh = ih * p.stride.h - p.padding.h + fh * p.dilation.h;
                  const int64_t ow = iw * p.stride.w - p.padding.w + fw * p.dilation.w;
#endif
                  if (oh < 0 || oh >= oh_size || ow < 0 || ow >= ow_size) continue;
#if CONVT2D_MUTANT == 2
                  const int64_t kfh = kh - 1 - fh, kfw = kw - 1 - fw;
#else
                  const int64_t kfh = fh, kfw = fw;
#endif
#if CONVT2D_MUTANT == 7
                  const int64_t plane = p.groups > 1 ? (g * ocg + o) * icg + i : ic * ocg + o;
#else
                  const int64_t plane = ic * ocg + o;
#endif
#if CONVT2D_MUTANT == 16
                  const float wv = w.data[static_cast<size_t>(plane * kh * kw + kfw * kh + kfh)];
#else
                  const float wv = w.data[static_cast<size_t>((plane * kh + kfh) * kw + kfw)];
#endif
                  float& acc = y.at(n, g * ocg + o, oh, ow);
                  acc += xv * wv;
#if CONVT2D_MUTANT == 9
                  acc = round_to_half(acc);
#endif
                  tapped[static_cast<size_t>(oh * ow_size + ow)] = 1;
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
          for (int64_t ow = 0; ow < ow_size; ++ow) {
            int64_t bc = c;
#if CONVT2D_MUTANT == 10
            bc = c % ocg;
#endif
#if CONVT2D_MUTANT == 5
            if (!tapped[static_cast<size_t>(oh * ow_size + ow)]) continue;
#endif
#if CONVT2D_MUTANT == 14
            if (n > 0 && tapped[static_cast<size_t>(oh * ow_size + ow)]) continue;
#endif
            y.at(n, c, oh, ow) += b->data[static_cast<size_t>(bc)];
          }
  }
  return y;
}

}  // namespace convt2d::mutants

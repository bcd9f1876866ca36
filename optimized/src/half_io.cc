// float16 / bfloat16 through the float32 kernels with compute_mode `float32` semantics.
#include <fmt/format.h>

#include "convt2d/error.h"
#include "convt2d/optimized.h"
#include "plan.h"

namespace convt2d::optimized {
namespace {

// Exact: every float16 and bfloat16 value is a float.
Tensor<float> widen(const Tensor<float16>& t, Isa isa) {
  Tensor<float> r(t.shape);
  static_assert(sizeof(float16) == sizeof(uint16_t));
  kernel_table(isa).widen_f16(reinterpret_cast<const uint16_t*>(t.ptr()), r.ptr(), t.size());
  return r;
}
Tensor<float> widen(const Tensor<bfloat16>& t, Isa) {
  Tensor<float> r(t.shape);
  for (int64_t i = 0; i < t.size(); ++i) {
    r.data[static_cast<size_t>(i)] = t.data[static_cast<size_t>(i)].to_float();
  }
  return r;
}

// Rounded once, to nearest even.
void narrow(const Tensor<float>& t, Tensor<float16>& out, Isa isa) {
  kernel_table(isa).narrow_f16(t.ptr(), reinterpret_cast<uint16_t*>(out.ptr()), t.size());
}
void narrow(const Tensor<float>& t, Tensor<bfloat16>& out, Isa) {
  for (int64_t i = 0; i < t.size(); ++i) {
    out.data[static_cast<size_t>(i)] = bfloat16(t.data[static_cast<size_t>(i)]);
  }
}

template <class H>
Tensor<H> conv_half(const Params& p, const Tensor<H>& x, const Tensor<H>& w, const Tensor<H>* b,
                    int threads, Isa isa) {
  require_isa(isa);
  const Shape bs = bias_shape(p);  // validates p
  if (p.bias != (b != nullptr)) {
    throw Error("bias", p.bias ? "bias: params.bias is set but no bias was given"
                               : "bias: a bias was given but params.bias is false");
  }
  const Problem pr = problem_from_shapes(p, x.shape, w.shape, b ? &b->shape : &bs);
  // The convolution alone in float32; the bias comes after the rounding, as MegEngine adds it.
  Params no_bias = p;
  no_bias.bias = false;
  const Tensor<float> y32 =
      conv_transpose2d(no_bias, widen(x, isa), widen(w, isa), nullptr, threads, isa);
  Tensor<H> y(y32.shape);
  narrow(y32, y, isa);
  if (b != nullptr) {
    const int64_t oc = p.out_channels, plane = y.shape[2] * y.shape[3];
    for (int64_t n = 0; n < pr.mb; ++n) {
      for (int64_t c = 0; c < oc; ++c) {
        const H bc = b->data[static_cast<size_t>(c)];
        H* yp = y.ptr() + (n * oc + c) * plane;
        // H + H is the exact sum rounded once (half.h).
        for (int64_t i = 0; i < plane; ++i) yp[i] = yp[i] + bc;
      }
    }
  }
  return y;
}

}  // namespace

Tensor<float16> conv_transpose2d(const Params& p, const Tensor<float16>& x,
                                 const Tensor<float16>& w, const Tensor<float16>* b, int threads,
                                 Isa isa) {
  return conv_half(p, x, w, b, threads, isa);
}

Tensor<bfloat16> conv_transpose2d(const Params& p, const Tensor<bfloat16>& x,
                                  const Tensor<bfloat16>& w, const Tensor<bfloat16>* b, int threads,
                                  Isa isa) {
  return conv_half(p, x, w, b, threads, isa);
}

}  // namespace convt2d::optimized

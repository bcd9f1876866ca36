// How a backend author runs the property suite against their own implementation: register it,
// then run the suite. This example "backend" is a float32 kernel written in gather form (for each
// output element, find the input pixels that reach it) so that the adapter path is exercised by a
// genuinely different loop structure. Its input gradient (bwd_data) is written the other way
// round, as a scatter from each element of dy, and registered under the same name for that pass:
// the suite's Backward properties check it like the forward kernel.
#include "convt2d/error.h"
#include "convt2d/property_suite.h"

namespace {

convt2d::AnyTensor gather_backend(const convt2d::Params& p, const convt2d::AnyTensor& xa,
                                  const convt2d::AnyTensor& wa, const convt2d::AnyTensor* ba) {
  const auto& x = std::get<convt2d::Tensor<float>>(xa);
  const auto& w = std::get<convt2d::Tensor<float>>(wa);
  const convt2d::Problem pr = convt2d::problem_from_shapes(
      p, x.shape, w.shape, ba ? &std::get<convt2d::Tensor<float>>(*ba).shape : nullptr);
  convt2d::Tensor<float> y(convt2d::output_shape(pr));
  const int64_t icg = p.in_channels / p.groups, ocg = p.out_channels / p.groups;
  const int64_t kh = p.kernel_size.h, kw = p.kernel_size.w;
  for (int64_t n = 0; n < y.shape[0]; ++n)
    for (int64_t oc = 0; oc < p.out_channels; ++oc)
      for (int64_t oh = 0; oh < y.shape[2]; ++oh)
        for (int64_t ow = 0; ow < y.shape[3]; ++ow) {
          const int64_t g = oc / ocg, o = oc % ocg;
          float acc = p.bias ? std::get<convt2d::Tensor<float>>(*ba).data[oc] : 0.f;
          for (int64_t i = 0; i < icg; ++i)
            for (int64_t fh = 0; fh < kh; ++fh) {
              const int64_t num_h = oh + p.padding.h - fh * p.dilation.h;
              if (num_h < 0 || num_h % p.stride.h != 0 || num_h / p.stride.h >= pr.ih) continue;
              for (int64_t fw = 0; fw < kw; ++fw) {
                const int64_t num_w = ow + p.padding.w - fw * p.dilation.w;
                if (num_w < 0 || num_w % p.stride.w != 0 || num_w / p.stride.w >= pr.iw) continue;
                const int64_t ic = g * icg + i;
                acc += x.at(n, ic, num_h / p.stride.h, num_w / p.stride.w) *
                       w.data[static_cast<size_t>(((ic * ocg + o) * kh + fh) * kw + fw)];
              }
            }
          y.at(n, oc, oh, ow) = acc;
        }
  return y;
}

// dx from dy and w, scattering each dy element back to the input pixels whose taps reach it.
convt2d::AnyTensor scatter_bwd_data(const convt2d::Params& params,
                                    const convt2d::Operands& operands) {
  const auto& dy = std::get<convt2d::Tensor<float>>(*operands.dy);
  const auto& w = std::get<convt2d::Tensor<float>>(*operands.w);
  const convt2d::Problem pr = convt2d::problem_from_output(params, dy.shape);
  const convt2d::Params& p = pr.params;
  if (w.shape != convt2d::weight_shape(p)) {
    throw convt2d::Error("weight", "weight: shape " + convt2d::format_shape(w.shape) +
                                       ", expected " +
                                       convt2d::format_shape(convt2d::weight_shape(p)));
  }
  convt2d::Tensor<float> dx(convt2d::input_shape(pr));
  const int64_t icg = p.in_channels / p.groups, ocg = p.out_channels / p.groups;
  const int64_t kh = p.kernel_size.h, kw = p.kernel_size.w;
  for (int64_t n = 0; n < dy.shape[0]; ++n)
    for (int64_t oc = 0; oc < p.out_channels; ++oc)
      for (int64_t oh = 0; oh < dy.shape[2]; ++oh)
        for (int64_t ow = 0; ow < dy.shape[3]; ++ow) {
          const int64_t g = oc / ocg, o = oc % ocg;
          const float d = dy.at(n, oc, oh, ow);
          for (int64_t fh = 0; fh < kh; ++fh) {
            const int64_t num_h = oh + p.padding.h - fh * p.dilation.h;
            if (num_h < 0 || num_h % p.stride.h != 0 || num_h / p.stride.h >= pr.ih) continue;
            for (int64_t fw = 0; fw < kw; ++fw) {
              const int64_t num_w = ow + p.padding.w - fw * p.dilation.w;
              if (num_w < 0 || num_w % p.stride.w != 0 || num_w / p.stride.w >= pr.iw) continue;
              for (int64_t i = 0; i < icg; ++i) {
                const int64_t ic = g * icg + i;
                dx.at(n, ic, num_h / p.stride.h, num_w / p.stride.w) +=
                    w.data[static_cast<size_t>(((ic * ocg + o) * kh + fh) * kw + fw)] * d;
              }
            }
          }
        }
  return dx;
}

}  // namespace

int main(int argc, char** argv) {
  convt2d::Implementation impl;
  impl.name = "example-gather";
  impl.description = "example adapter: float32 gather-form kernel";
  impl.run = gather_backend;  // float32 in and out, float32 accumulation: the defaults
  convt2d::testing::register_implementation(impl);
  // The same backend's input gradient: a backward pass is registered with `pass` and `run_pass`.
  impl.run = nullptr;
  impl.pass = convt2d::Pass::kBwdData;
  impl.run_pass = scatter_bwd_data;
  convt2d::testing::register_implementation(impl);
  return convt2d::testing::run_property_suite(argc, argv);
}

// Computes one hand-checked ConvTranspose2d through the installed headers and libraries.
#include <convt2d/implementations.h>
#include <convt2d/params.h>
#include <convt2d/reference.h>

#include <cstdio>

int main() {
  const convt2d::Problem pr = convt2d::parse_problem("mb1ic1ih2oc1kh3sh2ph1oph1bias0");
  convt2d::Tensor<float> x(convt2d::input_shape(pr), {1, 2, 3, 4});
  convt2d::Tensor<float> w(convt2d::weight_shape(pr.params), {1, 2, 3, 4, 5, 6, 7, 8, 9});
  const auto y = convt2d::conv_transpose2d<float, convt2d::Exact>(pr.params, x, w, nullptr);
  // y[1][1] = 1*9 + 2*7 + 3*3 + 4*1 = 36 (see verify/reference_test.cc).
  const double y11 = static_cast<double>(y.at(0, 0, 1, 1));
  const auto registry = convt2d::builtin_registry();
  std::printf("consumer: y[1][1] = %g, %zu implementations\n", y11, registry.all().size());
  return y11 == 36.0 && !registry.all().empty() ? 0 : 1;
}

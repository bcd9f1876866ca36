// One mutant as the implementation under test: the property suite, restricted to it.
#include <cstdlib>
#include <cstring>
#include <iostream>

#include "convt2d/property_suite.h"
#include "mutant_reference.h"

int main(int argc, char** argv) {
  using namespace convt2d;
  if (argc > 1 && std::strcmp(argv[1], "--describe") == 0) {
    std::cout << mutants::mutant_description() << "\n";
    return 0;
  }
  // All four passes of the copy under one name; the mutant breaks one of them.
  Implementation impl;
  impl.name = "mutant";
  impl.description = mutants::mutant_description();
  impl.input = impl.output = DType::kFloat32;
  impl.accumulation = kFloat32Precision;  // what the (unmutated) copy claims
  impl.run = [](const Params& p, const AnyTensor& x, const AnyTensor& w,
                const AnyTensor* b) -> AnyTensor {
    return mutants::conv_transpose2d_mutant(p, std::get<Tensor<float>>(x),
                                            std::get<Tensor<float>>(w),
                                            b ? &std::get<Tensor<float>>(*b) : nullptr);
  };
  testing::register_implementation(impl);
  const auto f32 = [](const AnyTensor* t) -> const Tensor<float>& {
    return std::get<Tensor<float>>(*t);
  };
  impl.run = nullptr;
  impl.pass = Pass::kBwdData;
  impl.run_pass = [f32](const Params& p, const Operands& o) -> AnyTensor {
    return mutants::bwd_data_mutant(p, f32(o.dy), f32(o.w));
  };
  testing::register_implementation(impl);
  impl.pass = Pass::kBwdWeights;
  impl.run_pass = [f32](const Params& p, const Operands& o) -> AnyTensor {
    return mutants::bwd_weights_mutant(p, f32(o.x), f32(o.dy));
  };
  testing::register_implementation(impl);
  impl.pass = Pass::kBwdBias;
  impl.run_pass = [f32](const Params& p, const Operands& o) -> AnyTensor {
    return mutants::bwd_bias_mutant(p, f32(o.dy));
  };
  testing::register_implementation(impl);
  setenv("CONVT2D_IMPL", "mutant", 0);  // only the mutant, unless the caller says otherwise
  return testing::run_property_suite(argc, argv);
}

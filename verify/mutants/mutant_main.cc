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
  setenv("CONVT2D_IMPL", "mutant", 0);  // only the mutant, unless the caller says otherwise
  return testing::run_property_suite(argc, argv);
}

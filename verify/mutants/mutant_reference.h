#pragma once
// A copy of the literal reference's scatter loops (float32 in, float32 accumulator) with one
// deliberate bug switched on by CONVT2D_MUTANT=k. It exists only to prove that the property suite
// catches each bug; nothing outside verify/mutants uses it.

#include "convt2d/tensor.h"

namespace convt2d::mutants {

/// The mutant compiled into this binary (0: none, the faithful copy) and what it breaks.
int mutant_id();
const char* mutant_description();

/// ConvTranspose2d with the mutant's bug.
Tensor<float> conv_transpose2d_mutant(const Params& params, const Tensor<float>& x,
                                      const Tensor<float>& w, const Tensor<float>* b);

}  // namespace convt2d::mutants

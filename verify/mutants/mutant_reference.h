#pragma once
// A copy of the literal reference's scatter loops (float32 in, float32 accumulator) and of the
// backward passes' gather loops, with one deliberate bug switched on by CONVT2D_MUTANT=k. It exists
// only to prove that the property suite catches each bug; nothing outside verify/mutants uses it.

#include "convt2d/tensor.h"

namespace convt2d::mutants {

/// The mutant compiled into this binary (0: none, the faithful copy) and what it breaks.
int mutant_id();
const char* mutant_description();

/// What a backward mutant (17-26) breaks; null for the others.
const char* backward_mutant_description();

/// ConvTranspose2d with the mutant's bug.
Tensor<float> conv_transpose2d_mutant(const Params& params, const Tensor<float>& x,
                                      const Tensor<float>& w, const Tensor<float>* b);

/// The backward passes (definitions in convt2d/backward.h) with the mutant's bug, if it is one of
/// theirs.
Tensor<float> bwd_data_mutant(const Params& params, const Tensor<float>& dy,
                              const Tensor<float>& w);
Tensor<float> bwd_weights_mutant(const Params& params, const Tensor<float>& x,
                                 const Tensor<float>& dy);
Tensor<float> bwd_bias_mutant(const Params& params, const Tensor<float>& dy);

}  // namespace convt2d::mutants

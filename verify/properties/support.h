#pragma once
// Helpers the property files share: coverage tags, test data in an implementation's dtype, and
// failing with a replayable case. Internal to verify/properties.

#include <string>

#include "convt2d/case_dir.h"
#include "convt2d/fill.h"
#include "convt2d/registry.h"

namespace convt2d::props {

/// Shortest round-trip text of a double.
std::string num(double v);

/// RC_CLASSIFY's coverage labels of a problem (stride > kernel, groups, depthwise, ...).
void tag(const Problem& pr);

/// A float tensor as `dtype`; fails the property when a value is not representable.
AnyTensor as_dtype(const Tensor<float>& t, DType dtype);

/// The regime's data of `pass` for an implementation, generated in its input dtype (so the
/// integer range keeps every partial sum of the pass exact in that dtype) and held as float.
ProblemData<float> data_for(const Implementation& impl, const Problem& pr, Regime regime,
                            uint64_t seed, Pass pass = Pass::kForward);

/// The case of `pass` holding `d` in `dtype` (the operands the pass reads).
Case case_of(const Problem& pr, Pass pass, DType dtype, const ProblemData<float>& d);

/// Fails the property with the problem string and, when CONVT2D_DUMP_DIR is set, writes the
/// forward case (x, w, b in `dtype`) to $CONVT2D_DUMP_DIR/<Suite.Property> for the CLI to replay.
/// Shrinking calls it for every smaller failing case; the last one written is the shrunk one.
[[noreturn]] void fail_case(const Problem& pr, const ProblemData<float>& d, const std::string& what,
                            DType dtype = DType::kFloat32);

/// The same for a case of any pass (dy.npy and the operands the pass reads).
[[noreturn]] void fail_case(const Case& c, const std::string& what);

}  // namespace convt2d::props

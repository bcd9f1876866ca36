#pragma once
/// \file
/// The convt2d property suite as a library a backend author links into their own test binary:
///
///   #include <convt2d/property_suite.h>
///   int main(int argc, char** argv) {
///     convt2d::Implementation mine;
///     mine.name = "my-backend";             // float32 in, float32 out
///     mine.run = [](const convt2d::Params& p, const convt2d::AnyTensor& x,
///                   const convt2d::AnyTensor& w, const convt2d::AnyTensor* b) { ... };
///     convt2d::testing::register_implementation(mine);
///     mine.run = nullptr;                   // its input gradient, under the same name:
///     mine.pass = convt2d::Pass::kBwdData;  // dx from operands.dy and operands.w
///     mine.run_pass = [](const convt2d::Params& p, const convt2d::Operands& o) { ... };
///     convt2d::testing::register_implementation(mine);
///     return convt2d::testing::run_property_suite(argc, argv);
///   }
///
/// Properties 1-3 check convt2d's own definitions; properties 4-10 (and the float-accumulated
/// adjoint property) run against every forward implementation under test, the Backward
/// properties against every implementation of each backward pass (docs/backward.md): the registered non-exact
/// implementations with float32, float16 or bfloat16 inputs, built-in and yours, each on data
/// generated in its own input dtype and judged with the arithmetic it claims (a float16 kernel
/// with a float32 accumulator: `set_arithmetic(mine, claimed_arithmetic(DType::kFloat16,
/// ComputeMode::kFloat32))`). `CONVT2D_IMPL=my-backend` restricts them to
/// one; a name that matches nothing is an error (exit status 2), never a vacuous pass. On a
/// failure the shrunk problem is printed as a problem string with RapidCheck's
/// `RC_PARAMS="reproduce=..."` line, and `CONVT2D_DUMP_DIR=dir` writes the failing case as a
/// case directory (core/case_dir.h) the CLI replays. Details: docs/verification.md.

#include <vector>

#include "convt2d/registry.h"

namespace convt2d::testing {

/// Adds an implementation to the suite's registry (before run_property_suite).
void register_implementation(Implementation impl);

/// builtin_registry() plus everything registered.
const Registry& suite_registry();

/// The implementations of `pass` the implementation-specific properties check: the non-exact
/// entries of suite_registry() with float32, float16 or bfloat16 inputs, restricted to the one
/// named by CONVT2D_IMPL when it is set.
std::vector<const Implementation*> implementations_under_test(Pass pass = Pass::kForward);

/// Runs every property under GoogleTest (gtest flags such as --gtest_filter apply). Each property
/// runs 300 cases unless RC_PARAMS sets max_success (`RC_PARAMS="max_success=10000"` for a long
/// campaign; its other settings, e.g. seed or reproduce, are kept). Returns the exit status: 0 all
/// passed, 1 a property failed, 2 no implementation under test.
int run_property_suite(int argc, char** argv);

}  // namespace convt2d::testing

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
///     return convt2d::testing::run_property_suite(argc, argv);
///   }
///
/// Every property then runs against every registered float32 implementation (the built-in ones
/// and yours); `CONVT2D_IMPL=my-backend` restricts the implementation-specific properties to one.

#include <vector>

#include "convt2d/registry.h"

namespace convt2d::testing {

/// Adds an implementation to the suite's registry (before run_property_suite).
void register_implementation(Implementation impl);

/// builtin_registry() plus everything registered.
const Registry& suite_registry();

/// The implementations the implementation-specific properties check: float32-input, non-exact
/// entries of suite_registry(), restricted to the one named by CONVT2D_IMPL when it is set.
std::vector<const Implementation*> implementations_under_test();

/// Runs every property under GoogleTest. Unless RC_PARAMS is set, each property runs 300 cases
/// (`RC_PARAMS="max_success=10000"` scales a long campaign up). Returns the process exit code.
int run_property_suite(int argc, char** argv);

}  // namespace convt2d::testing

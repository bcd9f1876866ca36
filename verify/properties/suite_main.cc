// The property suite against the built-in registry (a backend's own binary looks the same, with
// one register_implementation call first: docs/verification.md).
#include "convt2d/property_suite.h"

int main(int argc, char** argv) {
  return convt2d::testing::run_property_suite(argc, argv);
}

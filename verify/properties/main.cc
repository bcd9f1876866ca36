// The property suite against the built-in implementations.
#include "convt2d/property_suite.h"

int main(int argc, char** argv) {
  return convt2d::testing::run_property_suite(argc, argv);
}

// The convt2d command-line tool.
#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <cstdio>

#include "convt2d/bounds.h"
#include "convt2d/error.h"
#include "convt2d/reference.h"

int main(int argc, char** argv) {
  CLI::App app{"convt2d: reference, oracle and benchmark for ConvTranspose2d"};
  app.require_subcommand(1);
  std::string problem = "mb1ic2ih2oc1kh3sh2ph1oph1";
  auto* demo = app.add_subcommand("demo", "run the reference on one problem and print it");
  demo->add_option("--problem", problem, "problem string");
  CLI11_PARSE(app, argc, argv);
  try {
    const convt2d::Problem pr = convt2d::parse_problem(problem);
    convt2d::Tensor<float> x(convt2d::input_shape(pr)), w(convt2d::weight_shape(pr.params)),
        b(convt2d::bias_shape(pr.params));
    for (size_t i = 0; i < x.data.size(); ++i) x.data[i] = static_cast<float>(i % 7) - 3;
    for (size_t i = 0; i < w.data.size(); ++i) w.data[i] = static_cast<float>(i % 5) - 2;
    for (size_t i = 0; i < b.data.size(); ++i) b.data[i] = static_cast<float>(i);
    const auto y = convt2d::conv_transpose2d<float, convt2d::Exact>(pr.params, x, w, &b);
    fmt::print("{} -> output {}\n", convt2d::format_problem(pr), convt2d::format_shape(y.shape));
  } catch (const convt2d::Error& e) {
    fmt::print(stderr, "convt2d: {}\n", e.what());
    return 2;
  }
  return 0;
}

#include "convt2d/case_dir.h"

#include <fmt/format.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "convt2d/checked.h"
#include "convt2d/error.h"
#include "convt2d/npy.h"

namespace convt2d {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

[[noreturn]] void bad(const std::string& name, const std::string& key, const std::string& why) {
  throw Error(key, fmt::format("{}: {}: {}", name, key, why));
}

int64_t get_int(const json& v, const std::string& name, const std::string& key) {
  if (!v.is_number_integer()) bad(name, key, fmt::format("expected an integer, got {}", v.dump()));
  if (v.is_number_unsigned() && v.get<uint64_t>() > static_cast<uint64_t>(INT64_MAX)) {
    bad(name, key, fmt::format("{} is out of range", v.dump()));
  }
  return v.get<int64_t>();
}

Pair get_pair(const json& v, const std::string& name, const std::string& key) {
  if (v.is_array()) {
    if (v.size() != 2) bad(name, key, fmt::format("expected an int or [h, w], got {}", v.dump()));
    return {get_int(v[0], name, key), get_int(v[1], name, key)};
  }
  const int64_t i = get_int(v, name, key);
  return {i, i};
}

Shape get_shape(const json& v, const std::string& name, const std::string& key) {
  if (!v.is_array()) bad(name, key, fmt::format("expected a list of ints, got {}", v.dump()));
  Shape s;
  for (const json& d : v) s.push_back(get_int(d, name, key));
  return s;
}

std::string read_text(const fs::path& path) {
  std::error_code ec;
  if (!fs::is_regular_file(path, ec)) {
    throw Error("case", fmt::format("{}: no such file", path.string()));
  }
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  if (!in && !in.eof()) throw Error("case", fmt::format("{}: read error", path.string()));
  return ss.str();
}

json pair_json(Pair p) {
  return p.h == p.w ? json(p.h) : json::array({p.h, p.w});
}

}  // namespace

CaseSpec parse_case_json(std::string_view text, const std::string& name) {
  json j;
  try {
    j = json::parse(text.begin(), text.end());
  } catch (const json::exception& e) {  // parse_error, and out_of_range for huge numbers
    // nlohmann's message can span lines; keep ours to one.
    std::string msg = e.what();
    for (char& c : msg) {
      if (c == '\n') c = ' ';
    }
    throw Error("case.json", fmt::format("{}: JSON syntax error: {}", name, msg));
  }
  if (!j.is_object()) throw Error("case.json", fmt::format("{}: expected a JSON object", name));
  CaseSpec spec;
  Params& p = spec.params;
  for (const char* key : {"in_channels", "out_channels", "kernel_size"}) {
    if (!j.contains(key)) bad(name, key, "required key is missing");
  }
  p.in_channels = get_int(j["in_channels"], name, "in_channels");
  p.out_channels = get_int(j["out_channels"], name, "out_channels");
  p.kernel_size = get_pair(j["kernel_size"], name, "kernel_size");
  if (j.contains("stride")) p.stride = get_pair(j["stride"], name, "stride");
  if (j.contains("padding")) p.padding = get_pair(j["padding"], name, "padding");
  if (j.contains("output_padding")) {
    p.output_padding = get_pair(j["output_padding"], name, "output_padding");
  }
  if (j.contains("dilation")) p.dilation = get_pair(j["dilation"], name, "dilation");
  if (j.contains("groups")) p.groups = get_int(j["groups"], name, "groups");
  if (j.contains("bias")) {
    if (!j["bias"].is_boolean()) bad(name, "bias", "expected true or false");
    p.bias = j["bias"].get<bool>();
  }
  const auto get_string = [&](const char* key) {
    if (!j[key].is_string()) bad(name, key, "expected a string");
    return j[key].get<std::string>();
  };
  if (j.contains("dtype")) {
    const std::string dtype = get_string("dtype");
    try {
      spec.dtype = parse_dtype(dtype, "dtype");
    } catch (const Error& e) {
      throw Error("dtype", fmt::format("{}: {}", name, e.what()));
    }
  }
  try {
    if (j.contains("conv_mode")) p.conv_mode = parse_conv_mode(get_string("conv_mode"));
    if (j.contains("compute_mode")) p.compute_mode = parse_compute_mode(get_string("compute_mode"));
    if (j.contains("output_padding_rule")) {
      p.output_padding_rule = parse_output_padding_rule(get_string("output_padding_rule"));
    }
    validate(p);
  } catch (const Error& e) {
    throw Error(e.subject(), fmt::format("{}: {}", name, e.what()));
  }
  if (j.contains("input_shape"))
    spec.input_shape = get_shape(j["input_shape"], name, "input_shape");
  if (j.contains("output_shape")) {
    spec.output_shape = get_shape(j["output_shape"], name, "output_shape");
  }
  return spec;
}

std::string case_json(const Params& p, const std::optional<Shape>& input_shape,
                      const std::optional<Shape>& output_shape, const std::optional<DType>& dtype) {
  json j = {{"in_channels", p.in_channels},
            {"out_channels", p.out_channels},
            {"kernel_size", pair_json(p.kernel_size)},
            {"stride", pair_json(p.stride)},
            {"padding", pair_json(p.padding)},
            {"output_padding", pair_json(p.output_padding)},
            {"dilation", pair_json(p.dilation)},
            {"groups", p.groups},
            {"bias", p.bias},
            {"conv_mode", std::string(to_string(p.conv_mode))},
            {"compute_mode", std::string(to_string(p.compute_mode))}};
  if (p.output_padding_rule != OutputPaddingRule::kMegEngine) {
    j["output_padding_rule"] = std::string(to_string(p.output_padding_rule));
  }
  if (input_shape) j["input_shape"] = *input_shape;
  if (output_shape) j["output_shape"] = *output_shape;
  if (dtype) j["dtype"] = std::string(to_string(*dtype));
  return j.dump(2) + "\n";
}

void check_tensor_bytes(const Shape& shape, DType dtype, int64_t max_bytes, std::string_view what) {
  const int64_t bytes =
      checked_mul(element_count(shape, what), dtype_size(dtype), fmt::format("{} bytes", what));
  if (bytes > max_bytes) {
    throw Error("--max-bytes", fmt::format("{}: shape {} needs {} bytes, more than --max-bytes {}",
                                           what, format_shape(shape), bytes, max_bytes));
  }
}

Case read_case(const fs::path& dir, int64_t max_bytes) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) {
    throw Error("--case",
                fmt::format("{}: not a case directory (no such directory)", dir.string()));
  }
  const fs::path json_path = dir / "case.json";
  const CaseSpec spec = parse_case_json(read_text(json_path), json_path.string());
  const Params& p = spec.params;
  const bool bf16 = spec.dtype == DType::kBFloat16;
  Case c{Problem{}, read_npy(dir / "x.npy", max_bytes, bf16),
         read_npy(dir / "w.npy", max_bytes, bf16), std::nullopt};
  if (p.bias) c.b = read_npy(dir / "b.npy", max_bytes, bf16);
  const DType dt = dtype_of(c.x);
  if (spec.dtype && dt != *spec.dtype) {
    throw Error("dtype", fmt::format("{}: x.npy holds {} but case.json declares \"dtype\": \"{}\"",
                                     dir.string(), to_string(dt), to_string(*spec.dtype)));
  }
  if (dtype_of(c.w) != dt || (c.b && dtype_of(*c.b) != dt)) {
    throw Error("dtype",
                fmt::format("{}: x.npy is {} but w.npy is {}{}: all arrays of a case must "
                            "have one dtype",
                            dir.string(), to_string(dt), to_string(dtype_of(c.w)),
                            c.b ? fmt::format(" and b.npy is {}", to_string(dtype_of(*c.b)))
                                : std::string()));
  }
  const Shape& xs = shape_of(c.x);
  if (spec.input_shape && *spec.input_shape != xs) {
    throw Error("input_shape",
                fmt::format("{}: input_shape {} disagrees with x.npy's shape {}",
                            json_path.string(), format_shape(*spec.input_shape), format_shape(xs)));
  }
  const Shape bs = c.b ? shape_of(*c.b) : Shape{};
  try {
    c.problem = problem_from_shapes(p, xs, shape_of(c.w), c.b ? &bs : nullptr);
  } catch (const Error& e) {
    throw Error(e.subject(), fmt::format("{}: {}", dir.string(), e.what()));
  }
  const Shape os = output_shape(c.problem);
  if (spec.output_shape && *spec.output_shape != os) {
    throw Error(
        "output_shape",
        fmt::format("{}: output_shape {} disagrees with the formula, which gives {}",
                    json_path.string(), format_shape(*spec.output_shape), format_shape(os)));
  }
  check_tensor_bytes(os, DType::kFloat64, max_bytes, "output");
  return c;
}

Case make_case(const Problem& pr, DType dtype, Regime regime, uint64_t seed) {
  const auto build = [&](const auto& d) {
    return Case{pr, d.x, d.w, pr.params.bias ? std::optional<AnyTensor>(d.b) : std::nullopt};
  };
  switch (dtype) {
    case DType::kFloat32:
      return build(make_data<float>(pr, regime, seed));
    case DType::kFloat64:
      return build(make_data<double>(pr, regime, seed));
    case DType::kFloat16:
      return build(make_data<float16>(pr, regime, seed));
    case DType::kBFloat16:
      break;
  }
  return build(make_data<bfloat16>(pr, regime, seed));
}

void write_case(const fs::path& dir, const Params& params, const AnyTensor& x, const AnyTensor& w,
                const AnyTensor* b) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) {
    throw Error("--out",
                fmt::format("{}: cannot create directory: {}", dir.string(), ec.message()));
  }
  const Shape bs = b ? shape_of(*b) : Shape{};
  const Problem pr = problem_from_shapes(params, shape_of(x), shape_of(w), b ? &bs : nullptr);
  const std::string text = case_json(params, input_shape(pr), output_shape(pr), dtype_of(x));
  write_bytes_atomically(dir / "case.json",
                         std::span(reinterpret_cast<const uint8_t*>(text.data()), text.size()));
  write_npy(dir / "x.npy", x);
  write_npy(dir / "w.npy", w);
  if (params.bias && b) write_npy(dir / "b.npy", *b);
}

}  // namespace convt2d

#include "convt2d/case_dir.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <vector>

#include "convt2d/checked.h"
#include "convt2d/error.h"
#include "convt2d/files.h"
#include "convt2d/npy.h"

namespace convt2d {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

// Nesting deeper than this is refused while parsing: nothing in case.json nests beyond 2, and
// recursive code (dump(), a message) must never meet a value 10^5 levels deep.
constexpr int kMaxJsonDepth = 64;

// An offending value or token in a message: error.h's excerpt (40 characters).
std::string quote(std::string_view s) {
  return excerpt(s);
}

std::string quote_json(const json& v) {
  // Bounded: parse_case_json admits no value deeper than kMaxJsonDepth.
  return quote(v.dump());
}

[[noreturn]] void bad(const std::string& name, const std::string& key, const std::string& why) {
  throw Error(key, fmt::format("{}: {}: {}", name, quote(key), why));
}

int64_t get_int(const json& v, const std::string& name, const std::string& key) {
  if (!v.is_number_integer())
    bad(name, key, fmt::format("expected an integer, got {}", quote_json(v)));
  if (v.is_number_unsigned() && v.get<uint64_t>() > static_cast<uint64_t>(INT64_MAX)) {
    bad(name, key, fmt::format("{} is out of range", v.get<uint64_t>()));
  }
  return v.get<int64_t>();
}

Pair get_pair(const json& v, const std::string& name, const std::string& key) {
  if (v.is_array()) {
    if (v.size() != 2)
      bad(name, key, fmt::format("expected an int or [h, w], got {}", quote_json(v)));
    return {get_int(v[0], name, key), get_int(v[1], name, key)};
  }
  const int64_t i = get_int(v, name, key);
  return {i, i};
}

Shape get_shape(const json& v, const std::string& name, const std::string& key) {
  if (!v.is_array()) bad(name, key, fmt::format("expected a list of ints, got {}", quote_json(v)));
  Shape s;
  for (const json& d : v) s.push_back(get_int(d, name, key));
  return s;
}

bool is_known_key(std::string_view key) {
  for (std::string_view k :
       {"in_channels", "out_channels", "kernel_size", "stride", "padding", "output_padding",
        "dilation", "groups", "bias", "conv_mode", "compute_mode", "output_padding_rule",
        "input_shape", "output_shape", "dtype", "pass"}) {
    if (key == k) return true;
  }
  return false;
}

// A JSON number token: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?
bool is_json_number(std::string_view t) {
  size_t i = 0;
  const auto digits = [&] {
    const size_t begin = i;
    while (i < t.size() && t[i] >= '0' && t[i] <= '9') ++i;
    return i > begin;
  };
  if (i < t.size() && t[i] == '-') ++i;
  if (i < t.size() && t[i] == '0') {
    ++i;
  } else if (!digits()) {
    return false;
  }
  if (i < t.size() && t[i] == '.') {
    ++i;
    if (!digits()) return false;
  }
  if (i < t.size() && (t[i] == 'e' || t[i] == 'E')) {
    ++i;
    if (i < t.size() && (t[i] == '+' || t[i] == '-')) ++i;
    if (!digits()) return false;
  }
  return i == t.size();
}

// nlohmann stops at a number beyond double's range (1e400) with out_of_range, even under a key we
// ignore. This pass replaces each such number by 0 and notes where it was among the text's
// numbers, in order, so that the parser callback can tell them apart: an error under a known key,
// ignored under any other. Strings are skipped; in text that is not valid JSON the count may
// drift, but the parser then reports a syntax error anyway.
struct OutOfRangeNumbers {
  std::string text;                                      // the input with each replaced by 0
  std::vector<std::pair<size_t, std::string>> replaced;  // (index among all numbers, token)
};

OutOfRangeNumbers replace_out_of_range_numbers(std::string_view in) {
  OutOfRangeNumbers r;
  r.text.reserve(in.size());
  size_t numbers = 0;
  for (size_t i = 0; i < in.size();) {
    const char c = in[i];
    if (c == '"') {
      size_t j = i + 1;
      while (j < in.size() && in[j] != '"') j += in[j] == '\\' ? 2 : 1;
      j = std::min(j + 1, in.size());
      r.text.append(in.substr(i, j - i));
      i = j;
    } else if (c == '-' || (c >= '0' && c <= '9')) {
      size_t j = i;
      while (j < in.size() && ((in[j] >= '0' && in[j] <= '9') || in[j] == '-' || in[j] == '+' ||
                               in[j] == '.' || in[j] == 'e' || in[j] == 'E')) {
        ++j;
      }
      const std::string token(in.substr(i, j - i));
      // strtod, as nlohmann's lexer uses it (in the "C" locale the CLI runs in).
      if (is_json_number(token) && std::isinf(std::strtod(token.c_str(), nullptr))) {
        r.replaced.emplace_back(numbers, token);
        r.text += '0';
      } else {
        r.text += token;
      }
      ++numbers;
      i = j;
    } else {
      r.text += c;
      ++i;
    }
  }
  return r;
}

// Parses `text`, refusing nesting beyond kMaxJsonDepth before anything deep is built, and numbers
// beyond double's range under known keys (naming the key); under other keys they are ignored.
json parse_limited(std::string_view text, const std::string& name) {
  const OutOfRangeNumbers numbers = replace_out_of_range_numbers(text);
  std::string top_key;  // the key of the top-level member being parsed
  size_t seen = 0, next = 0;
  const json::parser_callback_t callback = [&](int depth, json::parse_event_t event, json& parsed) {
    switch (event) {
      case json::parse_event_t::object_start:
      case json::parse_event_t::array_start:
        if (depth >= kMaxJsonDepth) {
          throw Error(top_key.empty() ? "case.json" : top_key,
                      fmt::format("{}: {}JSON nested deeper than {} levels", name,
                                  top_key.empty() ? "" : quote(top_key) + ": ", kMaxJsonDepth));
        }
        break;
      case json::parse_event_t::key:
        if (depth == 1) top_key = parsed.get<std::string>();
        break;
      case json::parse_event_t::value:
        if (!parsed.is_number()) break;
        if (next < numbers.replaced.size() && numbers.replaced[next].first == seen) {
          if (depth >= 1 && is_known_key(top_key)) {
            bad(name, top_key,
                fmt::format("number {} is out of range", quote(numbers.replaced[next].second)));
          }
          ++next;
        }
        ++seen;
        break;
      default:
        break;
    }
    return true;
  };
  // nlohmann's messages start with "[json.exception.<kind>.<id>] " and quote the last token read,
  // which can be the whole rest of the file: one line of at most ~160 characters of it.
  const auto message = [](const json::exception& e) {
    std::string msg = e.what();
    if (const size_t end = msg.find("] ");
        msg.rfind("[json.exception.", 0) == 0 && end != msg.npos) {
      msg.erase(0, end + 2);
    }
    return excerpt(msg, 160);
  };
  try {
    return json::parse(numbers.text.begin(), numbers.text.end(), callback);
  } catch (const json::parse_error& e) {
    throw Error("case.json", fmt::format("{}: JSON syntax error: {}", name, message(e)));
  } catch (const json::exception& e) {
    // out_of_range: a number the pass above left alone, such as the 1e400 of "1e400e5" (not a JSON
    // number, but nlohmann's lexer reads 1e400 first).
    throw Error("case.json", fmt::format("{}: {}", name, message(e)));
  }
}

std::string read_text(const fs::path& path) {
  return read_regular_file(path, kMaxTextFileBytes);
}

json pair_json(Pair p) {
  return p.h == p.w ? json(p.h) : json::array({p.h, p.w});
}

}  // namespace

CaseSpec parse_case_json(std::string_view text, const std::string& name) {
  json j = parse_limited(text, name);
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
    if (!j[key].is_string())
      bad(name, key, fmt::format("expected a string, got {}", quote_json(j[key])));
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
  // The strings first: get_string's errors already name the file, the parsers' do not.
  const auto optional_string = [&](const char* key) {
    return j.contains(key) ? std::optional<std::string>(get_string(key)) : std::nullopt;
  };
  const auto conv_mode = optional_string("conv_mode");
  const auto compute_mode = optional_string("compute_mode");
  const auto rule = optional_string("output_padding_rule");
  const auto pass = optional_string("pass");
  try {
    if (pass) spec.pass = parse_pass(*pass);
    if (conv_mode) p.conv_mode = parse_conv_mode(*conv_mode);
    if (compute_mode) p.compute_mode = parse_compute_mode(*compute_mode);
    if (rule) p.output_padding_rule = parse_output_padding_rule(*rule);
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
                      const std::optional<Shape>& output_shape, const std::optional<DType>& dtype,
                      Pass pass) {
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
  if (pass != Pass::kForward) j["pass"] = std::string(to_string(pass));
  return j.dump(2) + "\n";
}

void check_tensor_bytes(const Shape& shape, DType dtype, int64_t max_bytes, std::string_view what,
                        std::string_view option) {
  const int64_t bytes =
      checked_mul(element_count(shape, what), dtype_size(dtype), fmt::format("{} bytes", what));
  if (bytes > max_bytes) {
    throw Error(std::string(option),
                fmt::format("{}: shape {} needs {} bytes, more than {} {}", what,
                            format_shape(shape), bytes, option, max_bytes));
  }
}

Operands Case::operands() const {
  Operands o;
  if (reads_x(pass)) o.x = &x;
  if (reads_w(pass)) o.w = &w;
  if (b) o.b = &*b;
  if (dy) o.dy = &*dy;
  return o;
}

namespace {

// An empty tensor of dtype t: what a case holds for an array its pass does not read.
AnyTensor empty_of(DType t) {
  switch (t) {
    case DType::kFloat64:
      return Tensor<double>();
    case DType::kFloat16:
      return Tensor<float16>();
    case DType::kBFloat16:
      return Tensor<bfloat16>();
    case DType::kFloat32:
      break;
  }
  return Tensor<float>();
}

// The problem a case's tensors describe under `p`, every shape checked against the parameters (and
// x's or dy's against `declared_input` when given). Errors name the tensor, not a file.
Problem checked_problem(const Params& p, const Case& c,
                        const std::optional<Shape>& declared_input) {
  const Pass pass = c.pass;
  Problem pr;
  if (reads_x(pass)) {
    const Shape& xs = shape_of(c.x);
    if (declared_input && *declared_input != xs) {
      throw Error("input_shape", fmt::format("input_shape {} disagrees with x.npy's shape {}",
                                             format_shape(*declared_input), format_shape(xs)));
    }
    Params q = p;
    q.bias = pass == Pass::kForward && p.bias;
    const Shape ws = reads_w(pass) ? shape_of(c.w) : weight_shape(p);
    const Shape bs = c.b ? shape_of(*c.b) : Shape{};
    pr = problem_from_shapes(q, xs, ws, c.b ? &bs : nullptr);
    pr.params.bias = p.bias;
  } else {
    pr = problem_from_output(p, shape_of(*c.dy));
    if (reads_w(pass)) check_weight_shape(p, shape_of(c.w));
    if (declared_input && *declared_input != input_shape(pr)) {
      throw Error("input_shape",
                  fmt::format("input_shape {} disagrees with dy.npy's shape {}, "
                              "the output of an input {}",
                              format_shape(*declared_input), format_shape(shape_of(*c.dy)),
                              format_shape(input_shape(pr))));
    }
  }
  check_pass(pr, pass);  // as gen does: no bias gradient of a layer without a bias
  if (c.dy && shape_of(*c.dy) != output_shape(pr)) {
    throw Error("dy", fmt::format("dy: dy.npy's shape {} is not the output shape {}",
                                  format_shape(shape_of(*c.dy)), format_shape(output_shape(pr))));
  }
  return pr;
}

}  // namespace

Case read_case(const fs::path& dir, int64_t max_bytes) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) {
    throw Error("--case",
                fmt::format("{}: not a case directory (no such directory)", dir.string()));
  }
  const fs::path json_path = dir / "case.json";
  const CaseSpec spec = parse_case_json(read_text(json_path), json_path.string());
  const Params& p = spec.params;
  const Pass pass = spec.pass;
  const bool bf16 = spec.dtype == DType::kBFloat16;
  // The arrays the pass reads, in this order; the first one read sets the case's dtype.
  std::vector<std::pair<const char*, AnyTensor>> arrays;
  for (const auto& [file, wanted] :
       {std::pair{"x.npy", reads_x(pass)}, std::pair{"w.npy", reads_w(pass)},
        std::pair{"b.npy", pass == Pass::kForward && p.bias},
        std::pair{"dy.npy", reads_dy(pass)}}) {
    if (wanted) arrays.emplace_back(file, read_npy(dir / file, max_bytes, bf16));
  }
  const DType dt = dtype_of(arrays.front().second);
  if (spec.dtype && dt != *spec.dtype) {
    throw Error("dtype", fmt::format("{}: {} holds {} but case.json declares \"dtype\": \"{}\"",
                                     dir.string(), arrays.front().first, to_string(dt),
                                     to_string(*spec.dtype)));
  }
  // Name the array that differs, not every one.
  for (const auto& [file, t] : arrays) {
    if (dtype_of(t) != dt) {
      throw Error("dtype", fmt::format("{}: {} holds {} but {} holds {}: all arrays of a case "
                                       "must have one dtype",
                                       dir.string(), file, to_string(dtype_of(t)),
                                       arrays.front().first, to_string(dt)));
    }
  }
  Case c{Problem{}, empty_of(dt), empty_of(dt), std::nullopt, pass, std::nullopt};
  for (auto& [file, t] : arrays) {
    const std::string_view f = file;
    AnyTensor& slot = f == "x.npy"   ? c.x
                      : f == "w.npy" ? c.w
                      : f == "b.npy" ? c.b.emplace()
                                     : c.dy.emplace();
    slot = std::move(t);
  }
  try {
    c.problem = checked_problem(p, c, spec.input_shape);
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

Case assemble_case(const Params& params, Pass pass, AnyTensor x, AnyTensor w,
                   std::optional<AnyTensor> b, std::optional<AnyTensor> dy, int64_t max_bytes,
                   std::string_view max_bytes_option) {
  validate(params);
  Case c{Problem{}, std::move(x), std::move(w), std::nullopt, pass, std::nullopt};
  if (pass == Pass::kForward && params.bias) {
    if (!b) throw Error("bias", "bias: the parameters say bias=True but no bias tensor was given");
    c.b = std::move(b);
  }
  if (reads_dy(pass)) {
    if (!dy) {
      throw Error("dy",
                  fmt::format("dy: the {} pass reads dy, but none was given", to_string(pass)));
    }
    c.dy = std::move(dy);
  }
  // The tensors the pass reads, in read_case's order; the first sets the case's dtype.
  std::vector<std::pair<const char*, const AnyTensor*>> read;
  if (reads_x(pass)) read.emplace_back("x", &c.x);
  if (reads_w(pass)) read.emplace_back("w", &c.w);
  if (c.b) read.emplace_back("b", &*c.b);
  if (c.dy) read.emplace_back("dy", &*c.dy);
  const DType dt = dtype_of(*read.front().second);
  for (const auto& [name, t] : read) {
    if (dtype_of(*t) != dt) {
      throw Error(name,
                  fmt::format("{} holds {} but {} holds {}: all tensors of a case must have "
                              "one dtype",
                              name, to_string(dtype_of(*t)), read.front().first, to_string(dt)));
    }
    check_tensor_bytes(shape_of(*t), dt, max_bytes, name, max_bytes_option);
  }
  // What the pass does not read is an empty tensor of the case's dtype, as read_case leaves it.
  if (!reads_x(pass)) c.x = empty_of(dt);
  if (!reads_w(pass)) c.w = empty_of(dt);
  c.problem = checked_problem(params, c, std::nullopt);
  check_tensor_bytes(output_shape(c.problem), DType::kFloat64, max_bytes, "output",
                     max_bytes_option);
  return c;
}

Case make_case(const Problem& pr, DType dtype, Regime regime, uint64_t seed, Pass pass) {
  check_pass(pr, pass);
  const auto build = [&](const auto& d) {
    using T = typename std::decay_t<decltype(d.x)>::value_type;
    Case c{pr,
           reads_x(pass) ? AnyTensor(d.x) : AnyTensor(Tensor<T>()),
           reads_w(pass) ? AnyTensor(d.w) : AnyTensor(Tensor<T>()),
           std::nullopt,
           pass,
           std::nullopt};
    if (pass == Pass::kForward && pr.params.bias) c.b = d.b;
    if (reads_dy(pass)) c.dy = d.dy;
    return c;
  };
  switch (dtype) {
    case DType::kFloat32:
      return build(make_data<float>(pr, regime, seed, pass));
    case DType::kFloat64:
      return build(make_data<double>(pr, regime, seed, pass));
    case DType::kFloat16:
      return build(make_data<float16>(pr, regime, seed, pass));
    case DType::kBFloat16:
      break;
  }
  return build(make_data<bfloat16>(pr, regime, seed, pass));
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

void write_case(const fs::path& dir, const Case& c) {
  if (c.pass == Pass::kForward) {
    write_case(dir, c.problem.params, c.x, c.w, c.b ? &*c.b : nullptr);
    return;
  }
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) {
    throw Error("--out",
                fmt::format("{}: cannot create directory: {}", dir.string(), ec.message()));
  }
  const std::string text = case_json(c.problem.params, input_shape(c.problem),
                                     output_shape(c.problem), c.dtype(), c.pass);
  write_bytes_atomically(dir / "case.json",
                         std::span(reinterpret_cast<const uint8_t*>(text.data()), text.size()));
  if (reads_x(c.pass)) write_npy(dir / "x.npy", c.x);
  if (reads_w(c.pass)) write_npy(dir / "w.npy", c.w);
  write_npy(dir / "dy.npy", *c.dy);
}

}  // namespace convt2d

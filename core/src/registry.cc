#include "convt2d/registry.h"

#include <fmt/format.h>

#include <memory>
#include <optional>

#include "convt2d/error.h"

namespace convt2d {

void Registry::add(Implementation impl) {
  if (find(impl.name, impl.pass) != nullptr) {
    throw Error("implementation", fmt::format("implementation '{}' of the {} pass is already "
                                              "registered",
                                              impl.name, to_string(impl.pass)));
  }
  if (!impl.run_pass && (impl.pass != Pass::kForward || !impl.run)) {
    throw Error("implementation", fmt::format("implementation '{}' has no function for the {} pass",
                                              impl.name, to_string(impl.pass)));
  }
  impls_.push_back(std::move(impl));
}

const Implementation* Registry::find(const std::string& name, Pass pass) const {
  for (const auto& i : impls_) {
    if (i.name == name && i.pass == pass) return &i;
  }
  return nullptr;
}

const Implementation& Registry::get(const std::string& name, Pass pass) const {
  if (const auto* i = find(name, pass)) return *i;
  throw Error("--impl",
              fmt::format("--impl: unknown implementation '{}' of the {} pass "
                          "(known: {})",
                          excerpt(name, 40), to_string(pass), fmt::join(names(pass), ", ")));
}

std::vector<std::string> Registry::names(Pass pass) const {
  std::vector<std::string> r;
  for (const auto& i : impls_) {
    if (i.pass == pass) r.push_back(i.name);
  }
  return r;
}

AnyTensor invoke(const Implementation& impl, const Params& params, const Operands& operands) {
  if (impl.run_pass) return impl.run_pass(params, operands);
  const auto need = [&](const AnyTensor* t, const char* name) -> const AnyTensor& {
    if (t == nullptr) {
      throw Error(name, fmt::format("{}: implementation '{}' of the {} pass reads {}, but none "
                                    "was given",
                                    name, impl.name, to_string(impl.pass), name));
    }
    return *t;
  };
  return impl.run(params, need(operands.x, "input"), need(operands.w, "weight"), operands.b);
}

}  // namespace convt2d

namespace convt2d {

Precision precision_of(DType t) {
  switch (t) {
    case DType::kFloat32:
      return kFloat32Precision;
    case DType::kFloat16:
      return kFloat16Precision;
    case DType::kBFloat16:
      return kBFloat16Precision;
    case DType::kFloat64:
      break;
  }
  return kFloat64Precision;
}

Arithmetic claimed_arithmetic(DType dtype, ComputeMode mode) {
  Arithmetic a;
  a.accumulation = precision_of(dtype);
  if (!is_half(dtype)) return a;  // compute_mode only matters for float16 and bfloat16
  if (mode == ComputeMode::kDefault) {
    a.extra_roundings = 1;
    a.wider_intermediates = true;
    return a;
  }
  a.accumulation = kFloat32Precision;
  a.output_u = precision_of(dtype).u;
  a.output_eta = precision_of(dtype).eta;
  a.bias_after_rounding = true;
  return a;
}

Arithmetic arithmetic_of(const Implementation& impl) {
  Arithmetic a;
  a.accumulation = impl.accumulation;
  a.extra_roundings = impl.extra_roundings;
  a.wider_intermediates = impl.wider_intermediates;
  a.output_u = impl.output_u;
  a.output_eta = impl.output_eta;
  a.bias_after_rounding = impl.bias_after_rounding;
  return a;
}

void set_arithmetic(Implementation& impl, const Arithmetic& a) {
  impl.accumulation = a.accumulation;
  impl.extra_roundings = a.extra_roundings;
  impl.wider_intermediates = a.wider_intermediates;
  impl.output_u = a.output_u;
  impl.output_eta = a.output_eta;
  impl.bias_after_rounding = a.bias_after_rounding;
}

Prepared prepared(const Implementation& impl, const Params& p, const AnyTensor& w,
                  const AnyTensor* b, int threads) {
  if (impl.prepare) return impl.prepare(p, w, b, threads);
  // The generic wrapper: x and y live in shared state the three callables capture.
  struct State {
    AnyTensor x, y;
    Params p;
    AnyTensor w;
    std::optional<AnyTensor> b;
  };
  auto s = std::make_shared<State>();
  s->p = p;
  s->w = w;
  if (b != nullptr) s->b = *b;
  auto run = impl.run;
  Prepared r;
  r.load = [s](const AnyTensor& x) { s->x = x; };
  r.execute = [s, run] { s->y = run(s->p, s->x, s->w, s->b ? &*s->b : nullptr); };
  r.store = [s] { return s->y; };
  return r;
}

Prepared prepared(const Implementation& impl, const Params& p, const Operands& operands,
                  int threads) {
  const auto need = [&](const AnyTensor* t, const char* name, bool read) {
    if (read && t == nullptr) {
      throw Error(name, fmt::format("{}: implementation '{}' of the {} pass reads {}, but none "
                                    "was given",
                                    name, impl.name, to_string(impl.pass), name));
    }
  };
  need(operands.x, "input", reads_x(impl.pass));
  need(operands.w, "weight", reads_w(impl.pass));
  need(operands.dy, "dy", reads_dy(impl.pass));
  if (impl.prepare_pass) return impl.prepare_pass(p, operands, threads);
  if (impl.pass == Pass::kForward && (impl.prepare || impl.run)) {
    Prepared r = prepared(impl, p, *operands.w, operands.b, threads);
    r.load(*operands.x);
    return r;
  }
  // Copies of the operands the pass reads, and the last result, in state the callables share.
  struct State {
    std::optional<AnyTensor> x, w, b, dy;
    AnyTensor result;
  };
  auto s = std::make_shared<State>();
  const auto keep = [](std::optional<AnyTensor>& to, const AnyTensor* t, bool read) {
    if (read && t != nullptr) to = *t;
  };
  keep(s->x, operands.x, reads_x(impl.pass));
  keep(s->w, operands.w, reads_w(impl.pass));
  keep(s->b, operands.b, impl.pass == Pass::kForward);
  keep(s->dy, operands.dy, reads_dy(impl.pass));
  Prepared r;
  r.execute = [s, impl, p] {
    const auto ptr = [](std::optional<AnyTensor>& t) { return t ? &*t : nullptr; };
    s->result = invoke(impl, p, Operands{ptr(s->x), ptr(s->w), ptr(s->b), ptr(s->dy)});
  };
  r.store = [s] { return s->result; };
  return r;
}

}  // namespace convt2d

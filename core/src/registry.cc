#include "convt2d/registry.h"

#include <fmt/format.h>

#include "convt2d/error.h"

namespace convt2d {

void Registry::add(Implementation impl) {
  if (find(impl.name) != nullptr) {
    throw Error("implementation",
                fmt::format("implementation '{}' is already registered", impl.name));
  }
  if (!impl.run) {
    throw Error("implementation", fmt::format("implementation '{}' has no function", impl.name));
  }
  impls_.push_back(std::move(impl));
}

const Implementation* Registry::find(const std::string& name) const {
  for (const auto& i : impls_) {
    if (i.name == name) return &i;
  }
  return nullptr;
}

const Implementation& Registry::get(const std::string& name) const {
  if (const auto* i = find(name)) return *i;
  throw Error("--impl", fmt::format("--impl: unknown implementation '{}' (known: {})", name,
                                    fmt::join(names(), ", ")));
}

std::vector<std::string> Registry::names() const {
  std::vector<std::string> r;
  for (const auto& i : impls_) r.push_back(i.name);
  return r;
}

}  // namespace convt2d

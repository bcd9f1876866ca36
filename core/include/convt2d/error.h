#pragma once
/// \file
/// The one error type of convt2d. Every rejected parameter, shape, file or string raises it.

#include <cstddef>
#include <stdexcept>
#include <string>
#include <string_view>

namespace convt2d {

/// Raised for every unusable input. `what()` is one line that names the parameter (or file, or
/// token) and the offending values; `subject()` is that name alone, for programmatic use.
class Error : public std::runtime_error {
 public:
  Error(std::string subject, const std::string& message)
      : std::runtime_error(message), subject_(std::move(subject)) {}

  /// The parameter, file or token the error is about, e.g. "output_padding".
  const std::string& subject() const noexcept { return subject_; }

 private:
  std::string subject_;
};

/// `s` as messages quote input: control characters escaped (\n, \t, \xHH) and the result at most
/// `max` characters long (cut with "..."), so that a message stays one short line whatever the
/// input held.
std::string excerpt(std::string_view s, size_t max = 40);

}  // namespace convt2d

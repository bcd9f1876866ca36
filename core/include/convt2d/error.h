#pragma once
/// \file
/// The one error type of convt2d. Every rejected parameter, shape, file or string raises it.

#include <stdexcept>
#include <string>

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

}  // namespace convt2d

#pragma once
/// \file
/// NumPy `.npy` files: format versions 1.0, 2.0 and 3.0 headers, little-endian float32 ('<f4') and
/// float64 ('<f8'), C order. Anything else (big-endian, Fortran order, other dtypes, truncated or
/// malformed headers, data shorter or longer than the shape says) is an Error naming the file and
/// the problem; a malformed file never crashes the reader.

#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <vector>

#include "convt2d/tensor.h"

namespace convt2d {

/// Parses the bytes of a whole .npy file. `name` labels errors (usually the path). Element counts
/// and byte sizes are overflow-checked; a file larger than `max_bytes` of data is rejected.
AnyTensor parse_npy(std::span<const uint8_t> bytes, const std::string& name,
                    int64_t max_bytes = INT64_MAX);

/// Reads a .npy file. Errors name the path.
AnyTensor read_npy(const std::filesystem::path& path, int64_t max_bytes = INT64_MAX);

/// The bytes of a .npy file (version 1.0 header unless the header needs 2.0) holding `t`.
std::vector<uint8_t> serialize_npy(const AnyTensor& t);

/// Writes `bytes` to `path` atomically: to a temporary file in the same directory, then renamed
/// over `path`. Error naming the path on failure (the temporary file is removed).
void write_bytes_atomically(const std::filesystem::path& path, std::span<const uint8_t> bytes);

/// Writes `t` to `path` atomically: the data goes to a temporary file in the same directory that
/// is then renamed over `path`, so a reader never sees a partly written file.
void write_npy(const std::filesystem::path& path, const AnyTensor& t);

}  // namespace convt2d

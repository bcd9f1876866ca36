#pragma once
/// \file
/// NumPy `.npy` files: format versions 1.0, 2.0 and 3.0 headers, little-endian float32 ('<f4'),
/// float64 ('<f8') and float16 ('<f2'), C order. bfloat16, which numpy lacks, is stored as its bit
/// patterns in a uint16 array ('<u2'); such a file is read as bfloat16 only when the caller says
/// the data is bfloat16 (a case.json with "dtype": "bfloat16", `check --dtype bfloat16`), and is an
/// Error otherwise. Anything else (big-endian, Fortran order, other dtypes, truncated or malformed
/// headers, data shorter or longer than the shape says) is an Error naming the file and the
/// problem; a malformed file never crashes the reader.

#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <vector>

#include "convt2d/files.h"
#include "convt2d/tensor.h"

namespace convt2d {

/// Parses the bytes of a whole .npy file. `name` labels errors (usually the path). Element counts
/// and byte sizes are overflow-checked; a file larger than `max_bytes` of data is rejected.
/// '<u2' data becomes a Tensor<bfloat16> when `uint16_is_bfloat16`, else it is an Error.
AnyTensor parse_npy(std::span<const uint8_t> bytes, const std::string& name,
                    int64_t max_bytes = INT64_MAX, bool uint16_is_bfloat16 = false);

/// Reads a .npy file with read_regular_file (files.h): a FIFO or device is "not a regular file",
/// and a file beyond `max_bytes` of data plus 1 MiB of header is rejected unread. Errors name the
/// path.
AnyTensor read_npy(const std::filesystem::path& path, int64_t max_bytes = INT64_MAX,
                   bool uint16_is_bfloat16 = false);

/// The bytes of a .npy file (version 1.0 header unless the header needs 2.0) holding `t`
/// (bfloat16 as '<u2').
std::vector<uint8_t> serialize_npy(const AnyTensor& t);

/// Writes `t` to `path` with write_bytes_atomically (files.h): a reader never sees a partly
/// written file, and a `path` that exists as anything but a regular file is an Error.
void write_npy(const std::filesystem::path& path, const AnyTensor& t);

}  // namespace convt2d

#pragma once
/// \file
/// Whole files in and out, for the tools: inputs are read only from regular files, under a size
/// cap, never blocking on a FIFO or a device; outputs replace a regular file (or create a new
/// one) atomically and never write through a symbolic link or into a device. Every failure is an
/// Error naming the path.

#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <string_view>

namespace convt2d {

/// The cap on text inputs: case.json and problem files (`verify --problems`, `bench --layers`).
inline constexpr uint64_t kMaxTextFileBytes = uint64_t{16} << 20;

/// The contents of the regular file `path` (symbolic links to one are followed). Error naming
/// the path when it does not exist ("no such file"), is not a regular file (a directory, FIFO,
/// device or socket: "not a regular file"; it is never read, and a FIFO never blocks), is longer
/// than `max_bytes` (at most max_bytes + 1 bytes are read, so /dev/zero-like files cannot run the
/// reader out of memory), or cannot be read.
std::string read_regular_file(const std::filesystem::path& path, uint64_t max_bytes);

/// Writes `bytes` to `path` atomically: into a new temporary file in the same directory (a
/// unique name, created with O_CREAT | O_EXCL | O_NOFOLLOW, so a planted file or symbolic link
/// is never opened), flushed with fsync, then renamed over `path`; the directory is fsynced after
/// (best effort; in a StagedDirectory, once by its commit()). A `path` that exists and is not a
/// regular file (a symbolic link, directory, FIFO or device) is refused, not replaced. Error naming
/// the path on failure, the temporary file removed.
void write_bytes_atomically(const std::filesystem::path& path, std::span<const uint8_t> bytes);

/// A directory built under a temporary name and moved into place whole: created empty (mode
/// 0777 & ~umask) with a unique name beginning with ".<target name>.tmp." in target's parent
/// directory, which must exist. commit() renames it to `target`; destroyed without a commit (an
/// Error or std::bad_alloc on the way), it is removed with everything in it, so no partly
/// written directory ever appears under the target's name.
class StagedDirectory {
 public:
  explicit StagedDirectory(std::filesystem::path target);
  StagedDirectory(const StagedDirectory&) = delete;
  StagedDirectory& operator=(const StagedDirectory&) = delete;
  ~StagedDirectory();

  /// Where to write the contents.
  const std::filesystem::path& path() const { return path_; }

  /// fsyncs the directory (its files are fsynced by write_bytes_atomically) and renames it to the
  /// target. An existing target directory is replaced
  /// (atomically exchanged where the file system can, then removed): the caller decides whether
  /// it may be. A target that is anything but a directory is an Error.
  void commit();

 private:
  std::filesystem::path target_, path_;
  bool committed_ = false;
};

/// What `st_mode`-style file type `path` has, for messages ("a directory", "a symbolic link",
/// "a FIFO", ...); "missing" when it does not exist. Never follows a symbolic link.
std::string file_kind(const std::filesystem::path& path);

}  // namespace convt2d

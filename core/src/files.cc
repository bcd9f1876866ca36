// Reading and writing whole files with POSIX calls: std::ifstream/ofstream cannot say "do not
// follow a link", "fail if it exists", "do not block on a FIFO" or "fsync".
#include "convt2d/files.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <mutex>
#include <random>
#include <system_error>
#include <vector>

#include "convt2d/error.h"

namespace convt2d {
namespace {

namespace fs = std::filesystem;

[[noreturn]] void fail(const fs::path& path, const std::string& why) {
  throw Error(path.string(), fmt::format("{}: {}", path.string(), why));
}

// strerror() is not thread-safe; the system category's message is.
std::string errno_text(int e) {
  return std::system_category().message(e);
}

const char* kind_of(mode_t m) {
  if (S_ISREG(m)) return "a regular file";
  if (S_ISDIR(m)) return "a directory";
  if (S_ISLNK(m)) return "a symbolic link";
  if (S_ISFIFO(m)) return "a FIFO";
  if (S_ISCHR(m)) return "a character device";
  if (S_ISBLK(m)) return "a block device";
  if (S_ISSOCK(m)) return "a socket";
  return "of an unknown file type";
}

// Closes on scope exit (errors from an explicit close() are reported by the caller).
class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  int get() const { return fd_; }
  int close() {
    const int r = ::close(fd_);
    fd_ = -1;
    return r;
  }

 private:
  int fd_;
};

// Ten characters nobody can predict (about 2^59 names), like mkstemp's: a planted file at the
// temporary name is then a guess, and O_EXCL refuses it even if the guess is right.
std::string random_suffix() {
  static std::mutex mutex;
  static std::mt19937_64 gen{(uint64_t{std::random_device{}()} << 32) ^ std::random_device{}()};
  uint64_t v = 0;
  {
    const std::lock_guard<std::mutex> lock(mutex);
    v = gen();
  }
  static constexpr char kDigits[] =
      "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
  std::string s;
  for (int i = 0; i < 10; ++i) {
    s += kDigits[v % 62];
    v /= 62;
  }
  return s;
}

fs::path directory_of(const fs::path& path) {
  return path.has_parent_path() ? path.parent_path() : fs::path(".");
}

// ".<name>.tmp.<random>" next to `path`. The name is clipped so that a long one still leaves room
// for the suffix within NAME_MAX.
fs::path temporary_name(const fs::path& path) {
  const std::string name = path.filename().string();
  return directory_of(path) / fmt::format(".{}.tmp.{}", name.substr(0, 200), random_suffix());
}

void check_file_name(const fs::path& path) {
  const fs::path name = path.filename();
  if (name.empty() || name == "." || name == "..") fail(path, "not a file name");
}

// The staged directories not yet committed. Files written into one need no directory fsync of
// their own: commit() syncs the directory once (a third of gen's time per case otherwise).
std::mutex staged_mutex;
std::vector<fs::path> staged_dirs;

bool is_staged(const fs::path& dir) {
  const std::lock_guard<std::mutex> lock(staged_mutex);
  return std::find(staged_dirs.begin(), staged_dirs.end(), dir) != staged_dirs.end();
}

void set_staged(const fs::path& dir, bool staged) {
  const std::lock_guard<std::mutex> lock(staged_mutex);
  if (staged) {
    staged_dirs.push_back(dir);
  } else {
    staged_dirs.erase(std::remove(staged_dirs.begin(), staged_dirs.end(), dir), staged_dirs.end());
  }
}

// Best effort: a rename is durable once its directory is; failing to sync it changes nothing else.
void fsync_directory(const fs::path& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return;
  ::fsync(fd);
  ::close(fd);
}

void write_all(int fd, std::span<const uint8_t> bytes, const fs::path& path) {
  size_t done = 0;
  while (done < bytes.size()) {
    // At most 1 GiB per call: Linux writes at most 0x7ffff000 bytes at once anyway.
    const size_t n = std::min<size_t>(bytes.size() - done, size_t{1} << 30);
    const ssize_t w = ::write(fd, bytes.data() + done, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      fail(path, fmt::format("write failed: {}", errno_text(errno)));
    }
    if (w == 0) fail(path, "write failed: no progress");
    done += static_cast<size_t>(w);
  }
}

}  // namespace

std::string file_kind(const fs::path& path) {
  struct stat st;
  if (::lstat(path.c_str(), &st) != 0) return "missing";
  return kind_of(st.st_mode);
}

std::string read_regular_file(const fs::path& path, uint64_t max_bytes) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) {
    const int e = errno;
    if (e == ENOENT || e == ENOTDIR) fail(path, "no such file");
    fail(path, fmt::format("cannot read: {}", errno_text(e)));
  }
  // Never open anything else: opening a FIFO blocks until a writer comes, and devices can have
  // side effects. O_NONBLOCK covers a path that turns into a FIFO between stat and open.
  if (!S_ISREG(st.st_mode))
    fail(path, fmt::format("not a regular file (it is {})", kind_of(st.st_mode)));
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK));
  if (fd.get() < 0) fail(path, fmt::format("cannot open for reading: {}", errno_text(errno)));
  if (::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode)) fail(path, "not a regular file");
  if (static_cast<uint64_t>(st.st_size) > max_bytes) {
    fail(path,
         fmt::format("file of {} bytes exceeds the limit of {} bytes", st.st_size, max_bytes));
  }
  // Read up to max_bytes + 1 whatever the size said: the file may have grown since.
  std::string out;
  out.resize(static_cast<size_t>(st.st_size) + 1);
  size_t have = 0;
  while (true) {
    if (have == out.size()) {
      if (have > max_bytes) {
        fail(path, fmt::format("file exceeds the limit of {} bytes", max_bytes));
      }
      const uint64_t limit = max_bytes == UINT64_MAX ? max_bytes : max_bytes + 1;
      out.resize(static_cast<size_t>(std::min<uint64_t>(limit, uint64_t{out.size()} * 2)));
    }
    const ssize_t r = ::read(fd.get(), out.data() + have, out.size() - have);
    if (r < 0) {
      if (errno == EINTR) continue;
      fail(path, fmt::format("read error: {}", errno_text(errno)));
    }
    if (r == 0) break;
    have += static_cast<size_t>(r);
  }
  if (have > max_bytes) fail(path, fmt::format("file exceeds the limit of {} bytes", max_bytes));
  out.resize(have);
  return out;
}

void write_bytes_atomically(const fs::path& path, std::span<const uint8_t> bytes) {
  check_file_name(path);
  // Replace only a regular file: renaming over a symbolic link, a FIFO or a device node (as root:
  // /dev/null) would replace the node, and a directory cannot be replaced by a file.
  struct stat st;
  if (::lstat(path.c_str(), &st) == 0) {
    if (!S_ISREG(st.st_mode)) {
      fail(path, fmt::format("exists and is {}, not a regular file: refusing to replace it",
                             kind_of(st.st_mode)));
    }
  } else if (errno != ENOENT) {
    fail(path, fmt::format("cannot write: {}", errno_text(errno)));
  }
  const fs::path dir = directory_of(path);
  fs::path tmp;
  int raw = -1;
  for (int attempt = 0; attempt < 100 && raw < 0; ++attempt) {
    tmp = temporary_name(path);
    // 0666 & ~umask, like any new file (mkstemp's 0600 would hide outputs from other users).
    raw = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0666);
    if (raw < 0 && errno != EEXIST) {
      const int e = errno;
      if (e == ENOENT) fail(path, fmt::format("no such directory {}", dir.string()));
      fail(path, fmt::format("cannot create a file in {}: {}", dir.string(), errno_text(e)));
    }
  }
  if (raw < 0) fail(path, fmt::format("cannot create a temporary file in {}", dir.string()));
  Fd fd(raw);
  try {
    write_all(fd.get(), bytes, path);
    if (::fsync(fd.get()) != 0) fail(path, fmt::format("fsync failed: {}", errno_text(errno)));
    if (fd.close() != 0) fail(path, fmt::format("write failed: {}", errno_text(errno)));
    if (::rename(tmp.c_str(), path.c_str()) != 0) {
      fail(path, fmt::format("cannot rename into place: {}", errno_text(errno)));
    }
  } catch (...) {
    ::unlink(tmp.c_str());
    throw;
  }
  if (!is_staged(dir)) fsync_directory(dir);
}

StagedDirectory::StagedDirectory(fs::path target) : target_(std::move(target)) {
  check_file_name(target_);
  const fs::path dir = directory_of(target_);
  for (int attempt = 0; attempt < 100; ++attempt) {
    path_ = temporary_name(target_);
    // mkdir never follows a symbolic link and fails on any existing name: ours alone.
    if (::mkdir(path_.c_str(), 0777) == 0) {
      set_staged(path_, true);
      return;
    }
    if (errno != EEXIST) {
      const int e = errno;
      if (e == ENOENT) fail(target_, fmt::format("no such directory {}", dir.string()));
      fail(target_,
           fmt::format("cannot create a directory in {}: {}", dir.string(), errno_text(e)));
    }
  }
  fail(target_, fmt::format("cannot create a temporary directory in {}", dir.string()));
}

StagedDirectory::~StagedDirectory() {
  set_staged(path_, false);
  if (committed_) return;
  std::error_code ec;
  fs::remove_all(path_, ec);  // never follows symbolic links
}

void StagedDirectory::commit() {
  set_staged(path_, false);
  fsync_directory(path_);
  const fs::path dir = directory_of(target_);
  struct stat st;
  if (::lstat(target_.c_str(), &st) == 0) {
    if (!S_ISDIR(st.st_mode)) {
      fail(target_, fmt::format("exists and is {}, not a directory: refusing to replace it",
                                kind_of(st.st_mode)));
    }
    // One atomic step where the file system can: the new directory takes the target's name and
    // the old one the temporary name, which is then removed.
    if (::renameat2(AT_FDCWD, path_.c_str(), AT_FDCWD, target_.c_str(), RENAME_EXCHANGE) != 0) {
      if (errno != EINVAL && errno != ENOSYS) {
        fail(target_, fmt::format("cannot replace: {}", errno_text(errno)));
      }
      // Otherwise in two renames: the target is briefly missing, never partly written.
      const fs::path aside = temporary_name(target_);
      if (::rename(target_.c_str(), aside.c_str()) != 0) {
        fail(target_, fmt::format("cannot replace: {}", errno_text(errno)));
      }
      if (::rename(path_.c_str(), target_.c_str()) != 0) {
        const int e = errno;
        ::rename(aside.c_str(), target_.c_str());
        fail(target_, fmt::format("cannot rename into place: {}", errno_text(e)));
      }
      path_ = aside;
    }
    committed_ = true;
    std::error_code ec;
    fs::remove_all(path_, ec);  // the old directory
  } else {
    if (::rename(path_.c_str(), target_.c_str()) != 0) {
      fail(target_, fmt::format("cannot rename into place: {}", errno_text(errno)));
    }
    committed_ = true;
  }
  fsync_directory(dir);
}

}  // namespace convt2d

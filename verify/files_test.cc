// Whole-file reading and atomic writing (files.h): what is refused, and that nothing is ever
// followed, blocked on, or left half written.
#include "convt2d/files.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

#include "convt2d/error.h"

namespace convt2d {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

class Files : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("convt2d_files_" +
            std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()) + "_" +
            std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  static std::string Slurp(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    std::ostringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }
  static std::span<const uint8_t> Bytes(const std::string& s) {
    return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
  }
  // The Error message of f(), or "" when it does not throw.
  template <class F>
  static std::string ErrorOf(F f) {
    try {
      f();
    } catch (const Error& e) {
      return e.what();
    }
    return "";
  }
  int Entries() const {
    int n = 0;
    for ([[maybe_unused]] const auto& e : fs::directory_iterator(dir_)) ++n;
    return n;
  }

  fs::path dir_;
};

TEST_F(Files, ReadsRegularFilesUpToTheCapAndNothingElse) {
  std::ofstream(dir_ / "a.txt") << std::string(100, 'x');
  EXPECT_EQ(read_regular_file(dir_ / "a.txt", 100), std::string(100, 'x'));
  EXPECT_THAT(ErrorOf([&] { read_regular_file(dir_ / "a.txt", 99); }),
              HasSubstr("a.txt: file of 100 bytes exceeds the limit of 99 bytes"));
  EXPECT_THAT(ErrorOf([&] { read_regular_file(dir_ / "none.txt", 100); }),
              HasSubstr("none.txt: no such file"));
  // A FIFO would block a reader until a writer comes: refused unopened.
  ASSERT_EQ(::mkfifo((dir_ / "fifo").c_str(), 0600), 0);
  EXPECT_THAT(ErrorOf([&] { read_regular_file(dir_ / "fifo", 100); }),
              HasSubstr("fifo: not a regular file (it is a FIFO)"));
  EXPECT_THAT(ErrorOf([&] { read_regular_file("/dev/zero", 100); }),
              HasSubstr("/dev/zero: not a regular file (it is a character device)"));
  EXPECT_THAT(ErrorOf([&] { read_regular_file(dir_, 100); }),
              HasSubstr("not a regular file (it is a directory)"));
  // A symbolic link to a regular file is that file.
  fs::create_symlink(dir_ / "a.txt", dir_ / "link");
  EXPECT_EQ(read_regular_file(dir_ / "link", 100).size(), 100u);
}

TEST_F(Files, WritesReplaceOnlyRegularFiles) {
  const fs::path out = dir_ / "out.bin";
  write_bytes_atomically(out, Bytes("first"));
  write_bytes_atomically(out, Bytes("second"));
  EXPECT_EQ(Slurp(out), "second");
  EXPECT_EQ(Entries(), 1);  // no temporary file left
  std::ofstream(dir_ / "victim") << "precious";
  fs::create_symlink(dir_ / "victim", dir_ / "link");
  EXPECT_THAT(ErrorOf([&] { write_bytes_atomically(dir_ / "link", Bytes("x")); }),
              HasSubstr("link: exists and is a symbolic link, not a regular file"));
  EXPECT_TRUE(fs::is_symlink(fs::symlink_status(dir_ / "link")));
  EXPECT_EQ(Slurp(dir_ / "victim"), "precious");
  // A dangling link too: the old code's rename would have replaced it.
  fs::create_symlink(dir_ / "nowhere", dir_ / "dangling");
  EXPECT_THAT(ErrorOf([&] { write_bytes_atomically(dir_ / "dangling", Bytes("x")); }),
              HasSubstr("dangling: exists and is a symbolic link"));
  EXPECT_FALSE(fs::exists(dir_ / "nowhere"));
  fs::create_directory(dir_ / "sub");
  EXPECT_THAT(ErrorOf([&] { write_bytes_atomically(dir_ / "sub", Bytes("x")); }),
              HasSubstr("sub: exists and is a directory"));
  ASSERT_EQ(::mkfifo((dir_ / "fifo").c_str(), 0600), 0);
  EXPECT_THAT(ErrorOf([&] { write_bytes_atomically(dir_ / "fifo", Bytes("x")); }),
              HasSubstr("fifo: exists and is a FIFO"));
  EXPECT_THAT(ErrorOf([&] { write_bytes_atomically(dir_ / "no" / "x.bin", Bytes("x")); }),
              HasSubstr("x.bin: no such directory"));
  EXPECT_THAT(ErrorOf([&] { write_bytes_atomically(dir_ / "..", Bytes("x")); }),
              HasSubstr("not a file name"));
  // Files are created with the usual 0666 & ~umask, not mkstemp's 0600.
  const mode_t mask = ::umask(022);
  ::umask(mask);
  struct stat st;
  ASSERT_EQ(::stat(out.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0666 & ~mask);
  EXPECT_EQ(Entries(), 6);  // out.bin, victim, link, dangling, sub, fifo: nothing else
}

TEST_F(Files, StagedDirectoriesAppearWholeOrNotAtAll) {
  const fs::path target = dir_ / "case";
  {
    StagedDirectory staged(target);
    EXPECT_EQ(staged.path().parent_path(), dir_);
    EXPECT_THAT(staged.path().filename().string(), ::testing::StartsWith(".case.tmp."));
    std::ofstream(staged.path() / "a") << "half";
    // Destroyed without commit(): as when an Error leaves the scope half-way.
  }
  EXPECT_EQ(Entries(), 0);
  {
    StagedDirectory staged(target);
    std::ofstream(staged.path() / "a") << "one";
    staged.commit();
  }
  EXPECT_EQ(Slurp(target / "a"), "one");
  {
    // An existing directory is replaced whole: nothing of the old one survives.
    StagedDirectory staged(target);
    std::ofstream(staged.path() / "b") << "two";
    staged.commit();
  }
  EXPECT_FALSE(fs::exists(target / "a"));
  EXPECT_EQ(Slurp(target / "b"), "two");
  EXPECT_EQ(Entries(), 1);
  // Anything but a directory at the target is refused and the staged directory removed.
  std::ofstream(dir_ / "file") << "keep";
  EXPECT_THAT(ErrorOf([&] {
                StagedDirectory staged(dir_ / "file");
                staged.commit();
              }),
              HasSubstr("file: exists and is a regular file, not a directory"));
  EXPECT_EQ(Slurp(dir_ / "file"), "keep");
  EXPECT_EQ(Entries(), 2);
  EXPECT_THAT(ErrorOf([&] { StagedDirectory staged(dir_ / "no" / "case"); }),
              HasSubstr("no such directory"));
}

}  // namespace
}  // namespace convt2d

// Atomic file writes: the new content replaces the old in one step, a write that is abandoned or
// fails leaves the old file and no temporary behind, and errors name the file.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <unistd.h>

#include "tensor/atomic_file.h"
#include "tensor/error.h"

namespace rscapret {
namespace {

namespace fs = std::filesystem;

fs::path fresh_dir(const std::string& name) {
  const fs::path d = fs::temp_directory_path() / ("rscapret_atomic_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

std::string read(const fs::path& p) {
  std::stringstream ss;
  ss << std::ifstream(p, std::ios::binary).rdbuf();
  return ss.str();
}

size_t entries(const fs::path& d) {
  size_t n = 0;
  for (const auto& e : fs::directory_iterator(d)) n += bool(e.path().filename().string().size());
  return n;
}

TEST(AtomicFile, Replaces) {
  const fs::path d = fresh_dir("replace");
  fs::create_directories(d / "new");
  write_file_atomic(d / "new" / "a.txt", "first");
  write_file_atomic(d / "new" / "a.txt", "second");
  EXPECT_EQ(read(d / "new" / "a.txt"), "second");
  EXPECT_EQ(entries(d / "new"), 1u);  // no temporary left
  fs::remove_all(d);
}

TEST(AtomicFile, AnAbandonedWriteLeavesTheOldFile) {
  const fs::path d = fresh_dir("abandon");
  write_file_atomic(d / "a.bin", "old");
  {
    AtomicFile f(d / "a.bin");
    f.write("half of the new conte");
    // no commit: as if the program failed here
  }
  EXPECT_EQ(read(d / "a.bin"), "old");
  EXPECT_EQ(entries(d), 1u);
  fs::remove_all(d);
}

TEST(AtomicFile, ErrorsNameTheFile) {
  const fs::path d = fresh_dir("errors");
  std::ofstream(d / "file") << "x";
  EXPECT_THROW(write_file_atomic(d / "missing" / "a.txt", "x"), IOError);
  try {
    write_file_atomic(d / "file" / "sub" / "a.txt", "x", "demo");  // a file where a folder must be
    FAIL() << "no error";
  } catch (const IOError& e) {
    EXPECT_NE(std::string(e.what()).find("[demo]"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("a.txt"), std::string::npos) << e.what();
  }
  AtomicFile f(d / "b.txt");
  f.write("x");
  f.commit();
  EXPECT_THROW(f.commit(), ValueError);
  EXPECT_THROW(f.write("y"), ValueError);
  fs::remove_all(d);
}

}  // namespace
}  // namespace rscapret

// The atomic writer: no temporary left behind, the target untouched whenever a write fails.
#include <sys/resource.h>

#include <csignal>

#include "tests/safetensors/st_test_util.h"

namespace rscapret::testing {
namespace {

class Writer : public TempDirTest {
 protected:
  // Everything in the folder except `keep`: stray temporaries show up here.
  std::vector<std::string> others(const std::string& keep) const {
    std::vector<std::string> out;
    for (const auto& e : fs::directory_iterator(dir_))
      if (e.path().filename() != keep) out.push_back(e.path().filename().string());
    return out;
  }
  fs::path target() const { return dir_ / "t.safetensors"; }
};

TEST_F(Writer, ReplacesTheTargetAndLeavesNoTemporary) {
  save_safetensors(target(), {{"x", Tensor::full({3}, 1.0)}});
  save_safetensors(target(), {{"y", Tensor::full({5}, 2.0)}});
  EXPECT_TRUE(others("t.safetensors").empty());
  SafetensorsFile f(target());
  EXPECT_EQ(f.names(), (std::vector<std::string>{"y"}));
}

TEST_F(Writer, EmptyCheckpointIsValid) {
  save_safetensors(target(), {});
  SafetensorsFile f(target());
  EXPECT_TRUE(f.names().empty());
  EXPECT_EQ(f.mapping().size() % 8, 0u);
}

TEST_F(Writer, BadInputIsAValueErrorAndWritesNothing) {
  write_bytes(target(), "old");
  EXPECT_THROW(save_safetensors(target(), {{"x", Tensor::full({1}, 1.0)}, {"x", Tensor::full({1}, 1.0)}}), ValueError);
  EXPECT_THROW(save_safetensors(target(), {{"__metadata__", Tensor::full({1}, 1.0)}}), ValueError);
  EXPECT_THROW(save_safetensors(target(), {{"x", Tensor()}}), ValueError);
  EXPECT_THROW(save_safetensors(target(), {{"bad\xff utf8", Tensor::full({1}, 1.0)}}), ValueError);
  EXPECT_EQ(read_bytes(target()), "old");
  EXPECT_TRUE(others("t.safetensors").empty());
}

TEST_F(Writer, FailedRenameRemovesTheTemporary) {
  // A folder where the file should go: everything is written, then rename() fails.
  fs::create_directory(target());
  write_bytes(target() / "inside", "keep me");
  EXPECT_THROW(save_safetensors(target(), {{"x", Tensor::full({8}, 1.0)}}), IOError);
  EXPECT_EQ(read_bytes(target() / "inside"), "keep me");
  EXPECT_TRUE(others("t.safetensors").empty());
}

TEST_F(Writer, FailedWriteKeepsTheOldFile) {
  // A file-size limit makes write() fail half-way (EFBIG), even for root.
  write_bytes(target(), "old contents");
  rlimit old{};
  ASSERT_EQ(getrlimit(RLIMIT_FSIZE, &old), 0);
  rlimit small = old;
  small.rlim_cur = 4096;
  auto* prev = std::signal(SIGXFSZ, SIG_IGN);  // otherwise the signal kills the test
  ASSERT_EQ(setrlimit(RLIMIT_FSIZE, &small), 0);
  try {
    save_safetensors(target(), {{"big", Tensor::full({64, 1024}, 1.0)}});
    ADD_FAILURE() << "the write past the size limit did not fail";
  } catch (const IOError& e) {
    EXPECT_NE(std::string(e.what()).find("cannot write"), std::string::npos) << e.what();
  }
  setrlimit(RLIMIT_FSIZE, &old);
  std::signal(SIGXFSZ, prev);
  EXPECT_EQ(read_bytes(target()), "old contents");
  EXPECT_TRUE(others("t.safetensors").empty());
}

TEST_F(Writer, MissingOrUnwritableFolderIsAnIOError) {
  EXPECT_THROW(save_safetensors(dir_ / "no" / "such" / "t.safetensors", {}), IOError);
  const fs::path ro = dir_ / "ro";
  fs::create_directory(ro);
  write_bytes(ro / "t.safetensors", "old");
  fs::permissions(ro, fs::perms::owner_read | fs::perms::owner_exec);
  if (::access(ro.c_str(), W_OK) == 0) {  // root ignores permissions
    fs::permissions(ro, fs::perms::owner_all);
    GTEST_SKIP() << "running as root: a read-only folder is still writable (the rlimit test covers failures)";
  }
  EXPECT_THROW(save_safetensors(ro / "t.safetensors", {{"x", Tensor::full({1}, 1.0)}}), IOError);
  fs::permissions(ro, fs::perms::owner_all);
  EXPECT_EQ(read_bytes(ro / "t.safetensors"), "old");
  EXPECT_EQ(std::distance(fs::directory_iterator(ro), fs::directory_iterator()), 1);
}

}  // namespace
}  // namespace rscapret::testing

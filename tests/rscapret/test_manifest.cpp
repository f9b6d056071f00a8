// The content-hash manifest of the embedded default model: written, verified, and every kind of
// damage (changed byte, truncation, missing file, malformed or hostile manifest) reported.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <unistd.h>

#include "models/rscapret/manifest.h"
#include "tensor/error.h"

namespace rscapret::models {
namespace {

namespace fs = std::filesystem;

class Manifest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() / ("rscapret_manifest_" + std::to_string(::getpid()));
    fs::remove_all(root_);
    fs::create_directories(root_ / "model");
    put("model/weights.bin", std::string(3000, 'w'));
    put("notes.txt", "hello\n");
  }
  void TearDown() override { fs::remove_all(root_); }
  void put(const std::string& rel, const std::string& bytes) { std::ofstream(root_ / rel, std::ios::binary) << bytes; }
  fs::path root_;
};

TEST_F(Manifest, FreshManifestVerifies) {
  write_manifest(root_);
  const ManifestCheck c = verify_manifest(root_);
  EXPECT_TRUE(c.ok()) << c.describe();
  EXPECT_TRUE(c.unlisted.empty());
  // The XXH3-64 of "hello\n" is fixed by the algorithm.
  EXPECT_EQ(file_xxh3(root_ / "notes.txt").size(), 16u);
  EXPECT_NE(file_xxh3(root_ / "notes.txt"), file_xxh3(root_ / "model/weights.bin"));
}

TEST_F(Manifest, OneChangedByteIsCaught) {
  write_manifest(root_);
  std::string w(3000, 'w');
  w[1234] = 'x';
  put("model/weights.bin", w);  // same size, different content
  const ManifestCheck c = verify_manifest(root_);
  EXPECT_FALSE(c.ok());
  ASSERT_EQ(c.mismatched.size(), 1u);
  EXPECT_EQ(c.mismatched[0], "model/weights.bin");
}

TEST_F(Manifest, TruncatedMissingAndExtraFiles) {
  write_manifest(root_);
  put("notes.txt", "hel");
  fs::remove(root_ / "model/weights.bin");
  put("extra.txt", "x");
  const ManifestCheck c = verify_manifest(root_);
  EXPECT_FALSE(c.ok());
  EXPECT_EQ(c.missing, std::vector<std::string>{"model/weights.bin"});
  EXPECT_EQ(c.mismatched, std::vector<std::string>{"notes.txt"});
  EXPECT_EQ(c.unlisted, std::vector<std::string>{"extra.txt"});
  EXPECT_NE(c.describe().find("missing: model/weights.bin"), std::string::npos);
}

TEST_F(Manifest, BadManifestsAreClearErrors) {
  EXPECT_THROW(verify_manifest(root_), IOError);  // none
  put(kManifestName, "{not json");
  EXPECT_THROW(verify_manifest(root_), FormatError);
  put(kManifestName, R"({"hash": "md5", "files": {}})");
  EXPECT_THROW(verify_manifest(root_), FormatError);
  put(kManifestName, R"({"hash": "xxh3-64", "files": {"a": {"xxh3": 5}}})");
  EXPECT_THROW(verify_manifest(root_), FormatError);
  put(kManifestName, R"({"hash": "xxh3-64", "files": {"../../etc/passwd": {"xxh3": "00", "bytes": 1}}})");
  EXPECT_THROW(verify_manifest(root_), FormatError);
}

}  // namespace
}  // namespace rscapret::models

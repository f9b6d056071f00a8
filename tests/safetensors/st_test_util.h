// Helpers for the safetensors tests: a scratch folder, hand-built files, byte-level comparison.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "tensor/safetensors.h"

namespace rscapret::testing {

namespace fs = std::filesystem;

// A fresh folder per test, removed afterwards.
class TempDirTest : public ::testing::Test {
 protected:
  void SetUp() override {
    static int counter = 0;
    dir_ = fs::temp_directory_path() /
           ("rscapret_st_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override {
    std::error_code ec;
    fs::permissions(dir_, fs::perms::owner_all, fs::perm_options::add, ec);
    fs::remove_all(dir_, ec);
  }
  fs::path dir_;
};

inline void write_bytes(const fs::path& p, const std::string& bytes) {
  std::ofstream(p, std::ios::binary).write(bytes.data(), std::streamsize(bytes.size()));
}

inline std::string read_bytes(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// A safetensors image: the length prefix (or `claimed_len` when given), the header text, and
// `data_bytes` bytes of data (value i % 251 at byte i).
inline std::string raw_file(const std::string& header, size_t data_bytes, uint64_t claimed_len = ~0ull) {
  const uint64_t n = claimed_len == ~0ull ? header.size() : claimed_len;
  std::string out(8, '\0');
  for (int i = 0; i < 8; ++i) out[size_t(i)] = char(uint8_t(n >> (8 * i)));
  out += header;
  for (size_t i = 0; i < data_bytes; ++i) out += char(i % 251);
  return out;
}

// The bytes of a host tensor in logical row-major order, gathered through its strides by hand
// (independent of Tensor::contiguous, which the writer uses).
inline std::string logical_bytes(const Tensor& t) {
  std::string out;
  const size_t es = t.element_size();
  const auto* base = static_cast<const char*>(t.raw_data());
  const int64_t n = t.numel();
  std::vector<int64_t> idx(size_t(t.dim()), 0);
  for (int64_t k = 0; k < n; ++k) {
    int64_t off = 0;
    for (int d = 0; d < t.dim(); ++d) off += idx[size_t(d)] * t.stride(d);
    out.append(base + off * int64_t(es), es);
    for (int d = t.dim() - 1; d >= 0; --d) {  // odometer increment
      if (++idx[size_t(d)] < t.size(d)) break;
      idx[size_t(d)] = 0;
    }
  }
  return out;
}

// Asserts that loading `path` throws FormatError whose message names the file and contains `what`.
inline void expect_format_error(const fs::path& path, const std::string& what) {
  try {
    SafetensorsFile f(path);
    ADD_FAILURE() << "no error for " << path << "; expected one mentioning '" << what << "'";
  } catch (const FormatError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find(path.filename().string()), std::string::npos) << "message lacks the file: " << msg;
    EXPECT_NE(msg.find(what), std::string::npos) << "expected '" << what << "' in: " << msg;
  }
}

}  // namespace rscapret::testing

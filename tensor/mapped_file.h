// MappedFile: a whole file mapped read-only into memory (mmap). Held by shared_ptr so that
// zero-copy tensors can keep the mapping alive (pass it as the Storage owner); unmapped when the
// last holder lets go. An empty file maps to size() == 0 and data() == nullptr.
// Caveat of every mmap reader: if another process truncates the file while it is mapped, touching
// the lost pages raises SIGBUS. Checkpoints are written atomically (rename), which never truncates.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <span>

namespace rscapret {

class MappedFile {
 public:
  // Throws IOError naming the path and the system's reason (missing, not a regular file, ...).
  static std::shared_ptr<MappedFile> open(const std::filesystem::path& path);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  std::span<const uint8_t> bytes() const { return {data_, size_}; }
  const std::filesystem::path& path() const { return path_; }

 private:
  MappedFile(std::filesystem::path path, const uint8_t* data, size_t size)
      : path_(std::move(path)), data_(data), size_(size) {}
  std::filesystem::path path_;
  const uint8_t* data_;
  size_t size_;
};

}  // namespace rscapret

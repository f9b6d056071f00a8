// Files that matter (checkpoints, indexes, configs, tokenizers, manifests) are written atomically:
// a reader, or the next run after a crash, sees either the old file or the complete new one.
// Recipe: a temporary `path.tmp.<pid>` in the same folder (so rename() never crosses file systems),
// write, fsync, close (NFS reports deferred errors there), rename over `path`, fsync the folder.
// Every failure is an IOError naming the file and the reason, and leaves no temporary behind.
#pragma once

#include <cstddef>
#include <filesystem>
#include <string>
#include <string_view>

namespace rscapret {

class AtomicFile {
 public:
  // Creates the temporary (the folder must exist: a missing one is an IOError, not created behind
  // the caller's back); `op` names the caller in error messages.
  explicit AtomicFile(std::filesystem::path path, std::string op = "write");
  ~AtomicFile();  // not committed: the temporary is removed, `path` untouched
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;

  void write(const void* data, size_t n);
  void write(std::string_view s) { write(s.data(), s.size()); }
  // fsync, close, rename into place, fsync the folder.
  void commit();

 private:
  std::filesystem::path path_, tmp_;
  std::string op_;
  int fd_ = -1;
  bool committed_ = false;
};

// The whole file at once.
void write_file_atomic(const std::filesystem::path& path, std::string_view bytes, const std::string& op = "write");

}  // namespace rscapret

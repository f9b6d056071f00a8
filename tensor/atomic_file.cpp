#include "tensor/atomic_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "tensor/error.h"

namespace rscapret {

namespace fs = std::filesystem;

namespace {

[[noreturn]] void throw_io(const std::string& op, const fs::path& path, const char* what, int err) {
  throw IOError(cat("[", op, "] ", path.string(), ": ", what, ": ", std::strerror(err)));
}

// Makes the rename itself durable. Some filesystems cannot fsync a folder (EINVAL): the data is
// already synced, so that is not an error.
void sync_folder(const std::string& op, const fs::path& dir) {
  const int fd = ::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) throw_io(op, dir, "cannot open folder to sync", errno);
  const int rc = ::fsync(fd);
  const int err = errno;
  ::close(fd);
  if (rc != 0 && err != EINVAL) throw_io(op, dir, "cannot sync folder", err);
}

}  // namespace

AtomicFile::AtomicFile(fs::path path, std::string op)
    : path_(std::move(path)), tmp_(path_.string() + ".tmp." + std::to_string(::getpid())), op_(std::move(op)) {
  fd_ = ::open(tmp_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd_ < 0) throw_io(op_, tmp_, "cannot create", errno);
}

AtomicFile::~AtomicFile() {
  if (committed_) return;
  if (fd_ >= 0) ::close(fd_);
  ::unlink(tmp_.c_str());
}

void AtomicFile::write(const void* data, size_t n) {
  RS_CHECK(fd_ >= 0 && !committed_, ValueError, op_, "write after commit of ", path_.string());
  const auto* p = static_cast<const uint8_t*>(data);
  while (n > 0) {
    const ssize_t w = ::write(fd_, p, std::min(n, size_t(1) << 30));
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) throw_io(op_, tmp_, "cannot write", w < 0 ? errno : EIO);
    p += w;
    n -= size_t(w);
  }
}

void AtomicFile::commit() {
  RS_CHECK(fd_ >= 0 && !committed_, ValueError, op_, "commit twice of ", path_.string());
  if (::fsync(fd_) != 0) throw_io(op_, tmp_, "cannot sync", errno);
  const int fd = fd_;
  fd_ = -1;
  if (::close(fd) != 0) throw_io(op_, tmp_, "cannot close", errno);  // NFS: deferred write errors
  if (::rename(tmp_.c_str(), path_.c_str()) != 0) throw_io(op_, path_, "cannot replace", errno);
  committed_ = true;
  sync_folder(op_, path_.parent_path());
}

void write_file_atomic(const fs::path& path, std::string_view bytes, const std::string& op) {
  AtomicFile f(path, op);
  f.write(bytes);
  f.commit();
}

}  // namespace rscapret

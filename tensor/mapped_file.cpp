#include "tensor/mapped_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "tensor/error.h"

namespace rscapret {

namespace {

[[noreturn]] void throw_io(const std::filesystem::path& path, const char* what, int err) {
  throw IOError(cat("[mmap] ", path.string(), ": ", what, ": ", std::strerror(err)));
}

// Closes the descriptor on every path out of open(); the mapping does not need it.
struct FdCloser {
  int fd;
  ~FdCloser() { ::close(fd); }
};

}  // namespace

std::shared_ptr<MappedFile> MappedFile::open(const std::filesystem::path& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw_io(path, "cannot open", errno);
  FdCloser closer{fd};
  struct stat st {};
  if (::fstat(fd, &st) != 0) throw_io(path, "cannot stat", errno);
  // mmap of a directory or a pipe fails with an obscure errno; say what is wrong instead.
  if (!S_ISREG(st.st_mode)) throw IOError(cat("[mmap] ", path.string(), ": not a regular file"));
  const size_t size = size_t(st.st_size);
  if (size == 0)  // mmap refuses length 0; an empty file is still a valid (if useless) input
    return std::shared_ptr<MappedFile>(new MappedFile(path, nullptr, 0));
  void* p = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
  if (p == MAP_FAILED) throw_io(path, "cannot map", errno);
  return std::shared_ptr<MappedFile>(new MappedFile(path, static_cast<const uint8_t*>(p), size));
}

MappedFile::~MappedFile() {
  if (data_) ::munmap(const_cast<uint8_t*>(data_), size_);
}

}  // namespace rscapret

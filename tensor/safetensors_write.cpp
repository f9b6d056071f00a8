// Atomic safetensors writer: a reader sees either the old file or the complete new one, never a
// torn write, even across a crash (temporary in the same folder, fsync, rename, fsync folder).
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <set>

#include <nlohmann/json.hpp>

#include "tensor/safetensors.h"

namespace rscapret {

namespace {
// ordered_json keeps insertion order, so the header lists tensors in data order with the fields
// in the reference library's order: the same checkpoint saves to the same bytes.
using json = nlohmann::ordered_json;
namespace fs = std::filesystem;

[[noreturn]] void throw_io(const fs::path& path, const char* what, int err) {
  throw IOError(cat("[safetensors] ", path.string(), ": ", what, ": ", std::strerror(err)));
}

void write_all(int fd, const void* data, size_t n, const fs::path& tmp) {
  const auto* p = static_cast<const uint8_t*>(data);
  while (n > 0) {
    const ssize_t w = ::write(fd, p, std::min(n, size_t(1) << 30));
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) throw_io(tmp, "cannot write", w < 0 ? errno : EIO);
    p += w;
    n -= size_t(w);
  }
}

// Makes the rename itself durable. Some filesystems cannot fsync a folder (EINVAL): the data is
// already synced, so that is not an error.
void sync_folder(const fs::path& dir) {
  const int fd = ::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) throw_io(dir, "cannot open folder to sync", errno);
  const int rc = ::fsync(fd);
  const int err = errno;
  ::close(fd);
  if (rc != 0 && err != EINVAL) throw_io(dir, "cannot sync folder", err);
}

// The reference library orders data by dtype, in its enum order reversed, then by name. Its order
// also sorts element sizes descending (8, 8, 8, 4, 4, 2, 2, 1, 1), which keeps every tensor aligned.
int data_rank(DType t) {
  switch (t) {
    case DType::boolean: return 0;
    case DType::u8: return 1;
    case DType::f16: return 2;
    case DType::bf16: return 3;
    case DType::i32: return 4;
    case DType::f32: return 5;
    case DType::f64: return 6;
    case DType::i64: return 7;
  }
  RS_ASSERT(false, "unknown dtype");
}

struct Prepared {
  std::string name;
  Tensor host;  // contiguous, on the host
};

// Validates names and tensors, and fixes the data order (see safetensors.h).
std::vector<Prepared> prepare(const std::vector<std::pair<std::string, Tensor>>& tensors) {
  std::set<std::string> seen;
  std::vector<Prepared> out;
  for (const auto& [name, t] : tensors) {
    RS_CHECK(name != "__metadata__", ValueError, "save_safetensors", "'__metadata__' is reserved, not a tensor name");
    RS_CHECK(seen.insert(name).second, ValueError, "save_safetensors", "tensor name '", name, "' given twice");
    RS_CHECK(t.defined(), ValueError, "save_safetensors", "tensor '", name, "' is undefined");
    Tensor host = t.device().is_cpu() ? t : t.to(Device::cpu());
    out.push_back({name, host.contiguous()});
  }
  std::sort(out.begin(), out.end(), [](const Prepared& a, const Prepared& b) {
    const int ra = data_rank(a.host.dtype()), rb = data_rank(b.host.dtype());
    return ra != rb ? ra > rb : a.name < b.name;
  });
  return out;
}

// Header JSON padded with spaces so that the data section starts 8-byte aligned.
std::string build_header(const std::vector<Prepared>& ts, const std::map<std::string, std::string>& metadata) {
  json h = json::object();
  if (!metadata.empty()) {
    json m = json::object();
    for (const auto& [k, v] : metadata) m[k] = v;  // std::map: keys sorted
    h["__metadata__"] = std::move(m);
  }
  uint64_t offset = 0;
  for (const auto& p : ts) {
    const uint64_t n = uint64_t(p.host.numel()) * p.host.element_size();
    h[p.name] = {{"dtype", std::string(safetensors_dtype_name(p.host.dtype()))},
                 {"shape", p.host.shape()},
                 {"data_offsets", {offset, offset + n}}};
    offset += n;
  }
  std::string text;
  try {
    text = h.dump();
  } catch (const json::exception& e) {  // a name or metadata string that is not UTF-8
    throw ValueError(cat("[save_safetensors] cannot encode the header: ", e.what()));
  }
  text.append((8 - (8 + text.size()) % 8) % 8, ' ');
  return text;
}

void write_file(int fd, const fs::path& tmp, const std::string& header, const std::vector<Prepared>& ts) {
  uint8_t len[8];
  for (int i = 0; i < 8; ++i) len[i] = uint8_t(uint64_t(header.size()) >> (8 * i));  // little-endian
  write_all(fd, len, 8, tmp);
  write_all(fd, header.data(), header.size(), tmp);
  for (const auto& p : ts)
    if (p.host.numel() > 0) write_all(fd, p.host.raw_data(), size_t(p.host.numel()) * p.host.element_size(), tmp);
  if (::fsync(fd) != 0) throw_io(tmp, "cannot sync", errno);
}

}  // namespace

void save_safetensors(const fs::path& path, const std::vector<std::pair<std::string, Tensor>>& tensors,
                      const std::map<std::string, std::string>& metadata) {
  const std::vector<Prepared> ts = prepare(tensors);
  const std::string header = build_header(ts, metadata);

  // Same folder as the target, so rename() is atomic (never across filesystems).
  const fs::path tmp = path.string() + ".tmp." + std::to_string(::getpid());
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) throw_io(tmp, "cannot create", errno);
  try {
    write_file(fd, tmp, header, ts);
  } catch (...) {
    ::close(fd);
    ::unlink(tmp.c_str());
    throw;
  }
  if (::close(fd) != 0) {  // NFS and friends report deferred write errors here
    const int err = errno;
    ::unlink(tmp.c_str());
    throw_io(tmp, "cannot close", err);
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    throw_io(path, "cannot replace", err);
  }
  sync_folder(path.parent_path());
}

}  // namespace rscapret

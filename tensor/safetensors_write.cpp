// Atomic safetensors writer: a reader sees either the old file or the complete new one, never a
// torn write, even across a crash (temporary in the same folder, fsync, rename, fsync folder).

#include <algorithm>
#include <cstring>
#include <set>

#include <nlohmann/json.hpp>

#include "tensor/atomic_file.h"
#include "tensor/safetensors.h"

namespace rscapret {

namespace {
// ordered_json keeps insertion order, so the header lists tensors in data order with the fields
// in the reference library's order: the same checkpoint saves to the same bytes.
using json = nlohmann::ordered_json;
namespace fs = std::filesystem;


// The reference library orders data by dtype, in its enum order reversed, then by name. Its order
// also sorts element sizes descending (8, 8, 8, 4, 4, 2, 2, 1, 1, 1), which keeps every tensor aligned.
int data_rank(DType t) {
  switch (t) {
    case DType::boolean: return 0;
    case DType::u8: return 1;
    case DType::i8: return 2;
    case DType::f16: return 3;
    case DType::bf16: return 4;
    case DType::i32: return 5;
    case DType::f32: return 6;
    case DType::f64: return 7;
    case DType::i64: return 8;
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

void write_file(AtomicFile& f, const std::string& header, const std::vector<Prepared>& ts) {
  uint8_t len[8];
  for (int i = 0; i < 8; ++i) len[i] = uint8_t(uint64_t(header.size()) >> (8 * i));  // little-endian
  f.write(len, 8);
  f.write(header);
  for (const auto& p : ts)
    if (p.host.numel() > 0) f.write(p.host.raw_data(), size_t(p.host.numel()) * p.host.element_size());
}

}  // namespace

void save_safetensors(const fs::path& path, const std::vector<std::pair<std::string, Tensor>>& tensors,
                      const std::map<std::string, std::string>& metadata) {
  const std::vector<Prepared> ts = prepare(tensors);
  const std::string header = build_header(ts, metadata);

  AtomicFile f(path, "safetensors");
  write_file(f, header, ts);
  f.commit();
}

}  // namespace rscapret

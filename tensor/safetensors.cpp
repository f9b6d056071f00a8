// safetensors readers: one mapped file, and a (possibly sharded) checkpoint. Validation lives in
// safetensors_header.cpp, the writer in safetensors_write.cpp.
#include "tensor/safetensors.h"

#include <algorithm>
#include <cstring>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

namespace rscapret {

namespace {
using json = nlohmann::json;
namespace fs = std::filesystem;

[[noreturn]] void fail_format(const fs::path& source, const std::string& problem) {
  throw FormatError(cat("[safetensors] ", source.string(), ": ", problem));
}
}  // namespace

// ---------------------------------------------------------------- SafetensorsFile

SafetensorsFile::SafetensorsFile(const fs::path& path)
    : file_(MappedFile::open(path)), header_(parse_safetensors(file_->bytes(), path.string())) {}

const SafetensorsEntry* SafetensorsFile::find(const std::string& name) const {
  const auto& es = header_.entries;  // sorted by name
  const auto it = std::lower_bound(es.begin(), es.end(), name,
                                   [](const SafetensorsEntry& e, const std::string& n) { return e.name < n; });
  return it != es.end() && it->name == name ? &*it : nullptr;
}

std::vector<std::string> SafetensorsFile::names() const {
  std::vector<std::string> out;
  for (const auto& e : header_.entries) out.push_back(e.name);
  return out;
}

const SafetensorsEntry& SafetensorsFile::entry(const std::string& name) const {
  const SafetensorsEntry* e = find(name);
  RS_CHECK(e, IndexError, "safetensors", "no tensor '", name, "' in ", path().string());
  return *e;
}

Tensor SafetensorsFile::get(const std::string& name) const {
  const SafetensorsEntry& e = entry(name);
  const size_t nbytes = size_t(e.end - e.begin);
  const uint8_t* p = file_->data() + header_.data_start + e.begin;  // in range: validated
  // Bytes other than 0 and 1 in a bool tensor would be undefined behaviour once read as bool.
  if (e.dtype == DType::boolean)
    for (size_t i = 0; i < nbytes; ++i)
      if (p[i] > 1)
        fail_format(path(), cat("tensor '", name, "': BOOL byte ", i, " is ", int(p[i]), ", not 0 or 1"));
  const Strides strides = contiguous_strides(e.shape);
  if (reinterpret_cast<uintptr_t>(p) % dtype_size(e.dtype) != 0) {  // misaligned: copy (see header)
    auto storage = Storage::allocate(nbytes);
    if (nbytes) std::memcpy(storage->data(), p, nbytes);
    return Tensor(std::move(storage), e.shape, strides, 0, e.dtype);
  }
  // The mapping is the owner: it stays mapped while any tensor (or this file) holds it.
  auto storage = Storage::wrap(const_cast<uint8_t*>(p), nbytes, Device::cpu(), file_, /*read_only=*/true);
  return Tensor(std::move(storage), e.shape, strides, 0, e.dtype);
}

// ---------------------------------------------------------------- SafetensorsCheckpoint

SafetensorsCheckpoint::SafetensorsCheckpoint(const fs::path& path) {
  fs::path p = path;
  std::error_code ec;
  if (fs::is_directory(p, ec)) {
    if (fs::exists(p / "model.safetensors.index.json", ec)) p /= "model.safetensors.index.json";
    else if (fs::exists(p / "model.safetensors", ec)) p /= "model.safetensors";
    else throw IOError(cat("[safetensors] ", path.string(),
                           ": no model.safetensors.index.json or model.safetensors in this folder"));
  }
  if (p.extension() == ".json") {
    open_index(p);
    return;
  }
  files_.push_back(std::make_unique<SafetensorsFile>(p));
  for (const auto& e : files_[0]->entries()) where_[e.name] = 0;
  metadata_ = files_[0]->metadata();
}

void SafetensorsCheckpoint::open_index(const fs::path& index_path) {
  std::ifstream in(index_path, std::ios::binary);
  if (!in) throw IOError(cat("[safetensors] ", index_path.string(), ": cannot open the index"));
  std::stringstream text;
  text << in.rdbuf();
  json index;
  try {
    index = json::parse(text.str());
  } catch (const json::exception& e) {
    fail_format(index_path, cat("index is not valid JSON: ", e.what()));
  }
  if (!index.is_object()) fail_format(index_path, "index is not a JSON object");
  const auto wm = index.find("weight_map");
  if (wm == index.end() || !wm->is_object()) fail_format(index_path, "index has no \"weight_map\" object");
  if (const auto md = index.find("metadata"); md != index.end() && md->is_object())
    for (const auto& [k, v] : md->items()) metadata_[k] = v.is_string() ? v.get<std::string>() : v.dump();

  std::map<std::string, size_t> shard_index;  // shard file name -> files_ slot: each opened once
  for (const auto& [name, shard] : wm->items()) {
    if (!shard.is_string()) fail_format(index_path, cat("weight_map['", name, "'] is not a string"));
    const fs::path rel = shard.get<std::string>();
    // Shards live beside the index; an absolute or climbing path is a crafted index.
    const bool climbs = std::any_of(rel.begin(), rel.end(), [](const fs::path& c) { return c == ".."; });
    if (rel.empty() || rel.is_absolute() || climbs)
      fail_format(index_path, cat("weight_map['", name, "'] = '", rel.string(), "' is not a file beside the index"));
    auto [it, fresh] = shard_index.try_emplace(rel.string(), files_.size());
    if (fresh) files_.push_back(std::make_unique<SafetensorsFile>(index_path.parent_path() / rel));
    if (!files_[it->second]->contains(name))
      fail_format(index_path, cat("weight_map says '", name, "' is in ", rel.string(), ", which lacks it"));
    where_[name] = it->second;
  }
}

std::vector<std::string> SafetensorsCheckpoint::names() const {
  std::vector<std::string> out;
  for (const auto& [name, _] : where_) out.push_back(name);
  return out;
}

const SafetensorsFile& SafetensorsCheckpoint::file_for(const std::string& name) const {
  const auto it = where_.find(name);
  RS_CHECK(it != where_.end(), IndexError, "safetensors", "no tensor '", name, "' in the checkpoint");
  return *files_[it->second];
}

Tensor SafetensorsCheckpoint::get(const std::string& name) const { return file_for(name).get(name); }

const fs::path& SafetensorsCheckpoint::file_of(const std::string& name) const { return file_for(name).path(); }

std::map<std::string, Tensor> load_safetensors(const fs::path& path) {
  SafetensorsCheckpoint ckpt(path);
  std::map<std::string, Tensor> out;
  for (const auto& name : ckpt.names()) out.emplace(name, ckpt.get(name));
  return out;
}

}  // namespace rscapret

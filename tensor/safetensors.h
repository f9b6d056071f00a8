// safetensors checkpoints: read (mmap, zero-copy, sharded through model.safetensors.index.json),
// validate (every header field, before any tensor is handed out) and write (atomically).
//
// Format: 8-byte little-endian header length N, N bytes of JSON, then the data section.
// The JSON maps each tensor name to {"dtype", "shape", "data_offsets": [begin, end]} (offsets
// relative to the data section) plus an optional "__metadata__" map of strings to strings.
//
// Validation is as strict as the reference library: the tensors must tile the data section
// exactly (sorted by offset, each begins where the previous ends, the last ends at the end of the
// file). That one rule rejects overlaps, holes and trailing bytes; a conforming writer never
// produces any of them, so a file that has them is corrupt or crafted.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "tensor/mapped_file.h"
#include "tensor/tensor.h"

namespace rscapret {

// Larger headers are refused before parsing (the reference library uses the same bound).
inline constexpr uint64_t kSafetensorsMaxHeaderBytes = 100'000'000;

// One tensor of a validated header. begin/end are byte offsets into the data section.
struct SafetensorsEntry {
  std::string name;
  DType dtype = DType::f32;
  Shape shape;
  uint64_t begin = 0;
  uint64_t end = 0;
};

struct SafetensorsHeader {
  std::vector<SafetensorsEntry> entries;        // sorted by name
  std::map<std::string, std::string> metadata;  // "__metadata__"; empty when absent
  uint64_t data_start = 0;                      // offset of the data section: 8 + header length
};

// Parses and validates a whole safetensors image held in memory (header and data section).
// Throws FormatError("[safetensors] <source>: <problem>") on anything malformed; never reads
// outside `bytes`. The file reader runs it on the mapped file, the fuzz target on raw input.
SafetensorsHeader parse_safetensors(std::span<const uint8_t> bytes, const std::string& source);

// "F32", "BF16", "BOOL", ... as the format spells them.
std::string_view safetensors_dtype_name(DType t);

// One mapped .safetensors file. Tensors are zero-copy, read-only views of the mapping and keep it
// alive; a tensor whose bytes are not aligned to its element size (possible only in files from
// unusual writers) is copied instead, so kernels may always assume aligned elements.
class SafetensorsFile {
 public:
  explicit SafetensorsFile(const std::filesystem::path& path);

  const std::filesystem::path& path() const { return file_->path(); }
  const std::vector<SafetensorsEntry>& entries() const { return header_.entries; }
  std::vector<std::string> names() const;  // sorted
  bool contains(const std::string& name) const { return find(name) != nullptr; }
  const SafetensorsEntry& entry(const std::string& name) const;  // IndexError when absent
  Tensor get(const std::string& name) const;                     // IndexError when absent
  const std::map<std::string, std::string>& metadata() const { return header_.metadata; }
  const MappedFile& mapping() const { return *file_; }

 private:
  const SafetensorsEntry* find(const std::string& name) const;
  std::shared_ptr<MappedFile> file_;
  SafetensorsHeader header_;
};

// A checkpoint: one .safetensors file, or shards listed by a model.safetensors.index.json
// ({"weight_map": {tensor name: shard file name}, "metadata": {...}}). Every shard is opened and
// validated once, up front; each name listed must exist in its shard.
class SafetensorsCheckpoint {
 public:
  // `path`: a .safetensors file, an index .json, or a directory holding model.safetensors.index.json
  // or model.safetensors (the index wins when both exist).
  explicit SafetensorsCheckpoint(const std::filesystem::path& path);

  std::vector<std::string> names() const;  // sorted
  bool contains(const std::string& name) const { return where_.count(name) != 0; }
  Tensor get(const std::string& name) const;                                // IndexError when absent
  const std::filesystem::path& file_of(const std::string& name) const;     // the shard holding it
  size_t num_files() const { return files_.size(); }
  // A single file: its __metadata__. Sharded: the index's "metadata" (non-string values as JSON text).
  const std::map<std::string, std::string>& metadata() const { return metadata_; }

 private:
  void open_index(const std::filesystem::path& index_path);
  const SafetensorsFile& file_for(const std::string& name) const;
  std::vector<std::unique_ptr<SafetensorsFile>> files_;
  std::map<std::string, size_t> where_;  // tensor name -> index into files_
  std::map<std::string, std::string> metadata_;
};

// Every tensor of a checkpoint (any form SafetensorsCheckpoint accepts), by name.
std::map<std::string, Tensor> load_safetensors(const std::filesystem::path& path);

// Writes tensors (any strides, any device; copied to contiguous host bytes as needed) atomically:
// a temporary `path.tmp.<pid>` in the same folder, fsync, rename over `path`, fsync the folder.
// On failure the temporary is removed, `path` is untouched, and IOError (or ValueError for bad
// input: duplicate or reserved names, undefined tensors) is thrown. Output is deterministic and
// byte-identical to the reference library's: data ordered by dtype (I64 F64 F32 I32 BF16 F16 U8
// BOOL: largest elements first, so every tensor stays aligned) then name; the header lists
// __metadata__ then the tensors in data order, padded with spaces to a multiple of 8 bytes.
void save_safetensors(const std::filesystem::path& path,
                      const std::vector<std::pair<std::string, Tensor>>& tensors,
                      const std::map<std::string, std::string>& metadata = {});

}  // namespace rscapret

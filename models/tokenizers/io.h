// File reading for the tokenizer loaders: whole files, and gzip through zlib.
#pragma once

#include <filesystem>
#include <string>
#include <utility>

#include <nlohmann/json_fwd.hpp>

namespace rscapret::tokenizers {

// Whole file as bytes; throws IOError naming the file when it cannot be read.
std::string read_file_bytes(const std::filesystem::path& path);
// Whole gzip file, decompressed (a plain file is returned as is); throws IOError / FormatError.
std::string read_gzip_file(const std::filesystem::path& path);

// One BPE merge of a Hugging Face tokenizer.json: "a b" or ["a", "b"]. `who` and `name` prefix
// the FormatError for a malformed entry (rank = its position in the list).
std::pair<std::string, std::string> parse_json_merge(const nlohmann::json& merge, int32_t rank, const char* who,
                                                     const std::string& name);

}  // namespace rscapret::tokenizers

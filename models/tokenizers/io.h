// File reading for the tokenizer loaders: whole files, and gzip through zlib.
#pragma once

#include <filesystem>
#include <string>

namespace rscapret::tokenizers {

// Whole file as bytes; throws IOError naming the file when it cannot be read.
std::string read_file_bytes(const std::filesystem::path& path);
// Whole gzip file, decompressed (a plain file is returned as is); throws IOError / FormatError.
std::string read_gzip_file(const std::filesystem::path& path);

}  // namespace rscapret::tokenizers

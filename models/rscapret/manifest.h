// A manifest of content hashes over a folder (the embedded default model in assets/): every file's
// XXH3-64 and size in FOLDER/MANIFEST.json, so a truncated download, a bad merge or a stray edit of
// the weights is caught before they are used.
//
//   {"hash": "xxh3-64", "files": {"model/bridge.json": {"xxh3": "0123456789abcdef", "bytes": 512}, ...}}
//
// Paths are relative to the folder, with '/' separators, sorted; MANIFEST.json itself is not listed.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace rscapret::models {

inline constexpr const char* kManifestName = "MANIFEST.json";

// XXH3-64 of a file's bytes as 16 hex digits; throws IOError when it cannot be read.
std::string file_xxh3(const std::filesystem::path& path);

// Hashes every regular file under `root` and writes root/MANIFEST.json atomically.
void write_manifest(const std::filesystem::path& root);

struct ManifestCheck {
  std::vector<std::string> missing;     // listed but absent
  std::vector<std::string> mismatched;  // listed, present, different size or hash
  std::vector<std::string> unlisted;    // present but not listed
  bool ok() const { return missing.empty() && mismatched.empty(); }  // extra files are allowed
  std::string describe() const;         // one line per problem
};

// Checks root against root/MANIFEST.json; throws IOError/FormatError when the manifest itself is
// absent or malformed.
ManifestCheck verify_manifest(const std::filesystem::path& root);

}  // namespace rscapret::models

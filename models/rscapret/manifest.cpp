#include "models/rscapret/manifest.h"

#include <xxhash.h>

#include <cstdio>
#include <fstream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>

#include "tensor/atomic_file.h"
#include "tensor/error.h"

namespace rscapret::models {

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

std::string hex64(uint64_t v) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(v));
  return buf;
}

// Regular files under root, relative with '/' separators, sorted (the manifest excluded).
std::vector<std::string> list_files(const fs::path& root) {
  std::vector<std::string> out;
  for (const auto& e : fs::recursive_directory_iterator(root)) {
    if (!e.is_regular_file()) continue;
    const std::string rel = fs::relative(e.path(), root).generic_string();
    if (rel != kManifestName) out.push_back(rel);
  }
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace

std::string file_xxh3(const fs::path& path) {
  std::ifstream f(path, std::ios::binary);
  RS_CHECK(f.good(), IOError, "manifest", "cannot read ", path.string());
  std::unique_ptr<XXH3_state_t, decltype(&XXH3_freeState)> st(XXH3_createState(), &XXH3_freeState);
  XXH3_64bits_reset(st.get());
  std::vector<char> buf(1 << 20);
  while (f) {
    f.read(buf.data(), std::streamsize(buf.size()));
    if (f.gcount() > 0) XXH3_64bits_update(st.get(), buf.data(), size_t(f.gcount()));
  }
  RS_CHECK(f.eof(), IOError, "manifest", "read error in ", path.string());
  return hex64(XXH3_64bits_digest(st.get()));
}

void write_manifest(const fs::path& root) {
  RS_CHECK(fs::is_directory(root), IOError, "manifest", root.string(), " is not a folder");
  json files = json::object();
  for (const auto& rel : list_files(root))
    files[rel] = {{"xxh3", file_xxh3(root / rel)}, {"bytes", fs::file_size(root / rel)}};
  const json j{{"hash", "xxh3-64"}, {"files", files}};
  write_file_atomic(root / kManifestName, j.dump(2) + "\n", "manifest");
}

ManifestCheck verify_manifest(const fs::path& root) {
  const fs::path mp = root / kManifestName;
  std::ifstream f(mp);
  RS_CHECK(f.good(), IOError, "manifest", "no ", mp.string());
  json j;
  try {
    j = json::parse(f);
  } catch (const json::exception& e) {
    throw FormatError(cat("[manifest] ", mp.string(), " is not valid JSON: ", e.what()));
  }
  RS_CHECK(j.is_object() && j.value("hash", "") == "xxh3-64" && j.contains("files") && j["files"].is_object(),
           FormatError, "manifest", mp.string(), " lacks \"hash\": \"xxh3-64\" or a \"files\" object");
  ManifestCheck c;
  std::map<std::string, bool> listed;
  for (const auto& [rel, entry] : j["files"].items()) {
    RS_CHECK(entry.is_object() && entry.contains("xxh3") && entry["xxh3"].is_string() && entry.contains("bytes") &&
                 entry["bytes"].is_number_unsigned(),
             FormatError, "manifest", "entry '", rel, "' of ", mp.string(), " needs \"xxh3\" and \"bytes\"");
    // Entries name files inside the folder only.
    RS_CHECK(!rel.empty() && rel.find("..") == std::string::npos && rel[0] != '/', FormatError, "manifest",
             "entry '", rel, "' of ", mp.string(), " points outside the folder");
    listed[rel] = true;
    const fs::path p = root / rel;
    if (!fs::is_regular_file(p)) {
      c.missing.push_back(rel);
    } else if (fs::file_size(p) != entry["bytes"].get<uint64_t>() || file_xxh3(p) != entry["xxh3"].get<std::string>()) {
      c.mismatched.push_back(rel);
    }
  }
  for (const auto& rel : list_files(root))
    if (!listed.count(rel)) c.unlisted.push_back(rel);
  return c;
}

std::string ManifestCheck::describe() const {
  std::string s;
  for (const auto& m : missing) s += "missing: " + m + "\n";
  for (const auto& m : mismatched) s += "hash or size differs: " + m + "\n";
  for (const auto& m : unlisted) s += "not in the manifest: " + m + "\n";
  return s;
}

}  // namespace rscapret::models

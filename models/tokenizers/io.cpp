#include "models/tokenizers/io.h"

#include <nlohmann/json.hpp>

#include <zlib.h>

#include <cstdio>
#include <fstream>
#include <sstream>

#include "tensor/error.h"

namespace rscapret::tokenizers {

std::string read_file_bytes(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  RS_CHECK(in.good(), IOError, "tokenizer", "cannot open ", path.string());
  std::ostringstream ss;
  ss << in.rdbuf();
  RS_CHECK(!in.bad(), IOError, "tokenizer", "cannot read ", path.string());
  return ss.str();
}

std::string read_gzip_file(const std::filesystem::path& path) {
  gzFile f = gzopen(path.string().c_str(), "rb");
  RS_CHECK(f != nullptr, IOError, "tokenizer", "cannot open ", path.string());
  std::string out;
  char buf[1 << 16];
  for (;;) {
    const int n = gzread(f, buf, sizeof(buf));
    if (n < 0) {
      int errnum = 0;
      std::string msg = gzerror(f, &errnum);
      gzclose(f);
      throw FormatError(cat("[tokenizer] corrupt gzip file ", path.string(), ": ", msg));
    }
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  // gzread returns 0 both at the end and on a truncated stream; gzclose reports the latter.
  const int rc = gzclose(f);
  RS_CHECK(rc == Z_OK, FormatError, "tokenizer", "truncated or corrupt gzip file ", path.string());
  return out;
}

std::pair<std::string, std::string> parse_json_merge(const nlohmann::json& mg, int32_t rank, const char* who,
                                                     const std::string& name) {
  if (mg.is_string()) {
    const std::string s = mg.get<std::string>();
    const size_t sp = s.find(' ');
    RS_CHECK(sp != std::string::npos, FormatError, who, name, ": merge ", rank, " '", s, "' has no space");
    return {s.substr(0, sp), s.substr(sp + 1)};
  }
  if (mg.is_array() && mg.size() == 2 && mg[0].is_string() && mg[1].is_string())
    return {mg[0].get<std::string>(), mg[1].get<std::string>()};
  throw FormatError(cat("[", who, "] ", name, ": merge ", rank, " is malformed"));
}

}  // namespace rscapret::tokenizers

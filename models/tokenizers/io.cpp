#include "models/tokenizers/io.h"

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

}  // namespace rscapret::tokenizers

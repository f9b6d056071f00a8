#include "tensor/error.h"

#include <cstdio>
#include <cstdlib>

namespace rscapret {

std::string format_shape(const std::vector<int64_t>& shape) {
  std::string s = "(";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i) s += ",";
    s += std::to_string(shape[i]);
  }
  return s + ")";
}

void assert_fail(const char* expr, const char* file, int line, const std::string& msg) {
  std::fprintf(stderr, "rscapret internal error: %s:%d: assertion '%s' failed %s\n", file, line, expr,
               msg.c_str());
  std::abort();
}

}  // namespace rscapret

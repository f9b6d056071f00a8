// Two tiers of errors (see docs): a user mistake throws a typed rscapret::Error that names the op or
// file and what was expected; a broken internal invariant aborts through RS_ASSERT with file:line.
#pragma once

#include <cstdint>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace rscapret {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};
class ShapeError : public Error { using Error::Error; };   // incompatible or invalid shapes
class DTypeError : public Error { using Error::Error; };   // unsupported or mismatched dtypes
class DeviceError : public Error { using Error::Error; };  // wrong device, or a device not built in
class IndexError : public Error { using Error::Error; };   // index or id out of range
class ValueError : public Error { using Error::Error; };   // a bad argument value
class FormatError : public Error { using Error::Error; };  // a corrupt or malformed file
class IOError : public Error { using Error::Error; };      // a file that cannot be read or written

// Concatenates anything streamable: cat("[matmul] ", 3, " vs ", 4).
template <typename... Args>
std::string cat(const Args&... args) {
  std::ostringstream os;
  (os << ... << args);
  return os.str();
}

// "(2,3,4)"
std::string format_shape(const std::vector<int64_t>& shape);

[[noreturn]] void assert_fail(const char* expr, const char* file, int line, const std::string& msg);

}  // namespace rscapret

// Throws ErrorType("[op] message") when cond is false.
#define RS_CHECK(cond, ErrorType, op, ...)                                       \
  do {                                                                            \
    if (!(cond)) throw ErrorType(::rscapret::cat("[", op, "] ", __VA_ARGS__));    \
  } while (0)

// Internal invariant: aborts with file and line (never used for user input).
#define RS_ASSERT(cond, ...)                                                             \
  do {                                                                                   \
    if (!(cond)) ::rscapret::assert_fail(#cond, __FILE__, __LINE__, ::rscapret::cat(__VA_ARGS__)); \
  } while (0)

#include "train/data/image.h"

#include <algorithm>
#include <cstring>
#include <fstream>
#include <system_error>

#include "tensor/error.h"

namespace rscapret::data {

const char* image_format_name(ImageFormat f) {
  switch (f) {
    case ImageFormat::jpeg: return "JPEG";
    case ImageFormat::png: return "PNG";
    case ImageFormat::bmp: return "BMP";
    case ImageFormat::tiff: return "TIFF";
    default: return "unknown";
  }
}

ImageFormat detect_image_format(std::span<const uint8_t> b) {
  auto starts = [&](std::initializer_list<uint8_t> magic) {
    if (b.size() < magic.size()) return false;
    return std::memcmp(b.data(), magic.begin(), magic.size()) == 0;
  };
  if (starts({0xFF, 0xD8, 0xFF})) return ImageFormat::jpeg;
  if (starts({0x89, 'P', 'N', 'G', 0x0D, 0x0A, 0x1A, 0x0A})) return ImageFormat::png;
  if (starts({'I', 'I', 42, 0}) || starts({'M', 'M', 0, 42}) || starts({'I', 'I', 43, 0}) ||
      starts({'M', 'M', 0, 43}))
    return ImageFormat::tiff;
  // "BM" alone is weak: also ask for a plausible DIB header size (12, 40, 52, 56, 64, 108, 124).
  if (b.size() >= 18 && b[0] == 'B' && b[1] == 'M') {
    const uint32_t dib = b[14] | (b[15] << 8) | (b[16] << 16) | (uint32_t(b[17]) << 24);
    if (dib == 12 || dib == 40 || dib == 52 || dib == 56 || dib == 64 || dib == 108 || dib == 124)
      return ImageFormat::bmp;
  }
  return ImageFormat::unknown;
}

namespace detail {

void check_dimensions(int64_t w, int64_t h, const DecodeLimits& limits, const std::string& name) {
  RS_CHECK(w > 0 && h > 0, FormatError, "decode_image", name, ": invalid dimensions ", w, "x", h);
  RS_CHECK(w <= limits.max_side && h <= limits.max_side && w * h <= limits.max_pixels, FormatError,
           "decode_image", name, ": dimensions ", w, "x", h, " exceed the limit (side <= ",
           limits.max_side, ", pixels <= ", limits.max_pixels, "); refused before decoding");
}

}  // namespace detail

namespace {

ImageFormat require_format(std::span<const uint8_t> bytes, const std::string& name) {
  RS_CHECK(!bytes.empty(), FormatError, "decode_image", name, ": empty file");
  const ImageFormat f = detect_image_format(bytes);
  if (f == ImageFormat::unknown) {
    std::string hex;
    static const char* digits = "0123456789abcdef";
    for (size_t i = 0; i < std::min<size_t>(bytes.size(), 8); ++i) {
      hex += digits[bytes[i] >> 4];
      hex += digits[bytes[i] & 15];
      hex += ' ';
    }
    throw FormatError(cat("[decode_image] ", name, ": not a JPEG, PNG, BMP or TIFF file (first bytes: ",
                          hex, ")"));
  }
  return f;
}

}  // namespace

ImageInfo probe_image(std::span<const uint8_t> bytes, const std::string& name) {
  const ImageFormat f = require_format(bytes, name);
  return f == ImageFormat::tiff ? detail::probe_tiff(bytes, name) : detail::probe_stb(bytes, f, name);
}

Image decode_image(std::span<const uint8_t> bytes, const std::string& name, const DecodeLimits& limits) {
  const ImageFormat f = require_format(bytes, name);
  return f == ImageFormat::tiff ? detail::decode_tiff(bytes, name, limits)
                                : detail::decode_stb(bytes, f, name, limits);
}

std::vector<uint8_t> read_file(const std::filesystem::path& path, const DecodeLimits& limits) {
  const std::string name = path.string();
  std::error_code ec;
  const auto status = std::filesystem::status(path, ec);
  RS_CHECK(std::filesystem::exists(status), IOError, "read_file", name, ": no such file");
  RS_CHECK(!std::filesystem::is_directory(status), IOError, "read_file", name, ": is a directory");
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  RS_CHECK(in.good(), IOError, "read_file", name, ": cannot open (", std::strerror(errno), ")");
  const std::streamoff size = in.tellg();
  RS_CHECK(size >= 0, IOError, "read_file", name, ": cannot determine the size");
  RS_CHECK(size <= limits.max_file_bytes, FormatError, "read_file", name, ": ", size,
           " bytes, above the limit of ", limits.max_file_bytes);
  std::vector<uint8_t> bytes(static_cast<size_t>(size));
  in.seekg(0);
  if (size > 0) in.read(reinterpret_cast<char*>(bytes.data()), size);
  RS_CHECK(in.good() || (size == 0), IOError, "read_file", name, ": read error");
  return bytes;
}

Image load_image(const std::filesystem::path& path, const DecodeLimits& limits) {
  const std::vector<uint8_t> bytes = read_file(path, limits);
  return decode_image(bytes, path.string(), limits);
}

}  // namespace rscapret::data

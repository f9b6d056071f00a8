// JPEG, PNG and BMP through stb_image (the one STB_IMAGE_IMPLEMENTATION of the project); JPEG only
// when the build has no libjpeg or JpegDecoder::stb is asked for (libjpeg decodes every JPEG,
// CMYK and YCCK included: image_jpeg.cpp).
// stb_image is lenient: it decodes a truncated JPEG or BMP without complaint (the missing part
// becomes grey or black) and ignores PNG checksums. Training on such an image silently is what we
// must avoid, so each format's structure is walked first: the JPEG must reach its EOI marker, every
// PNG chunk must fit and pass its CRC up to IEND, the BMP pixel array must fit in the file.
#include <algorithm>
#include <array>
#include <cstring>
#include <memory>

#include "tensor/error.h"
#include "train/data/image.h"

#define STB_IMAGE_IMPLEMENTATION
#define STBI_NO_STDIO
#define STBI_ONLY_JPEG
#define STBI_ONLY_PNG
#define STBI_ONLY_BMP
#define STBI_MAX_DIMENSIONS (1 << 16)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wall"
#pragma GCC diagnostic ignored "-Wextra"
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#pragma GCC diagnostic ignored "-Wunused-function"
#include <stb/stb_image.h>
#pragma GCC diagnostic pop

namespace rscapret::data::detail {

namespace {

[[noreturn]] void fail(const std::string& name, ImageFormat f, const std::string& why) {
  throw FormatError(cat("[decode_image] ", name, ": corrupt ", image_format_name(f), " (", why, ")"));
}

uint32_t be32(const uint8_t* p) { return (uint32_t(p[0]) << 24) | (p[1] << 16) | (p[2] << 8) | p[3]; }
uint32_t le32(const uint8_t* p) { return p[0] | (p[1] << 8) | (p[2] << 16) | (uint32_t(p[3]) << 24); }
uint16_t le16(const uint8_t* p) { return uint16_t(p[0] | (p[1] << 8)); }

// What the marker walk learned that only matters to stb_image.
struct JpegWalk {
  // A scan decodes with a Huffman table no DHT segment defined before it. libjpeg substitutes the
  // standard tables (Motion-JPEG frames omit them); stb_image (Debian's 2.27) decodes with an
  // all-zero table and reads out of bounds (found by tools/fuzz/fuzz_images.cpp).
  bool undefined_huffman_table = false;
};

// A DHT segment's payload [p, end): one or more tables of (class, id), 16 code counts, the symbols.
void read_huffman_tables(std::span<const uint8_t> b, size_t p, size_t end, bool (&dc)[4], bool (&ac)[4],
                         const std::string& name) {
  while (p < end) {
    if (p + 17 > end) fail(name, ImageFormat::jpeg, "bad Huffman table segment");
    const int table_class = b[p] >> 4, id = b[p] & 15;
    if (table_class > 1 || id > 3) fail(name, ImageFormat::jpeg, "bad Huffman table id");
    size_t symbols = 0;
    for (int i = 1; i <= 16; ++i) symbols += b[p + size_t(i)];
    if (symbols > 256 || p + 17 + symbols > end) fail(name, ImageFormat::jpeg, "bad Huffman table segment");
    (table_class == 0 ? dc : ac)[id] = true;
    p += 17 + symbols;
  }
}

// An SOS header [p, end): whether each component's tables are defined, for the kind of scan it is
// (first DC scans use DC tables, scans with AC coefficients use AC tables; DC refinement neither).
bool scan_tables_defined(std::span<const uint8_t> b, size_t p, size_t end, const bool (&dc)[4], const bool (&ac)[4],
                         const std::string& name) {
  if (p >= end) fail(name, ImageFormat::jpeg, "bad scan header");
  const size_t components = b[p];
  if (components < 1 || components > 4 || p + 1 + 2 * components + 3 > end) fail(name, ImageFormat::jpeg, "bad scan header");
  const size_t tail = p + 1 + 2 * components;
  const int ss = b[tail], se = b[tail + 1], ah = b[tail + 2] >> 4;
  bool defined = true;
  for (size_t c = 0; c < components; ++c) {
    const int td = b[p + 2 + 2 * c] >> 4, ta = b[p + 2 + 2 * c] & 15;
    if (td > 3 || ta > 3) fail(name, ImageFormat::jpeg, "bad Huffman table id in a scan");
    if (ss == 0 && ah == 0 && !dc[td]) defined = false;
    if (se > 0 && !ac[ta]) defined = false;
  }
  return defined;
}

// Walks the marker segments and the entropy-coded data of every scan; throws unless EOI is reached.
JpegWalk check_jpeg_structure(std::span<const uint8_t> b, const std::string& name) {
  const size_t n = b.size();
  JpegWalk walk;
  bool dc[4] = {}, ac[4] = {};  // Huffman tables defined so far
  size_t pos = 2;  // after SOI
  while (true) {
    while (pos < n && b[pos] != 0xFF) ++pos;  // tolerate junk between segments, as libjpeg does
    while (pos < n && b[pos] == 0xFF) ++pos;  // fill bytes
    if (pos >= n) fail(name, ImageFormat::jpeg, "truncated: no end-of-image marker");
    const uint8_t m = b[pos++];
    if (m == 0xD9) return walk;                                // EOI
    if (m == 0x01 || (m >= 0xD0 && m <= 0xD7) || m == 0xD8) continue;  // no length field
    if (pos + 2 > n) fail(name, ImageFormat::jpeg, "truncated inside a marker segment");
    const size_t len = (size_t(b[pos]) << 8) | b[pos + 1];
    if (len < 2) fail(name, ImageFormat::jpeg, "bad segment length");
    if (pos + len > n) fail(name, ImageFormat::jpeg, "truncated inside a marker segment");
    const size_t payload = pos + 2, end = pos + len;
    pos = end;
    if (m == 0xC4) read_huffman_tables(b, payload, end, dc, ac, name);
    if (m == 0xDA) {  // SOS: check its tables, then skip the entropy-coded data up to the next real marker
      if (!scan_tables_defined(b, payload, end, dc, ac, name)) walk.undefined_huffman_table = true;
      while (true) {
        if (pos + 1 >= n) fail(name, ImageFormat::jpeg, "truncated scan data");
        if (b[pos] == 0xFF && b[pos + 1] != 0x00 && b[pos + 1] != 0xFF && !(b[pos + 1] >= 0xD0 && b[pos + 1] <= 0xD7))
          break;
        ++pos;
      }
    }
  }
}

uint32_t crc32_png(const uint8_t* p, size_t n) {
  static const std::array<uint32_t, 256> table = [] {
    std::array<uint32_t, 256> t{};
    for (uint32_t i = 0; i < 256; ++i) {
      uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
      t[i] = c;
    }
    return t;
  }();
  uint32_t c = 0xFFFFFFFFu;
  for (size_t i = 0; i < n; ++i) c = table[(c ^ p[i]) & 0xFF] ^ (c >> 8);
  return c ^ 0xFFFFFFFFu;
}

// Every chunk must fit and match its CRC (as libpng and PIL check), up to IEND.
void check_png_structure(std::span<const uint8_t> b, const std::string& name) {
  size_t pos = 8;
  while (true) {
    if (pos + 12 > b.size()) fail(name, ImageFormat::png, "truncated: no IEND chunk");
    const uint32_t len = be32(&b[pos]);
    if (len > b.size() - pos - 12) fail(name, ImageFormat::png, "truncated chunk");
    const uint8_t* type = &b[pos + 4];
    if (crc32_png(type, size_t(len) + 4) != be32(&b[pos + 8 + len]))
      fail(name, ImageFormat::png, cat("CRC mismatch in chunk '", std::string(reinterpret_cast<const char*>(type), 4), "'"));
    if (std::memcmp(type, "IEND", 4) == 0) return;
    pos += 12 + size_t(len);
  }
}

// The uncompressed pixel array (BI_RGB, BI_BITFIELDS) must fit in the file.
void check_bmp_structure(std::span<const uint8_t> b, const std::string& name) {
  if (b.size() < 30) fail(name, ImageFormat::bmp, "truncated header");
  const uint32_t offset = le32(&b[10]);
  const uint32_t dib = le32(&b[14]);
  int64_t w, h, bpp, compression = 0;
  if (dib == 12) {
    w = le16(&b[18]);
    h = le16(&b[20]);
    bpp = le16(&b[24]);
  } else {
    if (b.size() < 34) fail(name, ImageFormat::bmp, "truncated header");
    w = int32_t(le32(&b[18]));
    h = int32_t(le32(&b[22]));
    bpp = le16(&b[28]);
    compression = le32(&b[30]);
  }
  if (h < 0) h = -h;
  if (compression != 0 && compression != 3) return;  // RLE: stb refuses it anyway
  const int64_t row = ((w * bpp + 31) / 32) * 4;
  if (w <= 0 || bpp <= 0 || int64_t(offset) + row * h > int64_t(b.size()))
    fail(name, ImageFormat::bmp, cat("truncated: the pixel data needs ", int64_t(offset) + row * h,
                                     " bytes, the file has ", b.size()));
}

int checked_len(std::span<const uint8_t> b, const std::string& name) {
  RS_CHECK(b.size() <= size_t(INT32_MAX), FormatError, "decode_image", name, ": file too large for stb_image");
  return int(b.size());
}

// Width and height as stb_image reads them from the header.
ImageInfo stb_header_info(std::span<const uint8_t> bytes, ImageFormat format, const std::string& name) {
  int w = 0, h = 0, comp = 0;
  if (!stbi_info_from_memory(bytes.data(), checked_len(bytes, name), &w, &h, &comp))
    fail(name, format, cat("header: ", stbi_failure_reason() ? stbi_failure_reason() : "unreadable"));
  return {format, w, h};
}

}  // namespace

ImageInfo probe_stb(std::span<const uint8_t> bytes, ImageFormat format, const std::string& name) {
  // PNG: read IHDR ourselves, so that a huge size gets its own message (stb only says "unknown type").
  if (format == ImageFormat::png) {
    if (bytes.size() < 24 || std::memcmp(&bytes[12], "IHDR", 4) != 0) fail(name, format, "no IHDR header");
    const uint32_t w = be32(&bytes[16]), h = be32(&bytes[20]);
    return {format, int(std::min<uint32_t>(w, INT32_MAX)), int(std::min<uint32_t>(h, INT32_MAX))};
  }
  // JPEG: stb_image builds the Huffman tables it meets while reading the header, and Debian's 2.27
  // writes past its arrays for a table with more than 256 symbols: the marker walk checks first.
  if (format == ImageFormat::jpeg) check_jpeg_structure(bytes, name);
  return stb_header_info(bytes, format, name);
}

Image decode_stb(std::span<const uint8_t> bytes, ImageFormat format, const std::string& name,
                 const DecodeLimits& limits) {
  JpegWalk jpeg;
  if (format == ImageFormat::jpeg) jpeg = check_jpeg_structure(bytes, name);  // before stb reads a table
  const ImageInfo info = format == ImageFormat::jpeg ? stb_header_info(bytes, format, name) : probe_stb(bytes, format, name);
  check_dimensions(info.width, info.height, limits, name);
  switch (format) {
    case ImageFormat::jpeg: break;  // walked above
    case ImageFormat::png: check_png_structure(bytes, name); break;
    case ImageFormat::bmp: check_bmp_structure(bytes, name); break;
    default: RS_ASSERT(false, "decode_stb called for ", image_format_name(format));
  }
  if (format == ImageFormat::jpeg) {
    const bool want_libjpeg = limits.jpeg == JpegDecoder::libjpeg ||
                              (limits.jpeg == JpegDecoder::automatic && libjpeg_available());
    RS_CHECK(!want_libjpeg || libjpeg_available(), ValueError, "decode_image",
             "libjpeg was asked for but this build has none (RSCAPRET_LIBJPEG)");
    // libjpeg decodes every JPEG (CMYK and YCCK too) or throws: no fallback to stb_image, whose
    // JPEG decoder has undefined behaviour on corrupt scans.
    if (want_libjpeg) return decode_libjpeg(bytes, name);
    if (jpeg.undefined_huffman_table)
      fail(name, format, "a scan uses a Huffman table that no DHT segment defined; stb_image cannot decode it");
  }
  int w = 0, h = 0, comp = 0;
  std::unique_ptr<stbi_uc, void (*)(void*)> px(
      stbi_load_from_memory(bytes.data(), checked_len(bytes, name), &w, &h, &comp, 3), stbi_image_free);
  if (!px) fail(name, format, stbi_failure_reason() ? stbi_failure_reason() : "decoder error");
  RS_CHECK(w == info.width && h == info.height, FormatError, "decode_image", name,
           ": header and decoder disagree on the size");
  Image img(w, h);
  std::memcpy(img.pixels.data(), px.get(), img.pixels.size());
  return img;
}

}  // namespace rscapret::data::detail

// Small images written by the tests themselves: PNG, BMP and JPEG through stb_image_write, CMYK and
// YCCK JPEG through libjpeg, TIFF through libtiff (strips or tiles, PackBits/LZW/none, grey,
// palette, planar), and a temp folder.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "train/data/image.h"

namespace rscapret::testing {

// Deterministic test pattern, (h, w, channels).
std::vector<uint8_t> pattern(int w, int h, int channels, int salt = 0);

std::vector<uint8_t> encode_png(const std::vector<uint8_t>& px, int w, int h, int channels);
std::vector<uint8_t> encode_bmp(const std::vector<uint8_t>& px, int w, int h, int channels);
std::vector<uint8_t> encode_jpeg(const std::vector<uint8_t>& px, int w, int h, int channels, int quality);

// A 4-component JPEG through libjpeg's encoder (only when the tests found libjpeg:
// RSCAPRET_TEST_HAVE_LIBJPEG). `stored` is (h, w, 4), the bytes libjpeg is given and stores as
// they are: for Adobe's convention, the inverted CMYK (255 - C, ..., 255 - K). No chroma
// subsampling (every sampling factor 1).
struct CmykJpegSpec {
  bool ycck = false;           // YCCK (Adobe transform 2) instead of plain CMYK (transform 0)
  bool adobe_marker = true;    // APP14 "Adobe" segment (libjpeg needs it to recognise YCCK)
  int quality = 100;
};
bool cmyk_jpeg_encoder_available();
std::vector<uint8_t> encode_jpeg_cmyk(const std::vector<uint8_t>& stored, int w, int h, const CmykJpegSpec& spec = {});

struct TiffSpec {
  int width = 0, height = 0;
  int channels = 3;            // samples per pixel
  int photometric = 2;         // PHOTOMETRIC_RGB
  int compression = 1;         // COMPRESSION_NONE
  int bits = 8;
  bool planar_separate = false;
  int rows_per_strip = 0;      // 0: libtiff default
  int tile = 0;                // > 0: tiles of tile x tile
  bool extra_alpha = false;    // the 4th (or 2nd) sample is unassociated alpha
  std::vector<uint16_t> colormap = {};  // palette: 3 * 256 entries (r..., g..., b...)
};
// Interleaved samples (h, w, channels) of `bits` bits (16-bit: native uint16 pairs).
std::vector<uint8_t> encode_tiff(const std::vector<uint8_t>& samples, const TiffSpec& spec);

void write_bytes(const std::filesystem::path& p, const std::vector<uint8_t>& bytes);

// A fresh empty folder under the build tree, removed by the destructor.
struct TempDir {
  explicit TempDir(const std::string& tag);
  ~TempDir();
  std::filesystem::path path;
};

// max |a - b| over bytes of equal-size buffers.
int max_abs_diff(const std::vector<uint8_t>& a, const std::vector<uint8_t>& b);

}  // namespace rscapret::testing

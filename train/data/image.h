// Image decoding for the caption datasets: PNG and BMP through stb_image, JPEG through libjpeg-turbo
// (PIL's decoder, CMYK/YCCK included; stb_image when the build has no libjpeg), TIFF through libtiff.
// The format is decided by the magic bytes, never by the file name. Every decoded image is 8-bit
// RGB, (H, W, 3) row-major; grey and palette images are expanded, alpha is dropped.
//
// Errors (the loader skips the image and counts it; nothing here aborts):
//   IOError      the file is missing or unreadable;
//   FormatError  empty, truncated or corrupt data, an unknown or unsupported format (16-bit TIFF,
//                CMYK TIFF, ...), or dimensions beyond DecodeLimits (checked from the header, before any
//                pixel buffer is allocated).
// Every message starts with "[decode_image] <name>: " where name is the path (or the caller's label).
#pragma once

#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <vector>

namespace rscapret::data {

// (H, W, 3) uint8 RGB.
struct Image {
  int width = 0;
  int height = 0;
  std::vector<uint8_t> pixels;  // height * width * 3

  Image() = default;
  Image(int w, int h) : width(w), height(h), pixels(size_t(w) * size_t(h) * 3) {}
  uint8_t* row(int y) { return pixels.data() + size_t(y) * size_t(width) * 3; }
  const uint8_t* row(int y) const { return pixels.data() + size_t(y) * size_t(width) * 3; }
  bool empty() const { return pixels.empty(); }
};

enum class ImageFormat { unknown, jpeg, png, bmp, tiff };
const char* image_format_name(ImageFormat f);

// From the first bytes: JPEG FF D8 FF, PNG 89 'PNG' 0D 0A 1A 0A, BMP "BM", TIFF "II*\0" / "MM\0*"
// (and BigTIFF "II+\0" / "MM\0+").
ImageFormat detect_image_format(std::span<const uint8_t> bytes);

// Which JPEG decoder: libjpeg(-turbo), PIL's and therefore CLIP's, is bit-identical to PIL on the
// fixtures; stb_image differs by a few levels (IDCT and chroma-upsampling rounding). `automatic`
// takes libjpeg when the build found it (libjpeg_available()), else stb_image. libjpeg turns a CMYK
// or YCCK JPEG into RGB as Pillow's convert("RGB") does (detail::jpeg_cmyk_to_rgb); stb_image does
// the same math for files with an Adobe marker and ignores K without one.
enum class JpegDecoder { automatic, libjpeg, stb };
bool libjpeg_available();

// Refused before allocating: a side above max_side or more than max_pixels pixels. The defaults
// allow a 16k x 16k scene (768 MiB of RGB), far above any caption dataset (<= 500 x 500 px).
struct DecodeLimits {
  int64_t max_side = 16384;
  int64_t max_pixels = int64_t(16384) * 16384;
  int64_t max_file_bytes = int64_t(1) << 30;  // read_file refuses larger files
  JpegDecoder jpeg = JpegDecoder::automatic;  // ValueError when libjpeg is asked for but not built in
};

// Width and height from the header only (no pixel decoding). Same errors as decode_image.
struct ImageInfo {
  ImageFormat format = ImageFormat::unknown;
  int width = 0;
  int height = 0;
};
ImageInfo probe_image(std::span<const uint8_t> bytes, const std::string& name = "<memory>");

// Decodes an in-memory file. `name` is only used in error messages.
Image decode_image(std::span<const uint8_t> bytes, const std::string& name = "<memory>",
                   const DecodeLimits& limits = {});
// Reads and decodes a file.
Image load_image(const std::filesystem::path& path, const DecodeLimits& limits = {});

// The whole file; IOError when missing, unreadable or a directory; FormatError when larger than
// limits.max_file_bytes.
std::vector<uint8_t> read_file(const std::filesystem::path& path, const DecodeLimits& limits = {});

namespace detail {
// Format back ends (image_stb.cpp, image_tiff.cpp); `name` for messages. They throw FormatError.
Image decode_stb(std::span<const uint8_t> bytes, ImageFormat format, const std::string& name,
                 const DecodeLimits& limits);
ImageInfo probe_stb(std::span<const uint8_t> bytes, ImageFormat format, const std::string& name);
Image decode_tiff(std::span<const uint8_t> bytes, const std::string& name, const DecodeLimits& limits);
// libjpeg path (image_jpeg.cpp); the caller has checked the structure and the dimensions. Every
// JPEG libjpeg can read comes back as RGB (never empty); anything else is a FormatError.
Image decode_libjpeg(std::span<const uint8_t> bytes, const std::string& name);
// `pixels` CMYK pixels as a 4-component JPEG stores them (Adobe's inverted convention) -> RGB, with
// Pillow's formula (Image.open(jpeg).convert("RGB")): R = round(s_c * s_k / 255), G and B alike.
// Defined whether or not libjpeg is built in (image_jpeg.cpp).
void jpeg_cmyk_to_rgb(const uint8_t* cmyk, uint8_t* rgb, size_t pixels);
ImageInfo probe_tiff(std::span<const uint8_t> bytes, const std::string& name);
// Throws FormatError when w x h exceeds the limits (or is not positive).
void check_dimensions(int64_t w, int64_t h, const DecodeLimits& limits, const std::string& name);
}  // namespace detail

}  // namespace rscapret::data

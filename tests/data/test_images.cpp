#include "tests/data/test_images.h"

#include <unistd.h>

#include <cstring>
#include <fstream>
#include <stdexcept>

#include <tiffio.h>

#ifdef RSCAPRET_TEST_HAVE_LIBJPEG
#include <cstdio>
#include <cstdlib>

#include <jpeglib.h>
#endif

#define STB_IMAGE_WRITE_IMPLEMENTATION
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wall"
#pragma GCC diagnostic ignored "-Wextra"
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#include <stb/stb_image_write.h>
#pragma GCC diagnostic pop

namespace rscapret::testing {

std::vector<uint8_t> pattern(int w, int h, int channels, int salt) {
  std::vector<uint8_t> px(size_t(w) * h * channels);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x)
      for (int c = 0; c < channels; ++c)
        px[(size_t(y) * w + x) * channels + c] = uint8_t((x * 7 + y * 13 + c * 61 + salt * 29 + ((x ^ y) & 15) * 5) & 255);
  return px;
}

namespace {
void append(void* ctx, void* data, int size) {
  auto* v = static_cast<std::vector<uint8_t>*>(ctx);
  v->insert(v->end(), static_cast<uint8_t*>(data), static_cast<uint8_t*>(data) + size);
}
}  // namespace

std::vector<uint8_t> encode_png(const std::vector<uint8_t>& px, int w, int h, int ch) {
  std::vector<uint8_t> out;
  if (!stbi_write_png_to_func(append, &out, w, h, ch, px.data(), w * ch)) throw std::runtime_error("png write");
  return out;
}
std::vector<uint8_t> encode_bmp(const std::vector<uint8_t>& px, int w, int h, int ch) {
  std::vector<uint8_t> out;
  if (!stbi_write_bmp_to_func(append, &out, w, h, ch, px.data())) throw std::runtime_error("bmp write");
  return out;
}
std::vector<uint8_t> encode_jpeg(const std::vector<uint8_t>& px, int w, int h, int ch, int quality) {
  std::vector<uint8_t> out;
  if (!stbi_write_jpg_to_func(append, &out, w, h, ch, px.data(), quality)) throw std::runtime_error("jpg write");
  return out;
}

#ifdef RSCAPRET_TEST_HAVE_LIBJPEG
bool cmyk_jpeg_encoder_available() { return true; }

// libjpeg's default error handler prints and exits: acceptable for an encoder fed by the tests.
std::vector<uint8_t> encode_jpeg_cmyk(const std::vector<uint8_t>& stored, int w, int h, const CmykJpegSpec& spec) {
  if (stored.size() != size_t(w) * size_t(h) * 4) throw std::runtime_error("encode_jpeg_cmyk: size");
  jpeg_compress_struct c;
  jpeg_error_mgr err;
  c.err = jpeg_std_error(&err);
  jpeg_create_compress(&c);
  unsigned char* buf = nullptr;
  unsigned long size = 0;
  jpeg_mem_dest(&c, &buf, &size);
  c.image_width = JDIMENSION(w);
  c.image_height = JDIMENSION(h);
  c.input_components = 4;
  c.in_color_space = JCS_CMYK;
  jpeg_set_defaults(&c);
  jpeg_set_colorspace(&c, spec.ycck ? JCS_YCCK : JCS_CMYK);  // writes the Adobe marker
  if (!spec.adobe_marker) c.write_Adobe_marker = FALSE;
  for (int i = 0; i < c.num_components; ++i) c.comp_info[i].h_samp_factor = c.comp_info[i].v_samp_factor = 1;
  jpeg_set_quality(&c, spec.quality, TRUE);
  jpeg_start_compress(&c, TRUE);
  while (c.next_scanline < c.image_height) {
    JSAMPROW row = const_cast<uint8_t*>(stored.data()) + size_t(c.next_scanline) * size_t(w) * 4;
    jpeg_write_scanlines(&c, &row, 1);
  }
  jpeg_finish_compress(&c);
  std::vector<uint8_t> out(buf, buf + size);
  jpeg_destroy_compress(&c);
  std::free(buf);
  return out;
}
#else
bool cmyk_jpeg_encoder_available() { return false; }
std::vector<uint8_t> encode_jpeg_cmyk(const std::vector<uint8_t>&, int, int, const CmykJpegSpec&) {
  throw std::runtime_error("encode_jpeg_cmyk: the tests were built without libjpeg");
}
#endif

std::vector<uint8_t> encode_tiff(const std::vector<uint8_t>& samples, const TiffSpec& s) {
  char tmpl[] = "/tmp/rscapret_test_tiff_XXXXXX";
  const int fd = mkstemp(tmpl);
  if (fd < 0) throw std::runtime_error("mkstemp");
  close(fd);
  TIFF* t = TIFFOpen(tmpl, "w");
  if (!t) throw std::runtime_error("TIFFOpen");
  TIFFSetField(t, TIFFTAG_IMAGEWIDTH, uint32_t(s.width));
  TIFFSetField(t, TIFFTAG_IMAGELENGTH, uint32_t(s.height));
  TIFFSetField(t, TIFFTAG_SAMPLESPERPIXEL, uint16_t(s.channels));
  TIFFSetField(t, TIFFTAG_BITSPERSAMPLE, uint16_t(s.bits));
  TIFFSetField(t, TIFFTAG_PHOTOMETRIC, uint16_t(s.photometric));
  TIFFSetField(t, TIFFTAG_COMPRESSION, uint16_t(s.compression));
  TIFFSetField(t, TIFFTAG_PLANARCONFIG, uint16_t(s.planar_separate ? PLANARCONFIG_SEPARATE : PLANARCONFIG_CONTIG));
  if (s.extra_alpha) {
    uint16_t extra = EXTRASAMPLE_UNASSALPHA;
    TIFFSetField(t, TIFFTAG_EXTRASAMPLES, uint16_t(1), &extra);
  }
  if (!s.colormap.empty())
    TIFFSetField(t, TIFFTAG_COLORMAP, s.colormap.data(), s.colormap.data() + 256, s.colormap.data() + 512);
  const int bps = s.bits / 8;
  const int nplanes = s.planar_separate ? s.channels : 1;
  const int per_px = s.planar_separate ? 1 : s.channels;
  // One plane of (h, w, per_px) samples.
  auto plane_of = [&](int p) {
    std::vector<uint8_t> out(size_t(s.width) * s.height * per_px * bps);
    for (size_t i = 0; i < size_t(s.width) * s.height; ++i)
      for (int c = 0; c < per_px; ++c)
        std::memcpy(&out[(i * per_px + c) * bps], &samples[(i * s.channels + (s.planar_separate ? p : c)) * bps], bps);
    return out;
  };
  if (s.tile > 0) {
    TIFFSetField(t, TIFFTAG_TILEWIDTH, uint32_t(s.tile));
    TIFFSetField(t, TIFFTAG_TILELENGTH, uint32_t(s.tile));
    std::vector<uint8_t> buf(size_t(s.tile) * s.tile * per_px * bps);
    for (int p = 0; p < nplanes; ++p) {
      const auto plane = plane_of(p);
      for (int y0 = 0; y0 < s.height; y0 += s.tile)
        for (int x0 = 0; x0 < s.width; x0 += s.tile) {
          std::fill(buf.begin(), buf.end(), 0);
          for (int y = y0; y < std::min(s.height, y0 + s.tile); ++y)
            for (int x = x0; x < std::min(s.width, x0 + s.tile); ++x)
              std::memcpy(&buf[((size_t(y - y0) * s.tile + (x - x0)) * per_px) * bps],
                          &plane[((size_t(y) * s.width + x) * per_px) * bps], size_t(per_px) * bps);
          TIFFWriteTile(t, buf.data(), uint32_t(x0), uint32_t(y0), 0, uint16_t(p));
        }
    }
  } else {
    TIFFSetField(t, TIFFTAG_ROWSPERSTRIP, s.rows_per_strip > 0 ? uint32_t(s.rows_per_strip) : TIFFDefaultStripSize(t, 0));
    for (int p = 0; p < nplanes; ++p) {
      auto plane = plane_of(p);
      const size_t row = size_t(s.width) * per_px * bps;
      for (int y = 0; y < s.height; ++y) TIFFWriteScanline(t, &plane[y * row], uint32_t(y), uint16_t(p));
    }
  }
  TIFFClose(t);
  std::ifstream in(tmpl, std::ios::binary);
  std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::filesystem::remove(tmpl);
  return bytes;
}

void write_bytes(const std::filesystem::path& p, const std::vector<uint8_t>& bytes) {
  std::ofstream out(p, std::ios::binary);
  out.write(reinterpret_cast<const char*>(bytes.data()), std::streamsize(bytes.size()));
}

TempDir::TempDir(const std::string& tag) {
  path = std::filesystem::path(RSCAPRET_BINARY_DIR) / "test_tmp" / (tag + "_" + std::to_string(getpid()));
  std::filesystem::remove_all(path);
  std::filesystem::create_directories(path);
}
TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path, ec);
}

int max_abs_diff(const std::vector<uint8_t>& a, const std::vector<uint8_t>& b) {
  if (a.size() != b.size()) return 1 << 30;
  int m = 0;
  for (size_t i = 0; i < a.size(); ++i) m = std::max(m, std::abs(int(a[i]) - int(b[i])));
  return m;
}

}  // namespace rscapret::testing

// TIFF through libtiff, read from memory with per-handle error handlers (libtiff >= 4.5), so that
// messages end up in our exception and never on stderr, and concurrent decoders do not share state.
// Supported: 8-bit unsigned samples; strips or tiles; contiguous or separate planes; any
// compression libtiff was built with (none, PackBits, LZW, Deflate, JPEG, ...); photometric
// MinIsBlack / MinIsWhite (grey, + alpha), RGB (+ alpha or extra samples), Palette, and YCbCr when
// JPEG-compressed (libtiff converts it to RGB). Only the first directory (page) is read.
// Like PIL (which CLIP's preprocessing uses), the Orientation tag is ignored, extra samples are
// dropped without compositing, and a palette's 16-bit entries are scaled by >> 8.
#include <algorithm>
#include <cstdarg>
#include <cstring>
#include <memory>

#include <tiffio.h>

#include "tensor/error.h"
#include "train/data/image.h"

namespace rscapret::data::detail {

namespace {

struct MemStream {
  const uint8_t* data;
  uint64_t size;
  uint64_t pos = 0;
  std::string error;  // the first libtiff error message
};

tmsize_t mem_read(thandle_t h, void* buf, tmsize_t n) {
  auto* s = static_cast<MemStream*>(h);
  if (n <= 0 || s->pos >= s->size) return 0;
  const uint64_t k = std::min<uint64_t>(uint64_t(n), s->size - s->pos);
  std::memcpy(buf, s->data + s->pos, k);
  s->pos += k;
  return tmsize_t(k);
}
tmsize_t mem_write(thandle_t, void*, tmsize_t) { return -1; }
toff_t mem_seek(thandle_t h, toff_t off, int whence) {
  auto* s = static_cast<MemStream*>(h);
  uint64_t base = whence == SEEK_SET ? 0 : whence == SEEK_CUR ? s->pos : s->size;
  // toff_t is unsigned: a negative relative offset arrives as a wrapped value.
  const uint64_t target = base + uint64_t(off);
  if (whence != SEEK_SET && int64_t(off) < 0 && uint64_t(-int64_t(off)) > base) return toff_t(-1);
  s->pos = target;
  return s->pos;
}
int mem_close(thandle_t) { return 0; }
toff_t mem_size(thandle_t h) { return static_cast<MemStream*>(h)->size; }
int mem_map(thandle_t, void**, toff_t*) { return 0; }
void mem_unmap(thandle_t, void*, toff_t) {}

int on_error(TIFF*, void* user, const char* module, const char* fmt, va_list ap) {
  auto* s = static_cast<MemStream*>(user);
  if (s->error.empty()) {
    char buf[512];
    std::vsnprintf(buf, sizeof buf, fmt, ap);
    s->error = module ? cat(module, ": ", buf) : std::string(buf);
  }
  return 1;  // handled: libtiff does not print it
}
int on_warning(TIFF*, void*, const char*, const char*, va_list) { return 1; }  // unknown tags etc.

struct TiffCloser {
  void operator()(TIFF* t) const { TIFFClose(t); }
};

// Opens the buffer; the stream must outlive the handle.
std::unique_ptr<TIFF, TiffCloser> open_tiff(MemStream& s, const std::string& name, int64_t max_alloc) {
  TIFFOpenOptions* opts = TIFFOpenOptionsAlloc();
  TIFFOpenOptionsSetErrorHandlerExtR(opts, on_error, &s);
  TIFFOpenOptionsSetWarningHandlerExtR(opts, on_warning, &s);
  TIFFOpenOptionsSetMaxSingleMemAlloc(opts, tmsize_t(max_alloc));
  // "m": no memory mapping (the mapped path would hand libtiff a const buffer as writable).
  TIFF* t = TIFFClientOpenExt(name.c_str(), "rm", &s, mem_read, mem_write, mem_seek, mem_close, mem_size,
                              mem_map, mem_unmap, opts);
  TIFFOpenOptionsFree(opts);
  if (!t)
    throw FormatError(cat("[decode_image] ", name, ": corrupt TIFF (", s.error.empty() ? "cannot open" : s.error, ")"));
  return std::unique_ptr<TIFF, TiffCloser>(t);
}

[[noreturn]] void fail(const std::string& name, const MemStream& s, const std::string& what) {
  throw FormatError(cat("[decode_image] ", name, ": ", what, s.error.empty() ? "" : cat(" (", s.error, ")")));
}

}  // namespace

ImageInfo probe_tiff(std::span<const uint8_t> bytes, const std::string& name) {
  MemStream s{bytes.data(), bytes.size(), 0, {}};
  auto tif = open_tiff(s, name, int64_t(256) << 20);
  uint32_t w = 0, h = 0;
  if (!TIFFGetField(tif.get(), TIFFTAG_IMAGEWIDTH, &w) || !TIFFGetField(tif.get(), TIFFTAG_IMAGELENGTH, &h))
    fail(name, s, "corrupt TIFF: no ImageWidth/ImageLength");
  return {ImageFormat::tiff, int(std::min<uint32_t>(w, INT32_MAX)), int(std::min<uint32_t>(h, INT32_MAX))};
}

Image decode_tiff(std::span<const uint8_t> bytes, const std::string& name, const DecodeLimits& limits) {
  MemStream s{bytes.data(), bytes.size(), 0, {}};
  // libtiff's own allocations (a strip, a tile) stay below a decoded image's size.
  auto tif_handle = open_tiff(s, name, std::max<int64_t>(int64_t(64) << 20, limits.max_pixels * 4));
  TIFF* tif = tif_handle.get();

  uint32_t w = 0, h = 0;
  if (!TIFFGetField(tif, TIFFTAG_IMAGEWIDTH, &w) || !TIFFGetField(tif, TIFFTAG_IMAGELENGTH, &h))
    fail(name, s, "corrupt TIFF: no ImageWidth/ImageLength");
  check_dimensions(w, h, limits, name);

  uint16_t spp = 1, bps = 1, planar = PLANARCONFIG_CONTIG, sample_format = SAMPLEFORMAT_UINT, photometric = 0;
  uint16_t compression = COMPRESSION_NONE;
  TIFFGetFieldDefaulted(tif, TIFFTAG_SAMPLESPERPIXEL, &spp);
  TIFFGetFieldDefaulted(tif, TIFFTAG_BITSPERSAMPLE, &bps);
  TIFFGetFieldDefaulted(tif, TIFFTAG_PLANARCONFIG, &planar);
  TIFFGetFieldDefaulted(tif, TIFFTAG_SAMPLEFORMAT, &sample_format);
  TIFFGetFieldDefaulted(tif, TIFFTAG_COMPRESSION, &compression);
  if (!TIFFGetField(tif, TIFFTAG_PHOTOMETRIC, &photometric))
    photometric = spp >= 3 ? PHOTOMETRIC_RGB : PHOTOMETRIC_MINISBLACK;  // PIL guesses the same way

  if (bps != 8 || sample_format != SAMPLEFORMAT_UINT)
    fail(name, s, cat("unsupported TIFF: ", bps, "-bit samples of format ", sample_format,
                      " (only 8-bit unsigned samples are supported)"));
  if (photometric == PHOTOMETRIC_YCBCR && compression == COMPRESSION_JPEG) {
    TIFFSetField(tif, TIFFTAG_JPEGCOLORMODE, JPEGCOLORMODE_RGB);
    photometric = PHOTOMETRIC_RGB;
  }
  const bool grey = photometric == PHOTOMETRIC_MINISBLACK || photometric == PHOTOMETRIC_MINISWHITE;
  const bool rgb = photometric == PHOTOMETRIC_RGB;
  const bool palette = photometric == PHOTOMETRIC_PALETTE;
  if (!(grey || rgb || palette))
    fail(name, s, cat("unsupported TIFF: photometric interpretation ", photometric,
                      " (supported: grey, RGB, palette, JPEG-compressed YCbCr)"));
  if ((rgb && spp < 3) || ((grey || palette) && spp < 1))
    fail(name, s, cat("corrupt TIFF: ", spp, " samples per pixel for photometric ", photometric));
  uint16_t *cmap_r = nullptr, *cmap_g = nullptr, *cmap_b = nullptr;
  if (palette && !TIFFGetField(tif, TIFFTAG_COLORMAP, &cmap_r, &cmap_g, &cmap_b))
    fail(name, s, "corrupt TIFF: palette image without a colormap");

  // Samples into planes[plane] (contiguous: one plane of w*h*spp bytes).
  const bool separate = planar == PLANARCONFIG_SEPARATE && spp > 1;
  const int64_t stride = separate ? 1 : spp;  // bytes per pixel in a plane
  const int used_planes = separate ? std::min<int>(spp, rgb ? 3 : 1) : 1;
  std::vector<std::vector<uint8_t>> planes(used_planes, std::vector<uint8_t>(size_t(w) * h * stride));
  const int64_t row_bytes = int64_t(w) * stride;

  if (TIFFIsTiled(tif)) {
    uint32_t tw = 0, th = 0;
    if (!TIFFGetField(tif, TIFFTAG_TILEWIDTH, &tw) || !TIFFGetField(tif, TIFFTAG_TILELENGTH, &th) || tw == 0 || th == 0)
      fail(name, s, "corrupt TIFF: bad tile size");
    const tmsize_t tile_size = TIFFTileSize(tif);
    if (tile_size <= 0 || int64_t(tile_size) < int64_t(tw) * th * stride) fail(name, s, "corrupt TIFF: bad tile size");
    std::vector<uint8_t> buf(static_cast<size_t>(tile_size));
    for (int p = 0; p < used_planes; ++p)
      for (uint32_t y0 = 0; y0 < h; y0 += th)
        for (uint32_t x0 = 0; x0 < w; x0 += tw) {
          const uint32_t tile = TIFFComputeTile(tif, x0, y0, 0, uint16_t(p));
          if (TIFFReadEncodedTile(tif, tile, buf.data(), tile_size) < 0)
            fail(name, s, cat("corrupt TIFF: cannot read tile ", tile));
          const uint32_t rows = std::min(th, h - y0), cols = std::min(tw, w - x0);
          for (uint32_t r = 0; r < rows; ++r)
            std::memcpy(planes[p].data() + (int64_t(y0) + r) * row_bytes + int64_t(x0) * stride,
                        buf.data() + int64_t(r) * tw * stride, size_t(cols) * stride);
        }
  } else {
    uint32_t rps = h;
    TIFFGetFieldDefaulted(tif, TIFFTAG_ROWSPERSTRIP, &rps);
    rps = std::clamp<uint32_t>(rps, 1, h);
    for (int p = 0; p < used_planes; ++p)
      for (uint32_t y0 = 0; y0 < h; y0 += rps) {
        const uint32_t strip = TIFFComputeStrip(tif, y0, uint16_t(p));
        const uint32_t rows = std::min(rps, h - y0);
        const tmsize_t want = tmsize_t(rows) * row_bytes;
        // Decoded straight into the image: libtiff writes at most `want` bytes.
        const tmsize_t got = TIFFReadEncodedStrip(tif, strip, planes[p].data() + int64_t(y0) * row_bytes, want);
        if (got < 0) fail(name, s, cat("corrupt TIFF: cannot read strip ", strip));
        if (got < want) fail(name, s, cat("corrupt TIFF: strip ", strip, " holds ", got, " of ", want, " bytes"));
      }
  }

  Image img(static_cast<int>(w), static_cast<int>(h));
  const size_t npx = size_t(w) * h;
  uint8_t* out = img.pixels.data();
  if (rgb) {
    if (separate) {
      for (size_t i = 0; i < npx; ++i)
        for (int c = 0; c < 3; ++c) out[3 * i + c] = planes[c][i];
    } else {
      const uint8_t* in = planes[0].data();
      for (size_t i = 0; i < npx; ++i)
        for (int c = 0; c < 3; ++c) out[3 * i + c] = in[i * stride + c];
    }
  } else {
    const uint8_t* in = planes[0].data();
    for (size_t i = 0; i < npx; ++i) {
      const uint8_t v = in[i * stride];
      if (palette) {
        out[3 * i + 0] = uint8_t(cmap_r[v] >> 8);
        out[3 * i + 1] = uint8_t(cmap_g[v] >> 8);
        out[3 * i + 2] = uint8_t(cmap_b[v] >> 8);
      } else {
        const uint8_t g = photometric == PHOTOMETRIC_MINISWHITE ? uint8_t(255 - v) : v;
        out[3 * i + 0] = out[3 * i + 1] = out[3 * i + 2] = g;
      }
    }
  }
  return img;
}

}  // namespace rscapret::data::detail

// JPEG through libjpeg(-turbo), the decoder PIL uses: with its defaults (ISLOW IDCT, fancy chroma
// upsampling) the pixels are PIL's, bit for bit. Fatal errors come back through longjmp (the
// documented libjpeg way); no C++ object is created between setjmp and the libjpeg calls, so none
// is skipped. Warnings ("extraneous bytes before marker", ...) are ignored, as PIL ignores them;
// truncation was already refused by the structure check in image_stb.cpp.
// CMYK and YCCK files (4 components) are decoded here too: libjpeg gives CMYK (it converts YCCK
// itself) and jpeg_cmyk_to_rgb turns that into RGB with Pillow's formula. So every JPEG goes
// through libjpeg when it is built in; stb_image (whose decoder misbehaves on corrupt scans) is
// never reached for one.
#include "tensor/error.h"
#include "train/data/image.h"

#ifdef RSCAPRET_HAVE_LIBJPEG
#include <csetjmp>
#include <cstdio>

#include <jpeglib.h>
#endif

namespace rscapret::data {

bool libjpeg_available() {
#ifdef RSCAPRET_HAVE_LIBJPEG
  return true;
#else
  return false;
#endif
}

namespace detail {

// What Pillow gives for Image.open(cmyk_jpeg).convert("RGB"), byte for byte:
//  * JpegImagePlugin reads every 4-component JPEG with rawmode "CMYK;I" ("assume adobe
//    conventions"; no test of the Adobe marker, since 2009), i.e. it inverts the stored
//    bytes: C = 255 - s_c, ..., K = 255 - s_k. Adobe (Photoshop) writes CMYK JPEGs inverted, and
//    libjpeg's YCCK -> CMYK conversion gives back those same stored bytes;
//  * Convert.c cmyk2rgb: nk = 255 - K; R = CLIP8(nk - MULDIV255(C, nk)), the same for G (M) and
//    B (Y), with MULDIV255(a, b) = (t = a * b + 128, ((t >> 8) + t) >> 8), a*b/255 rounded.
// In stored bytes that is R = s_k - round((255 - s_c) * s_k / 255) = round(s_c * s_k / 255), what
// stb_image computes too (stbi__blinn_8x8). CLIP8 never clips (the product is at most nk) but
// stays, as in Pillow.
void jpeg_cmyk_to_rgb(const uint8_t* cmyk, uint8_t* rgb, size_t pixels) {
  const auto muldiv255 = [](int a, int b) {
    const int t = a * b + 128;
    return ((t >> 8) + t) >> 8;
  };
  const auto clip8 = [](int v) { return uint8_t(v < 0 ? 0 : v > 255 ? 255 : v); };
  for (size_t i = 0; i < pixels; ++i) {
    const uint8_t* in = cmyk + 4 * i;
    const int nk = in[3];  // 255 - K, with K = 255 - s_k
    for (int c = 0; c < 3; ++c) rgb[3 * i + size_t(c)] = clip8(nk - muldiv255(255 - in[c], nk));
  }
}

#ifdef RSCAPRET_HAVE_LIBJPEG
namespace {

struct ErrorManager {
  jpeg_error_mgr pub;
  std::jmp_buf jump;
  char message[JMSG_LENGTH_MAX];
};

void on_error_exit(j_common_ptr c) {
  auto* e = reinterpret_cast<ErrorManager*>(c->err);
  (*c->err->format_message)(c, e->message);
  std::longjmp(e->jump, 1);
}
void on_message(j_common_ptr, int) {}  // warnings and traces: silent

// Returns true on success, false on a libjpeg error (message in err). `out` (RGB) and `cmyk_row`
// (one row of a 4-component file) are sized here; they belong to the caller, so longjmp skips no
// destructor.
bool decode_into(const uint8_t* data, size_t size, ErrorManager& err, std::vector<uint8_t>& out,
                 std::vector<uint8_t>& cmyk_row, int& w, int& h) {
  jpeg_decompress_struct cinfo;
  cinfo.err = jpeg_std_error(&err.pub);
  err.pub.error_exit = on_error_exit;
  err.pub.emit_message = on_message;
  if (setjmp(err.jump)) {
    jpeg_destroy_decompress(&cinfo);
    return false;
  }
  jpeg_create_decompress(&cinfo);
  jpeg_mem_src(&cinfo, data, static_cast<unsigned long>(size));
  jpeg_read_header(&cinfo, TRUE);
  // 4 components: CMYK out (libjpeg converts YCCK), RGB by Pillow's formula. Anything else: RGB
  // from libjpeg, which refuses a colour space it cannot convert (an error, through longjmp).
  const bool cmyk = cinfo.jpeg_color_space == JCS_CMYK || cinfo.jpeg_color_space == JCS_YCCK;
  cinfo.out_color_space = cmyk ? JCS_CMYK : JCS_RGB;
  jpeg_start_decompress(&cinfo);
  w = int(cinfo.output_width);
  h = int(cinfo.output_height);
  out.resize(size_t(w) * size_t(h) * 3);
  if (cmyk) cmyk_row.resize(size_t(w) * 4);
  while (cinfo.output_scanline < cinfo.output_height) {
    uint8_t* rgb = out.data() + size_t(cinfo.output_scanline) * size_t(w) * 3;
    JSAMPROW row = cmyk ? cmyk_row.data() : rgb;
    if (jpeg_read_scanlines(&cinfo, &row, 1) != 1) break;  // cannot happen with a memory source
    if (cmyk) jpeg_cmyk_to_rgb(cmyk_row.data(), rgb, size_t(w));
  }
  jpeg_finish_decompress(&cinfo);
  jpeg_destroy_decompress(&cinfo);
  return true;
}

}  // namespace

Image decode_libjpeg(std::span<const uint8_t> bytes, const std::string& name) {
  ErrorManager err;
  Image img;
  std::vector<uint8_t> cmyk_row;
  int w = 0, h = 0;
  if (!decode_into(bytes.data(), bytes.size(), err, img.pixels, cmyk_row, w, h))
    throw FormatError(cat("[decode_image] ", name, ": corrupt JPEG (", err.message, ")"));
  img.width = w;
  img.height = h;
  return img;
}
#else
Image decode_libjpeg(std::span<const uint8_t>, const std::string& name) {
  throw ValueError(cat("[decode_image] ", name, ": libjpeg is not built in"));
}
#endif

}  // namespace detail
}  // namespace rscapret::data

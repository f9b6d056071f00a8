// JPEG through libjpeg(-turbo), the decoder PIL uses: with its defaults (ISLOW IDCT, fancy chroma
// upsampling) the pixels are PIL's, bit for bit. Fatal errors come back through longjmp (the
// documented libjpeg way); no C++ object is created between setjmp and the libjpeg calls, so none
// is skipped. Warnings ("extraneous bytes before marker", ...) are ignored, as PIL ignores them;
// truncation was already refused by the structure check in image_stb.cpp.
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

// Returns 0 on success, 1 on a libjpeg error (message in err), 2 for a colour space it cannot
// convert to RGB. `out` is sized here; it belongs to the caller, so longjmp skips no destructor.
int decode_into(const uint8_t* data, size_t size, ErrorManager& err, std::vector<uint8_t>& out, int& w, int& h) {
  jpeg_decompress_struct cinfo;
  cinfo.err = jpeg_std_error(&err.pub);
  err.pub.error_exit = on_error_exit;
  err.pub.emit_message = on_message;
  if (setjmp(err.jump)) {
    jpeg_destroy_decompress(&cinfo);
    return 1;
  }
  jpeg_create_decompress(&cinfo);
  jpeg_mem_src(&cinfo, data, static_cast<unsigned long>(size));
  jpeg_read_header(&cinfo, TRUE);
  if (cinfo.jpeg_color_space == JCS_CMYK || cinfo.jpeg_color_space == JCS_YCCK) {
    jpeg_destroy_decompress(&cinfo);
    return 2;
  }
  cinfo.out_color_space = JCS_RGB;
  jpeg_start_decompress(&cinfo);
  w = int(cinfo.output_width);
  h = int(cinfo.output_height);
  out.resize(size_t(w) * size_t(h) * 3);
  while (cinfo.output_scanline < cinfo.output_height) {
    JSAMPROW row = out.data() + size_t(cinfo.output_scanline) * size_t(w) * 3;
    jpeg_read_scanlines(&cinfo, &row, 1);
  }
  jpeg_finish_decompress(&cinfo);
  jpeg_destroy_decompress(&cinfo);
  return 0;
}

}  // namespace

Image decode_libjpeg(std::span<const uint8_t> bytes, const std::string& name) {
  ErrorManager err;
  Image img;
  int w = 0, h = 0;
  const int rc = decode_into(bytes.data(), bytes.size(), err, img.pixels, w, h);
  if (rc == 1) throw FormatError(cat("[decode_image] ", name, ": corrupt JPEG (", err.message, ")"));
  if (rc == 2) return Image();
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

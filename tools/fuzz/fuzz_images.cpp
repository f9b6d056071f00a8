// libFuzzer target: image decoding (PNG/BMP through stb_image, JPEG through libjpeg-turbo and
// stb_image, TIFF through libtiff) on arbitrary bytes, with small limits so a forged header cannot
// ask for gigabytes. Any rscapret::Error is an accepted rejection; a crash, sanitizer report, other
// exception, or a decoded image whose size disagrees with its header is a bug.
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "tensor/error.h"
#include "train/data/image.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace rscapret;
  data::DecodeLimits limits;
  limits.max_side = 2048;
  limits.max_pixels = int64_t(1) << 22;
  int probed_w = -1, probed_h = -1;
  try {
    const data::ImageInfo info = data::probe_image({data, size}, "fuzz");
    probed_w = info.width;
    probed_h = info.height;
  } catch (const Error&) {
  }
  for (data::JpegDecoder jpeg : {data::JpegDecoder::stb, data::JpegDecoder::automatic}) {
    limits.jpeg = jpeg;
    try {
      const data::Image img = data::decode_image({data, size}, "fuzz", limits);
      if (img.width <= 0 || img.height <= 0 || img.width > limits.max_side || img.height > limits.max_side) std::abort();
      if (img.pixels.size() != size_t(img.width) * size_t(img.height) * 3) std::abort();
      // The header read alone must agree with the decoded image.
      if (probed_w >= 0 && (probed_w != img.width || probed_h != img.height)) std::abort();
      unsigned sum = 0;
      for (uint8_t v : img.pixels) sum += v;  // touch every byte: ASan sees a short buffer
      volatile unsigned sink = sum;
      (void)sink;
    } catch (const Error&) {
    }
  }
  return 0;
}

// The one place that compiles stb_image_write (Debian libstb-dev).
#define STB_IMAGE_WRITE_IMPLEMENTATION
#include <stb/stb_image_write.h>

#include "synth/dataset.h"
#include "tensor/error.h"

namespace rscapret::synth {

void write_png(const std::string& path, const std::vector<uint8_t>& rgb, int size) {
  RS_ASSERT(rgb.size() == size_t(size) * size * 3, "write_png: ", rgb.size(), " bytes for ", size, " px");
  if (!stbi_write_png(path.c_str(), size, size, 3, rgb.data(), size * 3))
    throw IOError(cat("[synth] cannot write ", path));
}

}  // namespace rscapret::synth

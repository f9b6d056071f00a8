// libFuzzer target: the safetensors header parser and validator on arbitrary bytes.
// Any rscapret::Error is an accepted rejection; a crash, sanitizer report, other exception or
// an accepted header that points outside the input is a bug.
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "tensor/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace rscapret;
  try {
    const SafetensorsHeader h = parse_safetensors({data, size}, "fuzz");
    // Check the promise readers rely on: every accepted tensor lies inside the input and has
    // exactly shape x dtype bytes. Touch its bytes so ASan sees any out-of-range access.
    unsigned sum = 0;
    for (const auto& e : h.entries) {
      if (h.data_start > size || e.end > size - h.data_start || e.begin > e.end) std::abort();
      if (uint64_t(shape_numel(e.shape)) * dtype_size(e.dtype) != e.end - e.begin) std::abort();
      for (uint64_t i = e.begin; i < e.end; ++i) sum += data[h.data_start + i];
    }
    volatile unsigned sink = sum;
    (void)sink;
  } catch (const Error&) {
  }
  return 0;
}

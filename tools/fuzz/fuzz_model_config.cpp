// libFuzzer target: Hugging Face config.json parsing (CLIP and LLaMA) on arbitrary text. Any
// rscapret::Error is an accepted rejection (malformed JSON and wrong value types included); a
// crash, sanitizer report or other exception (a JSON library error escaping, say) is a bug. Sizes
// that cannot build a model are the model constructors' to refuse, with their own errors.
#include <cstddef>
#include <cstdint>
#include <string>

#include "models/config/model_config.h"
#include "tensor/error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace rscapret;
  try {
    const models::ModelConfig c = models::parse_model_config(std::string(reinterpret_cast<const char*>(data), size), "fuzz");
    volatile bool clip = c.is_clip();
    (void)clip;
  } catch (const Error&) {
  }
  return 0;
}

// libFuzzer target: the Karpathy-format caption dataset parser (dataset_*.json) on arbitrary text.
// Any rscapret::Error is an accepted rejection (malformed JSON included: the parser must turn
// JSON errors into its own); a crash, sanitizer report or other exception is a bug, and so is an
// accepted dataset with an image that has no caption or an empty file name.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "tensor/error.h"
#include "train/data/caption_dataset.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace rscapret;
  const std::string text(reinterpret_cast<const char*>(data), size);
  try {
    const data::CaptionDataset ds = data::CaptionDataset::parse(text, "/images", "fuzz");
    for (const data::CaptionSample& s : ds.samples()) {
      if (s.captions.empty() || s.image_path.filename().empty()) std::abort();
    }
    (void)ds.expand_captions();
    (void)ds.count_by_split();
  } catch (const Error&) {
  }
  return 0;
}

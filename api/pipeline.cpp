#include "api/pipeline.h"

#include <algorithm>
#include <cctype>
#include <cstring>

#include "autograd/autograd.h"
#include "tensor/error.h"
#include "train/data/clip_preprocess.h"
#include "train/data/image.h"

namespace rscapret::api {
namespace fs = std::filesystem;

std::string ImageInput::name() const {
  switch (kind) {
    case Kind::file: return path.string();
    case Kind::encoded: return "<encoded image>";
    case Kind::rgb8: return "<rgb image>";
  }
  return "<image>";
}

namespace {

data::Image rgb8_image(const ImageInput& in) {
  const data::DecodeLimits limits;
  const std::string what = in.name();
  RS_CHECK(in.width > 0 && in.height > 0, ValueError, "image", what, ": width and height must be positive, got ",
           in.width, " x ", in.height);
  RS_CHECK(in.width <= limits.max_side && in.height <= limits.max_side &&
               int64_t(in.width) * in.height <= limits.max_pixels,
           ValueError, "image", what, ": ", in.width, " x ", in.height, " is larger than the limit (",
           limits.max_side, " px a side)");
  const size_t row_bytes = size_t(in.width) * 3;
  const size_t stride = in.row_stride == 0 ? row_bytes : in.row_stride;
  RS_CHECK(stride >= row_bytes, ValueError, "image", what, ": row stride ", stride, " is below width * 3 = ",
           row_bytes);
  RS_CHECK(in.data != nullptr, ValueError, "image", what, ": no pixel data");
  // The last row needs only its own bytes, not a whole stride: (h - 1) stride + row_bytes <= size,
  // tested by division so that a huge stride cannot wrap the product around.
  const size_t rows_before_last = size_t(in.height) - 1;
  const bool fits = in.size >= row_bytes && (rows_before_last == 0 || stride <= (in.size - row_bytes) / rows_before_last);
  RS_CHECK(fits, ValueError, "image", what, ": ", in.size, " bytes given; ", in.width, " x ", in.height,
           " pixels with rows ", stride, " bytes apart need more (", row_bytes, " for the last row)");
  data::Image img(in.width, in.height);
  for (int y = 0; y < in.height; ++y) std::memcpy(img.row(y), in.data + size_t(y) * stride, row_bytes);
  return img;
}

data::Image decode_input(const ImageInput& in) {
  switch (in.kind) {
    case ImageInput::Kind::file: return data::load_image(in.path);
    case ImageInput::Kind::encoded:
      RS_CHECK(in.data != nullptr || in.size == 0, ValueError, "image", in.name(), ": no data");
      return data::decode_image(std::span<const uint8_t>(in.data, in.size), in.name());
    case ImageInput::Kind::rgb8: return rgb8_image(in);
  }
  throw ValueError("[image] unknown image kind");
}

// [n, 3, S, S] of pixels[i0, i0 + n).
Tensor stack_range(const std::vector<Tensor>& pixels, size_t i0, size_t n) {
  return data::stack_images(std::vector<Tensor>(pixels.begin() + ptrdiff_t(i0), pixels.begin() + ptrdiff_t(i0 + n)));
}

void check_batch(int64_t batch, const char* op) {
  RS_CHECK(batch >= 1, ValueError, op, "batch must be at least 1, got ", batch);
}

}  // namespace

Tensor load_image_input(const ImageInput& in, int size) {
  data::ClipPreprocessOptions opt;
  opt.size = size;
  return data::clip_preprocess(decode_input(in), opt);  // [3, S, S]
}

std::vector<fs::path> list_image_files(const fs::path& dir) {
  RS_CHECK(fs::is_directory(dir), IOError, "images", dir.string(), " is not a folder");
  std::vector<fs::path> files;
  for (const auto& e : fs::recursive_directory_iterator(dir)) {
    std::string ext = e.path().extension().string();
    std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return char(std::tolower(c)); });
    if (e.is_regular_file() &&
        (ext == ".png" || ext == ".jpg" || ext == ".jpeg" || ext == ".tif" || ext == ".tiff" || ext == ".bmp"))
      files.push_back(e.path());
  }
  std::sort(files.begin(), files.end());
  return files;
}

models::GenerateOptions caption_options(const models::RsCapRetBundle& b, int64_t beam, int64_t max_new_tokens) {
  RS_CHECK(beam >= 1, ValueError, "caption", "beam width must be at least 1, got ", beam);
  RS_CHECK(max_new_tokens >= 1, ValueError, "caption", "max_new_tokens must be at least 1, got ", max_new_tokens);
  models::GenerateOptions g;
  g.max_new_tokens = max_new_tokens;
  g.stop_tokens = {b.tokenizer->eos_id()};
  if (beam > 1) {
    g.strategy = models::DecodeStrategy::beam;
    g.num_beams = beam;
  }
  return g;
}

std::vector<std::string> caption_images(const models::RsCapRetBundle& b, const std::vector<Tensor>& pixels,
                                        const models::GenerateOptions& g, int64_t batch) {
  check_batch(batch, "caption");
  autograd::NoGradGuard no_grad;
  std::vector<std::string> out;
  out.reserve(pixels.size());
  for (size_t i0 = 0; i0 < pixels.size(); i0 += size_t(batch)) {
    const size_t n = std::min(pixels.size() - i0, size_t(batch));
    const Tensor pooled = b.model->encode_images(stack_range(pixels, i0, n));  // [n, Cv]
    for (std::string& c : b.model->caption(pooled, *b.tokenizer, g)) out.push_back(std::move(c));
  }
  return out;
}

std::vector<float> embed_images(const models::RsCapRetBundle& b, const std::vector<Tensor>& pixels, int64_t batch) {
  check_batch(batch, "embed images");
  autograd::NoGradGuard no_grad;
  std::vector<float> out;
  for (size_t i0 = 0; i0 < pixels.size(); i0 += size_t(batch)) {
    const size_t n = std::min(pixels.size() - i0, size_t(batch));
    const std::vector<float> e = models::embed_pooled(*b.model, b.model->encode_images(stack_range(pixels, i0, n)));
    out.insert(out.end(), e.begin(), e.end());  // [n, Q]
  }
  return out;
}

LoadedImages load_image_files(const std::vector<fs::path>& files, size_t begin, size_t end, int size,
                              const SkipReport& on_skip) {
  LoadedImages out;
  for (size_t i = begin; i < std::min(end, files.size()); ++i) {
    try {
      ImageInput in;
      in.path = files[i];
      out.pixels.push_back(load_image_input(in, size));
      out.paths.push_back(files[i].string());
    } catch (const Error& e) {
      ++out.skipped;
      if (on_skip) on_skip(files[i].string(), e.what());
    }
  }
  return out;
}

IndexedImages embed_image_files(const models::RsCapRetBundle& b, const std::vector<fs::path>& files, int64_t batch,
                                const SkipReport& on_skip) {
  check_batch(batch, "index");
  const int size = int(b.model->clip().config().vision.image_size);
  IndexedImages out;
  for (size_t i0 = 0; i0 < files.size(); i0 += size_t(batch)) {
    LoadedImages part = load_image_files(files, i0, i0 + size_t(batch), size, on_skip);
    const std::vector<float> e = embed_images(b, part.pixels, batch);
    out.embeddings.insert(out.embeddings.end(), e.begin(), e.end());
    out.paths.insert(out.paths.end(), part.paths.begin(), part.paths.end());
    out.skipped += part.skipped;
  }
  RS_CHECK(!out.paths.empty(), IOError, "index", "none of the ", files.size(), " images could be read");
  return out;
}

}  // namespace rscapret::api

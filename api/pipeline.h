// Inference over many images with a loaded RS-CapRet model, shared by the CLI (`caption`, `index`)
// and the C library (api/rscapret.h): images from files, encoded bytes or raw RGB go through CLIP's
// preprocessing, then `batch` at a time through CLIP and the decoder. Everything here runs without
// recording a graph.
//
// Batching: a CPU decode step streams every decoder weight once for all its rows, so rows are
// cheap: on the 7B shape a step of 8 rows takes 1.9x the time of one (4.2x the tokens per second;
// bench/RESULTS.md, "Batched decoding"). Batched captions equal one-at-a-time captions up to f32
// rounding: products with several rows may sum in another order (OpenBLAS for f32 weights, the GEMM
// tiles above 8 rows), and a near-tie can flip a word. With 16-bit or q8_0 decoder weights and at
// most 8 rows (images x beams, and images x visual tokens in the first step) the decode kernels
// give each row the bits it would have alone (kernels/cpu/gemv_half.cpp, quant_q8.cpp; tested).
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "models/rscapret/bundle.h"
#include "models/rscapret/retrieval.h"
#include "tensor/tensor.h"

namespace rscapret::api {

// One image to read: a file, the bytes of an encoded file (PNG, JPEG, BMP, TIFF), or 8-bit RGB
// pixels (row-major, 3 bytes a pixel, rows `row_stride` bytes apart).
struct ImageInput {
  enum class Kind { file, encoded, rgb8 };
  Kind kind = Kind::file;
  std::filesystem::path path;       // file
  const uint8_t* data = nullptr;    // encoded, rgb8 (not owned)
  size_t size = 0;                  // bytes at data
  int width = 0, height = 0;        // rgb8
  size_t row_stride = 0;            // rgb8; 0: width * 3
  std::string name() const;         // for messages: the path, "<encoded image>" or "<rgb image>"
};

// CLIP's preprocessing of one image at `size` px: f32 [3, size, size]. Errors name the image:
// IOError (unreadable file), FormatError (corrupt or unsupported data), ValueError (bad rgb8
// geometry: zero or huge sides, a stride below width * 3, fewer bytes than the rows need).
Tensor load_image_input(const ImageInput& in, int size);

// Image files under dir, recursively, by extension (.png .jpg .jpeg .tif .tiff .bmp, any case),
// sorted by path. IOError when dir is not a folder.
std::vector<std::filesystem::path> list_image_files(const std::filesystem::path& dir);

// The readable ones of files[begin, end), preprocessed at `size` px, in order; an unreadable image
// is skipped and reported to on_skip (path, message).
using SkipReport = std::function<void(const std::string& path, const std::string& why)>;
struct LoadedImages {
  std::vector<Tensor> pixels;      // each f32 [3, size, size]
  std::vector<std::string> paths;  // of the images loaded
  int64_t skipped = 0;
};
LoadedImages load_image_files(const std::vector<std::filesystem::path>& files, size_t begin, size_t end, int size,
                              const SkipReport& on_skip = {});

// The model's caption options from a beam width (1: greedy) and a token budget; stops at EOS.
models::GenerateOptions caption_options(const models::RsCapRetBundle& b, int64_t beam, int64_t max_new_tokens);

// Captions of preprocessed images (each f32 [3, S, S]), `batch` at a time (>= 1).
std::vector<std::string> caption_images(const models::RsCapRetBundle& b, const std::vector<Tensor>& pixels,
                                        const models::GenerateOptions& g, int64_t batch);

// Normalised retrieval embeddings of preprocessed images, f32 [N, Q] row-major, `batch` at a time.
std::vector<float> embed_images(const models::RsCapRetBundle& b, const std::vector<Tensor>& pixels, int64_t batch);

// Embeds image files `batch` at a time for an index. An unreadable image is skipped and reported to
// on_skip (path, message); IOError when none could be read.
struct IndexedImages {
  std::vector<float> embeddings;  // [N, Q] row-major, normalised
  std::vector<std::string> paths;  // N, in the order given
  int64_t skipped = 0;
};
IndexedImages embed_image_files(const models::RsCapRetBundle& b, const std::vector<std::filesystem::path>& files,
                                int64_t batch, const SkipReport& on_skip = {});

}  // namespace rscapret::api

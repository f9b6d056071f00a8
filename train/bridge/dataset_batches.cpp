#include "train/bridge/dataset_batches.h"

#include <cstdio>

#include "train/data/clip_preprocess.h"
#include "train/data/image.h"
#include "train/data/loader.h"

namespace rscapret::train {

Tensor load_clip_image(const std::filesystem::path& path, int size) {
  data::ClipPreprocessOptions opt;
  opt.size = size;
  return data::clip_preprocess(data::load_image(path), opt);  // [3, S, S]
}

BridgeBatchFn dataset_batches(const data::CaptionDataset& ds, int image_size, int64_t batch_size, int64_t grad_accum,
                              uint64_t seed, std::shared_ptr<DatasetBatchStats> stats) {
  auto pairs = std::make_shared<data::CaptionDataset>(ds.expand_captions());
  const int64_t N = int64_t(pairs->size());
  RS_CHECK(N > 0, ValueError, "train bridge", "the training set has no captions");
  if (!stats) stats = std::make_shared<DatasetBatchStats>();
  return [pairs, N, image_size, batch_size, grad_accum, seed, stats](int64_t step, int64_t micro) {
    BridgeBatch b;
    std::vector<Tensor> images;
    const int64_t g = (step * grad_accum + micro) * batch_size;
    int64_t cached_epoch = -1;
    std::vector<int64_t> perm;
    // A failed image is replaced by the samples after the batch's range (the order stays a pure
    // function of the step; at most N tries).
    for (int64_t i = 0; int64_t(images.size()) < batch_size && i < batch_size + N; ++i) {
      const int64_t pos = g + i;
      const int64_t epoch = pos / N;
      if (epoch != cached_epoch) {
        perm = data::epoch_permutation(N, seed, epoch);
        cached_epoch = epoch;
      }
      const data::CaptionSample& s = (*pairs)[size_t(perm[size_t(pos % N)])];
      try {
        images.push_back(load_clip_image(s.image_path, image_size));
        b.captions.push_back(s.captions.at(0));
      } catch (const Error& e) {
        ++stats->skipped;
        std::fprintf(stderr, "\nskipping %s: %s\n", s.image_path.string().c_str(), e.what());
      }
    }
    RS_CHECK(!images.empty(), IOError, "train bridge", "no image of the batch could be loaded");
    b.pixels = data::stack_images(images);
    return b;
  };
}

ValidationSet dataset_validation(const data::CaptionDataset& ds, int image_size, int64_t max_images) {
  ValidationSet v;
  std::vector<Tensor> images;
  for (size_t i = 0; i < ds.size() && int64_t(images.size()) < max_images; ++i) {
    try {
      images.push_back(load_clip_image(ds[i].image_path, image_size));
      v.references.push_back(ds[i].captions);
    } catch (const Error& e) {
      std::fprintf(stderr, "validation: skipping %s: %s\n", ds[i].image_path.string().c_str(), e.what());
    }
  }
  if (!images.empty()) v.pixels = data::stack_images(images);
  return v;
}

}  // namespace rscapret::train

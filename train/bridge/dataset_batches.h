// Bridge batches from caption datasets on disk (train/data): images decoded and CLIP-preprocessed on
// demand, one caption per (image, caption) pair, in a deterministic order that is a pure function of
// (seed, step, micro-batch), so a resumed run sees the same data. A corrupt or missing image is
// reported once, counted, and replaced by the next sample of the order; it never stops a run.
#pragma once

#include <atomic>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "train/bridge/trainer.h"
#include "train/data/caption_dataset.h"

namespace rscapret::train {

// Decodes and preprocesses one image to f32 [3, S, S]; throws the decoder's error.
Tensor load_clip_image(const std::filesystem::path& path, int size);

struct DatasetBatchStats {
  std::atomic<int64_t> skipped{0};  // images that failed to load
};

// Caption-level pairs of `ds` (each caption of each image is one sample).
BridgeBatchFn dataset_batches(const data::CaptionDataset& ds, int image_size, int64_t batch_size, int64_t grad_accum,
                              uint64_t seed, std::shared_ptr<DatasetBatchStats> stats = nullptr);

// A validation set from the first max_images images of ds (all captions as references); images that
// fail to load are skipped with a message.
ValidationSet dataset_validation(const data::CaptionDataset& ds, int image_size, int64_t max_images);

}  // namespace rscapret::train

// Deterministic, threaded image loading for training and evaluation.
//
// Order: epoch e visits the samples in epoch_permutation(n, seed, e) (identity when shuffle is off),
// a permutation drawn from tensor/rng.h's counter-based Generator, so it depends only on (seed, e).
// Decoding threads take positions of that order in turn and write decoded + preprocessed pixels
// into a ring of slots; one assembler thread packs the slots *in position order* into batches and
// keeps up to `prefetch_batches` of them ready. Thread timing therefore never changes which sample
// lands in which batch row: 1 thread and 8 threads give the same batches, bit for bit.
//
// A corrupt or missing image is reported once per path (on_skip, stderr by default), counted, and
// skipped: the batch is filled from the next positions, so batches stay full (the last one of an
// epoch may be short; drop_last removes it). Which images fail is a property of the files, so the
// batches stay deterministic.
//
// Resume: Batch::next_position is where the epoch continues; start_epoch(e, next_position) after a
// restart yields the same remaining batches.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <exception>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "tensor/tensor.h"
#include "train/data/caption_dataset.h"
#include "train/data/clip_preprocess.h"
#include "train/data/image.h"

namespace rscapret::data {

// A uniformly random permutation of [0, n) from (seed, epoch): keys from Generator(seed) at counter
// offset epoch * ceil(n / 2), then a stable argsort.
std::vector<int64_t> epoch_permutation(int64_t n, uint64_t seed, int64_t epoch);

// Which caption of sample `index` is used in `epoch` (uniform over its captions, from (seed, epoch, index)).
size_t choose_caption(size_t num_captions, uint64_t seed, int64_t epoch, int64_t index);

struct LoaderOptions {
  int64_t batch_size = 32;
  bool shuffle = true;
  uint64_t seed = 0;
  int num_threads = 2;           // decoding threads (>= 1); the assembler thread is extra
  int64_t prefetch_batches = 4;  // ready batches kept ahead of the consumer (>= 1)
  bool drop_last = false;        // drop an epoch's last, short batch
  ClipPreprocessOptions preprocess;
  DecodeLimits limits;
  // Called once per failing path (from the assembler thread, in position order). Empty: stderr.
  std::function<void(const std::string& path, const std::string& reason)> on_skip;
};

struct Batch {
  Tensor pixels;                      // f32 [B, 3, S, S], normalised
  std::vector<int64_t> indices;       // (B) dataset index of each row
  std::vector<std::string> captions;  // (B) the caption chosen for this epoch (choose_caption)
  int64_t epoch = 0;
  int64_t batch_index = 0;            // within the epoch
  int64_t next_position = 0;          // epoch position after this batch (for resuming)
  int64_t size() const { return int64_t(indices.size()); }
};

class DataLoader {
 public:
  DataLoader(CaptionDataset dataset, LoaderOptions options);
  ~DataLoader();
  DataLoader(const DataLoader&) = delete;
  DataLoader& operator=(const DataLoader&) = delete;

  // Stops any work in flight and starts `epoch` at `start_position` (0..size()) of its order.
  void start_epoch(int64_t epoch, int64_t start_position = 0);
  // The next batch, or nullopt at the end of the epoch. ValueError before start_epoch.
  std::optional<Batch> next();

  const CaptionDataset& dataset() const { return dataset_; }
  const LoaderOptions& options() const { return opt_; }
  const std::vector<int64_t>& order() const { return order_; }  // this epoch's permutation
  int64_t epoch() const { return epoch_; }
  // Full batches of an epoch when no image fails (the last short one included unless drop_last).
  int64_t batches_per_epoch() const;

  // Skipped samples over all epochs (a bad image counts again each time it is met).
  int64_t skipped_count() const;
  // Distinct failing paths and the first error of each.
  std::map<std::string, std::string> skipped_images() const;

 private:
  struct Slot {
    bool done = false;
    bool ok = false;
    std::string error;
    std::vector<float> pixels;  // (3, S, S)
  };
  void stop_threads();
  void worker_loop();
  void assembler_loop();
  void report_skip(const std::string& path, const std::string& reason);

  CaptionDataset dataset_;
  LoaderOptions opt_;
  std::vector<int64_t> order_;
  int64_t epoch_ = -1;
  int64_t sample_floats_ = 0;

  mutable std::mutex mu_;
  std::condition_variable cv_work_;     // workers: a slot freed, or stop
  std::condition_variable cv_slot_;     // assembler: a slot done, or a batch taken, or stop
  std::condition_variable cv_batch_;    // consumer: a batch ready, or the epoch done
  std::vector<Slot> slots_;             // ring: position p uses slots_[p % slots_.size()]
  int64_t next_claim_ = 0;              // next position a worker takes
  int64_t next_assemble_ = 0;           // next position the assembler consumes
  int64_t end_ = 0;                     // order_.size()
  std::deque<Batch> ready_;
  bool epoch_done_ = false;
  bool stop_ = false;
  std::exception_ptr error_;
  int64_t skipped_ = 0;
  std::map<std::string, std::string> skipped_paths_;
  std::vector<std::thread> threads_;
};

}  // namespace rscapret::data

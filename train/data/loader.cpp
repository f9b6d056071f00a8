#include "train/data/loader.h"

#include <algorithm>
#include <cstring>
#include <iostream>
#include <numeric>

#include "tensor/error.h"
#include "tensor/rng.h"

namespace rscapret::data {

std::vector<int64_t> epoch_permutation(int64_t n, uint64_t seed, int64_t epoch) {
  RS_CHECK(n >= 0 && epoch >= 0, ValueError, "epoch_permutation", "n = ", n, ", epoch = ", epoch);
  std::vector<int64_t> perm(static_cast<size_t>(n));
  std::iota(perm.begin(), perm.end(), 0);
  if (n < 2) return perm;
  // A stream of its own: the same seed used for weight init elsewhere does not give these keys.
  Generator gen(seed ^ 0x5348554646'4C4521ull /*"SHUFFLE!"*/);
  gen.set_offset(uint64_t(epoch) * uint64_t((n + 1) / 2));  // each epoch: disjoint counters
  const std::vector<double> keys = gen.uniform({n}, 0.0, 1.0, DType::f64).to_vector<double>();
  std::stable_sort(perm.begin(), perm.end(), [&](int64_t a, int64_t b) { return keys[a] < keys[b]; });
  return perm;
}

size_t choose_caption(size_t num_captions, uint64_t seed, int64_t epoch, int64_t index) {
  if (num_captions <= 1) return 0;
  const uint64_t e = uint64_t(epoch), i = uint64_t(index);
  const auto r = philox4x32({uint32_t(i), uint32_t(i >> 32), uint32_t(e), uint32_t(e >> 32) ^ 0x43415031u /*"CAP1"*/},
                            {uint32_t(seed), uint32_t(seed >> 32)});
  return size_t(((uint64_t(r[0]) << 32) | r[1]) % num_captions);
}

DataLoader::DataLoader(CaptionDataset dataset, LoaderOptions options)
    : dataset_(std::move(dataset)), opt_(std::move(options)) {
  RS_CHECK(opt_.batch_size >= 1, ValueError, "DataLoader", "batch_size must be >= 1, got ", opt_.batch_size);
  RS_CHECK(opt_.num_threads >= 1, ValueError, "DataLoader", "num_threads must be >= 1, got ", opt_.num_threads);
  RS_CHECK(opt_.prefetch_batches >= 1, ValueError, "DataLoader", "prefetch_batches must be >= 1, got ",
           opt_.prefetch_batches);
  RS_CHECK(opt_.preprocess.size >= 1, ValueError, "DataLoader", "bad image size ", opt_.preprocess.size);
  sample_floats_ = int64_t(3) * opt_.preprocess.size * opt_.preprocess.size;
}

DataLoader::~DataLoader() { stop_threads(); }

int64_t DataLoader::batches_per_epoch() const {
  const int64_t n = int64_t(dataset_.size());
  return opt_.drop_last ? n / opt_.batch_size : (n + opt_.batch_size - 1) / opt_.batch_size;
}

int64_t DataLoader::skipped_count() const {
  std::lock_guard<std::mutex> lk(mu_);
  return skipped_;
}

std::map<std::string, std::string> DataLoader::skipped_images() const {
  std::lock_guard<std::mutex> lk(mu_);
  return skipped_paths_;
}

void DataLoader::stop_threads() {
  {
    std::lock_guard<std::mutex> lk(mu_);
    stop_ = true;
  }
  cv_work_.notify_all();
  cv_slot_.notify_all();
  cv_batch_.notify_all();
  for (std::thread& t : threads_) t.join();
  threads_.clear();
}

void DataLoader::start_epoch(int64_t epoch, int64_t start_position) {
  RS_CHECK(epoch >= 0, ValueError, "DataLoader", "epoch must be >= 0, got ", epoch);
  RS_CHECK(start_position >= 0 && start_position <= int64_t(dataset_.size()), ValueError, "DataLoader",
           "start_position ", start_position, " outside [0, ", dataset_.size(), "]");
  stop_threads();
  const int64_t n = int64_t(dataset_.size());
  if (opt_.shuffle) {
    order_ = epoch_permutation(n, opt_.seed, epoch);
  } else {
    order_.resize(size_t(n));
    std::iota(order_.begin(), order_.end(), 0);
  }
  epoch_ = epoch;
  // The ring only has to cover how far decoding runs ahead of the in-order assembler; the real
  // prefetch is the queue of ready batches.
  const size_t nslots = size_t(std::max(16, 4 * opt_.num_threads));
  slots_.resize(nslots);
  for (Slot& s : slots_) {
    s.done = false;
    s.pixels.resize(size_t(sample_floats_));
  }
  next_claim_ = next_assemble_ = start_position;
  end_ = n;
  ready_.clear();
  epoch_done_ = false;
  stop_ = false;
  error_ = nullptr;
  threads_.emplace_back(&DataLoader::assembler_loop, this);
  for (int t = 0; t < opt_.num_threads; ++t) threads_.emplace_back(&DataLoader::worker_loop, this);
}

std::optional<Batch> DataLoader::next() {
  RS_CHECK(epoch_ >= 0, ValueError, "DataLoader", "call start_epoch before next");
  std::unique_lock<std::mutex> lk(mu_);
  cv_batch_.wait(lk, [&] { return !ready_.empty() || epoch_done_ || error_ || stop_; });
  if (error_) std::rethrow_exception(error_);
  if (ready_.empty()) return std::nullopt;
  Batch b = std::move(ready_.front());
  ready_.pop_front();
  lk.unlock();
  cv_slot_.notify_all();  // the assembler may build the next batch
  return b;
}

void DataLoader::worker_loop() {
  const int64_t nslots = int64_t(slots_.size());
  while (true) {
    int64_t p;
    {
      std::unique_lock<std::mutex> lk(mu_);
      cv_work_.wait(lk, [&] { return stop_ || next_claim_ >= end_ || next_claim_ < next_assemble_ + nslots; });
      if (stop_ || next_claim_ >= end_) return;
      p = next_claim_++;
    }
    // The slot is this thread's until `done` is set: the assembler reads it only after that.
    Slot& slot = slots_[size_t(p % nslots)];
    bool ok = false;
    std::string error;
    try {
      const Image img = load_image(dataset_[size_t(order_[size_t(p)])].image_path, opt_.limits);
      clip_preprocess_into(img, opt_.preprocess, slot.pixels.data());
      ok = true;
    } catch (const std::exception& e) {
      error = e.what();
    } catch (...) {
      error = "unknown error";
    }
    {
      std::lock_guard<std::mutex> lk(mu_);
      slot.ok = ok;
      slot.error = std::move(error);
      slot.done = true;
    }
    cv_slot_.notify_all();
  }
}

void DataLoader::report_skip(const std::string& path, const std::string& reason) {
  bool first = false;
  {
    std::lock_guard<std::mutex> lk(mu_);
    ++skipped_;
    first = skipped_paths_.emplace(path, reason).second;
  }
  if (!first) return;
  if (opt_.on_skip) opt_.on_skip(path, reason);
  else std::cerr << "[data_loader] skipping image " << path << ": " << reason << "\n";
}

void DataLoader::assembler_loop() {
  const int64_t nslots = int64_t(slots_.size());
  const int64_t B = opt_.batch_size, S = opt_.preprocess.size;
  int64_t batch_index = 0;
  try {
    while (true) {
      {
        std::unique_lock<std::mutex> lk(mu_);
        cv_slot_.wait(lk, [&] { return stop_ || int64_t(ready_.size()) < opt_.prefetch_batches; });
        if (stop_) return;
      }
      Batch b;
      b.epoch = epoch_;
      b.batch_index = batch_index;
      b.pixels = Tensor::empty({B, 3, S, S}, DType::f32);  // (B, C, H, W)
      float* dst = b.pixels.data<float>();
      bool at_end = false;
      while (b.size() < B) {
        int64_t p;
        {
          std::unique_lock<std::mutex> lk(mu_);
          if (next_assemble_ >= end_) {
            at_end = true;
            break;
          }
          p = next_assemble_;
          cv_slot_.wait(lk, [&] { return stop_ || slots_[size_t(p % nslots)].done; });
          if (stop_) return;
        }
        Slot& slot = slots_[size_t(p % nslots)];
        const int64_t index = order_[size_t(p)];
        const CaptionSample& sample = dataset_[size_t(index)];
        if (slot.ok) {
          std::memcpy(dst + b.size() * sample_floats_, slot.pixels.data(), size_t(sample_floats_) * sizeof(float));
          b.captions.push_back(sample.captions[choose_caption(sample.captions.size(), opt_.seed, epoch_, index)]);
          b.indices.push_back(index);
        } else {
          report_skip(sample.image_path.string(), slot.error);
        }
        {
          std::lock_guard<std::mutex> lk(mu_);
          slot.done = false;
          ++next_assemble_;
          if (next_assemble_ >= end_) at_end = true;
        }
        cv_work_.notify_all();
      }
      b.next_position = next_assemble_;  // written only by this thread
      const bool keep = b.size() == B || (b.size() > 0 && !opt_.drop_last);
      if (keep && b.size() < B) b.pixels = b.pixels.narrow(0, 0, b.size());
      {
        std::lock_guard<std::mutex> lk(mu_);
        if (keep) {
          ready_.push_back(std::move(b));
          ++batch_index;
        }
        if (at_end) epoch_done_ = true;
      }
      cv_batch_.notify_all();
      if (at_end) return;
    }
  } catch (...) {
    {
      std::lock_guard<std::mutex> lk(mu_);
      error_ = std::current_exception();
      epoch_done_ = true;
    }
    cv_batch_.notify_all();
  }
}

}  // namespace rscapret::data

#include "train/bridge/prefetch.h"

#include <algorithm>
#include <condition_variable>
#include <exception>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <thread>
#include <utility>

namespace rscapret::train {

namespace {

using Key = std::pair<int64_t, int64_t>;  // (step, micro)

// One worker thread makes the requested keys in order; results wait in `ready` until asked for.
class Prefetcher {
 public:
  Prefetcher(BridgeBatchFn fn, int64_t grad_accum, int64_t depth)
      : fn_(std::move(fn)), grad_accum_(grad_accum), depth_(depth), worker_([this] { run(); }) {}

  ~Prefetcher() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    worker_.join();
  }

  BridgeBatch get(int64_t step, int64_t micro) {
    const Key key{step, micro};
    std::unique_lock<std::mutex> lock(mu_);
    schedule_after(key);
    const bool coming = ready_.count(key) || in_flight_ == key ||
                        std::find(queue_.begin(), queue_.end(), key) != queue_.end();
    if (!coming) {  // out of order (first call, a resume, a jump): make it here
      lock.unlock();
      return fn_(step, micro);
    }
    done_cv_.wait(lock, [&] { return ready_.count(key) > 0; });
    Result r = std::move(ready_.at(key));
    ready_.erase(key);
    // Anything older than this key will never be asked for in order: drop it.
    for (auto it = ready_.begin(); it != ready_.end();) it = it->first < key ? ready_.erase(it) : std::next(it);
    if (r.error) std::rethrow_exception(r.error);
    return std::move(r.batch);
  }

 private:
  struct Result {
    BridgeBatch batch;
    std::exception_ptr error;
  };

  Key next(Key k) const { return k.second + 1 < grad_accum_ ? Key{k.first, k.second + 1} : Key{k.first + 1, 0}; }

  // Queues the `depth` keys after `key` that are neither queued, in flight nor ready. Holds mu_.
  void schedule_after(Key key) {
    // Keys before this one will never be asked for in order (the caller moved on or jumped).
    std::erase_if(queue_, [&](const Key& q) { return q < key; });
    Key k = key;
    for (int64_t i = 0; i < depth_; ++i) {
      k = next(k);
      if (ready_.count(k) || in_flight_ == k || std::find(queue_.begin(), queue_.end(), k) != queue_.end()) continue;
      queue_.push_back(k);
    }
    cv_.notify_all();
  }

  void run() {
    std::unique_lock<std::mutex> lock(mu_);
    for (;;) {
      cv_.wait(lock, [&] { return stop_ || !queue_.empty(); });
      if (stop_) return;
      const Key k = queue_.front();
      queue_.pop_front();
      in_flight_ = k;
      lock.unlock();
      Result r;
      try {
        r.batch = fn_(k.first, k.second);
      } catch (...) {
        r.error = std::current_exception();
      }
      lock.lock();
      in_flight_ = Key{-1, -1};
      ready_[k] = std::move(r);
      done_cv_.notify_all();
    }
  }

  BridgeBatchFn fn_;
  int64_t grad_accum_, depth_;
  std::mutex mu_;
  std::condition_variable cv_, done_cv_;
  std::deque<Key> queue_;
  std::map<Key, Result> ready_;
  Key in_flight_{-1, -1};
  bool stop_ = false;
  std::thread worker_;  // last: starts after the members it reads
};

}  // namespace

BridgeBatchFn prefetch_batches(BridgeBatchFn fn, int64_t grad_accum, int64_t depth) {
  if (depth <= 0) return fn;
  RS_CHECK(grad_accum >= 1, ValueError, "prefetch_batches", "grad_accum must be >= 1, got ", grad_accum);
  auto p = std::make_shared<Prefetcher>(std::move(fn), grad_accum, depth);
  return [p](int64_t step, int64_t micro) { return p->get(step, micro); };
}

}  // namespace rscapret::train

#include "tensor/thread_pool.h"

#include <atomic>
#include <condition_variable>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace rscapret::thread_pool {

namespace {

thread_local bool t_in_chunk = false;

int default_threads() {
  if (const char* env = std::getenv("RSCAPRET_THREADS")) {
    const int n = std::atoi(env);
    if (n > 0) return n;
  }
  const unsigned hw = std::thread::hardware_concurrency();
  return hw ? int(hw) : 1;
}

// One parallel job, with its own chunk counters. Workers hold it through a shared_ptr, so one that
// wakes after the job ended still reads live counters, finds no chunk left to claim and never calls
// fn (which dies with run()'s frame); run() only waits for the chunks claimed.
struct Job {
  const std::function<void(int64_t)>* fn;
  int64_t chunks;
  std::atomic<int64_t> next{0};     // next chunk to claim
  std::atomic<int64_t> pending{0};  // chunks not finished
};

class Pool {
 public:
  explicit Pool(int threads) { resize(threads); }
  ~Pool() { stop_workers(); }

  int size() const { return int(workers_.size()) + 1; }

  void resize(int threads) {
    stop_workers();
    stop_ = false;
    for (int i = 1; i < threads; ++i) workers_.emplace_back([this] { worker_loop(); });
  }

  void run(int64_t chunks, const std::function<void(int64_t)>& fn) {
    std::lock_guard<std::mutex> one_job(job_mu_);  // one parallel job at a time
    auto job = std::make_shared<Job>();
    job->fn = &fn;
    job->chunks = chunks;
    job->pending.store(chunks);
    {
      std::lock_guard<std::mutex> lock(mu_);
      job_ = job;
      ++generation_;
    }
    cv_.notify_all();
    work(*job);
    // Wait for chunks still running on workers: spin a little, they are usually nearly done.
    for (int spin = 0; job->pending.load() > 0 && spin < 20000; ++spin) std::this_thread::yield();
    std::unique_lock<std::mutex> lock(mu_);
    done_cv_.wait(lock, [&] { return job->pending.load() == 0; });
    job_.reset();
  }

 private:
  void work(Job& job) {
    t_in_chunk = true;
    // A chunk is claimed only below job.chunks, so after the last claim nobody calls job.fn again.
    for (int64_t c; (c = job.next.fetch_add(1)) < job.chunks;) {
      (*job.fn)(c);
      if (job.pending.fetch_sub(1) == 1) {
        std::lock_guard<std::mutex> lock(mu_);
        done_cv_.notify_all();
      }
    }
    t_in_chunk = false;
  }

  void worker_loop() {
    uint64_t seen = 0;
    for (;;) {
      std::shared_ptr<Job> job;
      {
        std::unique_lock<std::mutex> lock(mu_);
        cv_.wait(lock, [&] { return stop_ || generation_ != seen; });
        if (stop_) return;
        seen = generation_;
        job = job_;
      }
      if (job) work(*job);  // null: woke after the job was over
    }
  }

  void stop_workers() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    for (auto& w : workers_) w.join();
    workers_.clear();
  }

  std::mutex job_mu_;
  std::mutex mu_;  // guards job_, generation_, stop_
  std::condition_variable cv_, done_cv_;
  std::vector<std::thread> workers_;
  std::shared_ptr<Job> job_;
  uint64_t generation_ = 0;
  bool stop_ = false;
};

Pool& pool() {
  static Pool* p = new Pool(default_threads());  // never destroyed: kernels may run during teardown
  return *p;
}

}  // namespace

int num_threads() { return pool().size(); }

void set_num_threads(int n) {
  const int want = n > 0 ? n : default_threads();
  if (want != pool().size()) pool().resize(want);
}

void run(int64_t chunks, const std::function<void(int64_t)>& fn) {
  if (chunks <= 0) return;
  if (chunks == 1 || t_in_chunk || pool().size() == 1) {
    for (int64_t c = 0; c < chunks; ++c) fn(c);
    return;
  }
  pool().run(chunks, fn);
}

}  // namespace rscapret::thread_pool

// The kernel profiler's recording: CUPTI's activity API, loaded with dlopen so that neither the
// build nor the binaries depend on it. CUPTI fills buffers we hand it with one record per kernel,
// copy or fill (GPU timestamps in ns) and returns them when full or flushed; each record is folded
// into a KernelTally at once.
#include "tensor/kernel_profile.h"

#include <cstdio>
#include <cstdlib>
#include <exception>
#include <mutex>

#include "tensor/device_backend.h"
#include "tensor/error.h"

#if RSCAPRET_HAVE_CUPTI
#include <cupti.h>
#include <cxxabi.h>
#include <dlfcn.h>

#include <unordered_map>
#endif

namespace rscapret::profile {

#if RSCAPRET_HAVE_CUPTI
namespace {

// The CUPTI entry points we call, resolved from the library at run time.
struct Cupti {
  CUptiResult (*register_callbacks)(CUpti_BuffersCallbackRequestFunc, CUpti_BuffersCallbackCompleteFunc) = nullptr;
  CUptiResult (*enable)(CUpti_ActivityKind) = nullptr;
  CUptiResult (*disable)(CUpti_ActivityKind) = nullptr;
  CUptiResult (*flush_all)(uint32_t) = nullptr;
  CUptiResult (*next_record)(uint8_t*, size_t, CUpti_Activity**) = nullptr;
  CUptiResult (*dropped)(CUcontext, uint32_t, size_t*) = nullptr;
  CUptiResult (*result_string)(CUptiResult, const char**) = nullptr;
  std::string error;  // why loading failed; empty when loaded
};

void* open_cupti() {
  std::vector<std::string> names;
  if (const char* p = std::getenv("RSCAPRET_CUPTI")) names.push_back(p);
  for (const char* n : {"libcupti.so.13", "libcupti.so"}) names.push_back(n);
  for (const char* dir : {"/usr/local/cuda/lib64", "/usr/local/cuda/lib", "/usr/local/cuda/extras/CUPTI/lib64",
                          "/usr/local/cuda-13.0/lib64", "/usr/local/cuda-13.0/lib",
                          "/usr/local/cuda-13.0/extras/CUPTI/lib64"})
    names.push_back(std::string(dir) + "/libcupti.so.13");
  for (const std::string& n : names)
    if (void* h = dlopen(n.c_str(), RTLD_NOW | RTLD_LOCAL)) return h;
  return nullptr;
}

template <typename Fn>
bool resolve(void* lib, const char* symbol, Fn& fn, std::string& error) {
  fn = reinterpret_cast<Fn>(dlsym(lib, symbol));
  if (fn == nullptr && error.empty()) error = cat("the CUPTI library has no ", symbol);
  return fn != nullptr;
}

const Cupti& cupti() {
  static const Cupti api = [] {
    Cupti c;
    void* lib = open_cupti();
    if (lib == nullptr) {
      c.error = "CUPTI (libcupti.so.13) not found: set RSCAPRET_CUPTI to its path or add its folder to "
                "LD_LIBRARY_PATH";
      return c;
    }
    resolve(lib, "cuptiActivityRegisterCallbacks", c.register_callbacks, c.error);
    resolve(lib, "cuptiActivityEnable", c.enable, c.error);
    resolve(lib, "cuptiActivityDisable", c.disable, c.error);
    resolve(lib, "cuptiActivityFlushAll", c.flush_all, c.error);
    resolve(lib, "cuptiActivityGetNextRecord", c.next_record, c.error);
    resolve(lib, "cuptiActivityGetNumDroppedRecords", c.dropped, c.error);
    resolve(lib, "cuptiGetResultString", c.result_string, c.error);
    return c;
  }();
  return api;
}

std::string describe(CUptiResult r) {
  const char* s = nullptr;
  if (cupti().result_string && cupti().result_string(r, &s) == CUPTI_SUCCESS && s) return s;
  return cat("CUPTI error ", int(r));
}

void check_cupti(CUptiResult r, const char* what) {
  if (r != CUPTI_SUCCESS) throw DeviceError(cat("[kernel profile] ", what, ": ", describe(r)));
}

// Kernels, copies and fills: what occupies a GPU. CONCURRENT_KERNEL records kernels without
// serialising them (KERNEL would).
constexpr CUpti_ActivityKind kKinds[] = {CUPTI_ACTIVITY_KIND_CONCURRENT_KERNEL, CUPTI_ACTIVITY_KIND_MEMCPY,
                                         CUPTI_ACTIVITY_KIND_MEMSET};
constexpr size_t kBufferBytes = size_t(8) << 20;  // ~25,000 kernel records per buffer

struct Recording {
  std::mutex mu;  // CUPTI may return buffers on its own thread
  bool running = false;
  bool callbacks_registered = false;
  KernelTally tally;
  uint64_t dropped = 0;
  uint64_t unreadable_buffers = 0;  // buffers whose walk stopped before their end
  std::unordered_map<const char*, std::string> names;  // CUPTI's name pointers are stable per kernel
};
Recording& recording() {
  static auto* r = new Recording();  // leaked: buffers may come back during static destruction
  return *r;
}

std::string kernel_name(Recording& rec, const char* raw) {
  if (raw == nullptr) return "[unnamed kernel]";
  auto it = rec.names.find(raw);
  if (it != rec.names.end()) return it->second;
  int status = 0;
  char* demangled = abi::__cxa_demangle(raw, nullptr, nullptr, &status);
  std::string name = short_kernel_name(status == 0 && demangled ? demangled : raw);
  std::free(demangled);
  return rec.names.emplace(raw, std::move(name)).first->second;
}

const char* copy_name(uint8_t kind) {
  switch (kind) {
    case CUPTI_ACTIVITY_MEMCPY_KIND_HTOD: return "[memcpy HtoD]";
    case CUPTI_ACTIVITY_MEMCPY_KIND_DTOH: return "[memcpy DtoH]";
    case CUPTI_ACTIVITY_MEMCPY_KIND_DTOD: return "[memcpy DtoD]";
    case CUPTI_ACTIVITY_MEMCPY_KIND_PTOP: return "[memcpy PtoP]";
    default: return "[memcpy other]";
  }
}

// An interval, or 0 for a record CUPTI could not complete (its timestamps 0).
uint64_t span(uint64_t start, uint64_t end) { return start != 0 && end > start ? end - start : 0; }

void buffer_requested(uint8_t** buffer, size_t* size, size_t* max_records) {
  // CUPTI wants 8-byte alignment; malloc's is at least 16.
  *buffer = static_cast<uint8_t*>(std::malloc(kBufferBytes));
  *size = *buffer ? kBufferBytes : 0;
  *max_records = 0;  // as many as fit
}

void buffer_completed(CUcontext context, uint32_t stream_id, uint8_t* buffer, size_t /*size*/, size_t valid) {
  Recording& rec = recording();
  {
    std::lock_guard<std::mutex> lock(rec.mu);
    CUpti_Activity* r = nullptr;
    CUptiResult status = CUPTI_SUCCESS;
    while (buffer && (status = cupti().next_record(buffer, valid, &r)) == CUPTI_SUCCESS) {
      switch (r->kind) {
        case CUPTI_ACTIVITY_KIND_KERNEL:
        case CUPTI_ACTIVITY_KIND_CONCURRENT_KERNEL: {
          const auto* k = reinterpret_cast<const CUpti_ActivityKernel10*>(r);
          if (const uint64_t ns = span(k->start, k->end)) rec.tally.add(kernel_name(rec, k->name), ns);
          break;
        }
        case CUPTI_ACTIVITY_KIND_MEMCPY: {
          const auto* m = reinterpret_cast<const CUpti_ActivityMemcpy6*>(r);
          if (const uint64_t ns = span(m->start, m->end)) rec.tally.add(copy_name(m->copyKind), ns);
          break;
        }
        case CUPTI_ACTIVITY_KIND_MEMSET: {
          const auto* m = reinterpret_cast<const CUpti_ActivityMemset4*>(r);
          if (const uint64_t ns = span(m->start, m->end)) rec.tally.add("[memset]", ns);
          break;
        }
        default: break;
      }
    }
    // The end of the buffer is MAX_LIMIT_REACHED; anything else (an incomplete record) stops the
    // walk, and what was left of the buffer is counted, not silently lost.
    if (buffer && status != CUPTI_ERROR_MAX_LIMIT_REACHED) ++rec.unreadable_buffers;
    size_t dropped = 0;
    if (cupti().dropped(context, stream_id, &dropped) == CUPTI_SUCCESS) rec.dropped += dropped;
  }
  std::free(buffer);
}

void set_kinds(bool on) {
  for (CUpti_ActivityKind k : kKinds) check_cupti((on ? cupti().enable : cupti().disable)(k), on ? "enable" : "disable");
}

}  // namespace

void start_kernel_profile() {
  RS_CHECK(cuda_runtime::available(), DeviceError, "kernel profile", "no CUDA device here");
  RS_CHECK(cupti().error.empty(), DeviceError, "kernel profile", cupti().error);
  Recording& rec = recording();
  std::lock_guard<std::mutex> lock(rec.mu);
  RS_CHECK(!rec.running, DeviceError, "kernel profile", "a profile is already running");
  if (!rec.callbacks_registered) {
    check_cupti(cupti().register_callbacks(buffer_requested, buffer_completed), "register buffer callbacks");
    rec.callbacks_registered = true;
  }
  try {
    set_kinds(true);
  } catch (...) {
    try {
      set_kinds(false);  // none of the kinds stays enabled after a failed start
    } catch (...) {
    }
    throw;
  }
  rec.tally = KernelTally();
  rec.dropped = 0;
  rec.unreadable_buffers = 0;
  rec.running = true;
}

std::vector<KernelStat> stop_kernel_profile() {
  Recording& rec = recording();
  {
    std::lock_guard<std::mutex> lock(rec.mu);
    RS_CHECK(rec.running, DeviceError, "kernel profile", "stop without a running profile");
  }
  // Whatever fails below, the profile is stopped: a later start must not find it running.
  struct StopOnExit {
    Recording& rec;
    ~StopOnExit() {
      std::lock_guard<std::mutex> lock(rec.mu);
      rec.running = false;
    }
  } stop_on_exit{rec};
  // Every queued kernel must have finished for its record to be complete (only the devices this
  // process set up: synchronising another would create a context there). Recording is then
  // disabled, so nothing reaches the buffers after the flush, which hands back every buffer
  // (buffer_completed takes the lock; both calls are made outside it).
  std::exception_ptr failure;
  try {
    for (int d = 0; d < cuda_runtime::device_count(); ++d)
      if (cuda_runtime::in_use(d)) cuda_runtime::synchronize(d);
  } catch (...) {
    failure = std::current_exception();
  }
  set_kinds(false);
  check_cupti(cupti().flush_all(CUPTI_ACTIVITY_FLAG_FLUSH_FORCED), "flush");
  if (failure) std::rethrow_exception(failure);
  std::lock_guard<std::mutex> lock(rec.mu);
  std::vector<KernelStat> stats = rec.tally.stats();
  if (rec.dropped) stats.push_back({"[dropped records]", int64_t(rec.dropped), 0.0, 0.0});
  if (rec.unreadable_buffers)
    stats.push_back({"[buffers with unreadable records]", int64_t(rec.unreadable_buffers), 0.0, 0.0});
  return stats;
}

bool kernel_profile_running() {
  Recording& rec = recording();
  std::lock_guard<std::mutex> lock(rec.mu);
  return rec.running;
}

#else  // built without CUDA, or without CUPTI's headers

constexpr const char* kNoProfiler =
    "[kernel profile] this build has no CUDA backend or was configured without CUPTI's headers (cupti.h)";
void start_kernel_profile() { throw DeviceError(kNoProfiler); }
std::vector<KernelStat> stop_kernel_profile() { throw DeviceError(kNoProfiler); }
bool kernel_profile_running() { return false; }

#endif

namespace {
void print_run_profile() {
  try {
    if (kernel_profile_running())
      std::fprintf(stderr, "kernel profile (RSCAPRET_PROFILE_KERNELS):\n%s",
                   format_kernel_profile(stop_kernel_profile()).c_str());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "kernel profile: %s\n", e.what());
  }
}
}  // namespace

void profile_run_if_requested() {
  static std::once_flag once;
  std::call_once(once, [] {
    const char* v = std::getenv("RSCAPRET_PROFILE_KERNELS");
    if (v == nullptr || *v == '\0' || std::string(v) == "0") return;
    try {
      start_kernel_profile();
      std::atexit(print_run_profile);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "RSCAPRET_PROFILE_KERNELS: %s\n", e.what());
    }
  });
}

}  // namespace rscapret::profile

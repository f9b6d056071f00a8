// Devices, their streams, and host<->device copies through pinned staging buffers.
#include <atomic>
#include <cstring>
#include <memory>
#include <mutex>
#include <vector>

#include "tensor/cuda_check.cuh"
#include "tensor/device_backend.h"
#include "tensor/kernel_profile.h"

namespace rscapret::cuda_runtime {

using detail::check;

namespace {

// Two pinned buffers per device: while the copy engine moves one, the host fills or drains the other.
constexpr size_t kStagingBytes = size_t(8) << 20;
// Small host-to-device copies (positions, masks, token ids, scalars made on the host) go through a
// ring of small pinned slots instead: a slot is reused only kSmallSlots copies later, by when its
// copy has long run, so the host does not wait for the kernels queued before it. Through the big
// buffers, every such copy waited for the GPU to drain the work queued since the previous copy,
// which exposed the host's launch time once per copy.
constexpr size_t kSmallCopyBytes = size_t(64) << 10;
constexpr size_t kSmallSlots = 64;
std::atomic<bool> g_small_copy_ring{true};

struct DeviceState {
  std::once_flag init;
  cudaStream_t stream = nullptr;
  void* staging[2] = {nullptr, nullptr};
  cudaEvent_t staged[2] = {nullptr, nullptr};  // recorded after the copy that last read/wrote staging[i]
  unsigned char* small = nullptr;              // kSmallSlots x kSmallCopyBytes, pinned
  cudaEvent_t small_staged[kSmallSlots] = {};  // recorded after the copy that last read small slot i
  size_t next_small = 0;
  std::mutex copy_mutex;  // the staging buffers are shared by all host threads
  std::atomic<bool> ready{false};  // init done: the device has a context and a stream
};

std::vector<std::unique_ptr<DeviceState>>& states() {
  // Leaked on purpose, as the allocator's cache: copies may run during static destruction.
  static auto* s = [] {
    auto* v = new std::vector<std::unique_ptr<DeviceState>>;
    for (int i = 0; i < device_count(); ++i) v->push_back(std::make_unique<DeviceState>());
    return v;
  }();
  return *s;
}

DeviceState& state(int device) {
  auto& s = states();
  RS_CHECK(device >= 0 && size_t(device) < s.size(), DeviceError, "cuda", "device cuda:", device,
           " requested but ", s.size(), " device(s) present");
  check(cudaSetDevice(device), "cudaSetDevice");
  DeviceState& st = *s[size_t(device)];
  std::call_once(st.init, [&] {
    check(cudaStreamCreateWithFlags(&st.stream, cudaStreamNonBlocking), "cudaStreamCreate");
    for (int i = 0; i < 2; ++i) {
      check(cudaMallocHost(&st.staging[i], kStagingBytes), "cudaMallocHost (staging)");
      check(cudaEventCreateWithFlags(&st.staged[i], cudaEventDisableTiming), "cudaEventCreate");
    }
    void* small = nullptr;
    check(cudaMallocHost(&small, kSmallSlots * kSmallCopyBytes), "cudaMallocHost (small staging)");
    st.small = static_cast<unsigned char*>(small);
    for (cudaEvent_t& e : st.small_staged) check(cudaEventCreateWithFlags(&e, cudaEventDisableTiming), "cudaEventCreate");
    st.ready.store(true, std::memory_order_release);
    profile::profile_run_if_requested();  // once per process (its own flag), after the runtime is up
  });
  return st;
}

}  // namespace

bool available() { return device_count() > 0; }

int device_count() {
  static const int n = [] {
    int count = 0;
    if (cudaGetDeviceCount(&count) != cudaSuccess) {
      cudaGetLastError();  // clear the sticky "no device" error
      return 0;
    }
    return count;
  }();
  return n;
}

void* stream(int device) { return state(device).stream; }

void copy_host_to_device(void* dst, const void* src, size_t nbytes, int device) {
  if (nbytes == 0) return;
  DeviceState& st = state(device);
  std::lock_guard<std::mutex> lock(st.copy_mutex);
  const auto* from = static_cast<const unsigned char*>(src);
  auto* to = static_cast<unsigned char*>(dst);
  if (nbytes <= kSmallCopyBytes && g_small_copy_ring.load(std::memory_order_relaxed)) {
    const size_t slot = st.next_small++ % kSmallSlots;
    check(cudaEventSynchronize(st.small_staged[slot]), "cudaEventSynchronize (H2D small staging)");
    unsigned char* staged = st.small + slot * kSmallCopyBytes;
    std::memcpy(staged, from, nbytes);  // the caller's buffer may be freed once we return
    check(cudaMemcpyAsync(to, staged, nbytes, cudaMemcpyHostToDevice, st.stream), "cudaMemcpyAsync H2D");
    check(cudaEventRecord(st.small_staged[slot], st.stream), "cudaEventRecord");
    return;
  }
  for (size_t done = 0, i = 0; done < nbytes; done += kStagingBytes, i ^= 1) {
    const size_t n = std::min(kStagingBytes, nbytes - done);
    check(cudaEventSynchronize(st.staged[i]), "cudaEventSynchronize (H2D staging)");  // buffer free again
    std::memcpy(st.staging[i], from + done, n);
    check(cudaMemcpyAsync(to + done, st.staging[i], n, cudaMemcpyHostToDevice, st.stream), "cudaMemcpyAsync H2D");
    check(cudaEventRecord(st.staged[i], st.stream), "cudaEventRecord");
  }
}

void set_small_copy_ring(bool on) { g_small_copy_ring.store(on, std::memory_order_relaxed); }

void copy_device_to_host(void* dst, const void* src, size_t nbytes, int device) {
  if (nbytes == 0) return;
  DeviceState& st = state(device);
  std::lock_guard<std::mutex> lock(st.copy_mutex);
  const auto* from = static_cast<const unsigned char*>(src);
  auto* to = static_cast<unsigned char*>(dst);
  const size_t chunks = (nbytes + kStagingBytes - 1) / kStagingBytes;
  auto issue = [&](size_t c) {
    const size_t off = c * kStagingBytes, n = std::min(kStagingBytes, nbytes - off);
    check(cudaMemcpyAsync(st.staging[c & 1], from + off, n, cudaMemcpyDeviceToHost, st.stream), "cudaMemcpyAsync D2H");
    check(cudaEventRecord(st.staged[c & 1], st.stream), "cudaEventRecord");
  };
  issue(0);
  for (size_t c = 0; c < chunks; ++c) {
    if (c + 1 < chunks) issue(c + 1);  // the next chunk moves while this one is drained
    check(cudaEventSynchronize(st.staged[c & 1]), "cudaEventSynchronize (D2H)");
    const size_t off = c * kStagingBytes, n = std::min(kStagingBytes, nbytes - off);
    std::memcpy(to + off, st.staging[c & 1], n);
  }
}

void copy_device_to_device(void* dst, const void* src, size_t nbytes, int device) {
  if (nbytes == 0) return;
  DeviceState& st = state(device);
  check(cudaMemcpyAsync(dst, src, nbytes, cudaMemcpyDeviceToDevice, st.stream), "cudaMemcpyAsync D2D");
}

bool in_use(int device) {
  auto& s = states();
  return device >= 0 && size_t(device) < s.size() && s[size_t(device)]->ready.load(std::memory_order_acquire);
}

void synchronize(int device) { check(cudaStreamSynchronize(state(device).stream), "cudaStreamSynchronize"); }

}  // namespace rscapret::cuda_runtime

// Devices, their streams, and host<->device copies through pinned staging buffers.
#include <cstring>
#include <memory>
#include <mutex>
#include <vector>

#include "tensor/cuda_check.cuh"
#include "tensor/device_backend.h"

namespace rscapret::cuda_runtime {

using detail::check;

namespace {

// Two pinned buffers per device: while the copy engine moves one, the host fills or drains the other.
constexpr size_t kStagingBytes = size_t(8) << 20;

struct DeviceState {
  std::once_flag init;
  cudaStream_t stream = nullptr;
  void* staging[2] = {nullptr, nullptr};
  cudaEvent_t staged[2] = {nullptr, nullptr};  // recorded after the copy that last read/wrote staging[i]
  std::mutex copy_mutex;                       // the staging buffers are shared by all host threads
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

// Known cost, not yet fixed: every call starts at staging buffer 0, so even a small copy waits for
// the GPU to finish whatever was queued before the previous copy through that buffer. Decoding
// makes such copies in every layer (positions, masks), and each one then drains the stream, so the
// host's launch time is no longer hidden behind the GPU's work. A ring of small pinned slots
// would remove the wait; measure the 7B decode (bench/cuda/model_lab.cpp) before and after.
void copy_host_to_device(void* dst, const void* src, size_t nbytes, int device) {
  if (nbytes == 0) return;
  DeviceState& st = state(device);
  std::lock_guard<std::mutex> lock(st.copy_mutex);
  const auto* from = static_cast<const unsigned char*>(src);
  auto* to = static_cast<unsigned char*>(dst);
  for (size_t done = 0, i = 0; done < nbytes; done += kStagingBytes, i ^= 1) {
    const size_t n = std::min(kStagingBytes, nbytes - done);
    check(cudaEventSynchronize(st.staged[i]), "cudaEventSynchronize (H2D staging)");  // buffer free again
    std::memcpy(st.staging[i], from + done, n);
    check(cudaMemcpyAsync(to + done, st.staging[i], n, cudaMemcpyHostToDevice, st.stream), "cudaMemcpyAsync H2D");
    check(cudaEventRecord(st.staged[i], st.stream), "cudaEventRecord");
  }
}

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

void synchronize(int device) { check(cudaStreamSynchronize(state(device).stream), "cudaStreamSynchronize"); }

}  // namespace rscapret::cuda_runtime

// The memory half of a device backend: streams, a caching allocator, host<->device copies. The
// CPU-only build links a stub whose every call throws DeviceError("built without CUDA"), so tensor
// code never needs #ifdefs.
//
// Ordering model: each device has one stream; every kernel and copy of the project is issued on
// it, so work runs in issue order and a freed block can be reused at once (the reuse is ordered
// after every earlier use on the same stream). Copies to the host synchronise that stream.
#pragma once

#include <cstddef>
#include <cstdint>

namespace rscapret::cuda_runtime {

bool available();      // built with CUDA and at least one device present
int device_count();    // 0 without CUDA or without a device

// Makes `device` current and returns its stream (a cudaStream_t, created on first use).
void* stream(int device);

// Device memory from the caching allocator: freed blocks stay cached for reuse; when cudaMalloc
// fails the cache is returned to the driver and the allocation retried once, then DeviceError
// names the size and the allocator's state.
void* allocate(size_t nbytes, int device);
void release(void* ptr, int device) noexcept;
struct MemoryStats {
  size_t allocated = 0;       // bytes handed out now (rounded block sizes)
  size_t cached = 0;          // bytes held free in the cache
  size_t peak_allocated = 0;  // high-water mark of `allocated`
  int64_t device_mallocs = 0; // cudaMalloc calls made (cache misses)
};
MemoryStats memory_stats(int device);
void reset_peak(int device);
void empty_cache(int device);  // returns every cached block to the driver (synchronises first)

// Copies on the device's stream. Host<->device go through two pinned staging buffers (a chunked,
// double-buffered pipeline), so large transfers run at pinned-memory speed; small host-to-device
// copies take one of a ring of small pinned slots and do not wait for the GPU. copy_host_to_device
// returns once the host bytes are consumed, copy_device_to_host once they have arrived.
void copy_host_to_device(void* dst, const void* src, size_t nbytes, int device);
// Whether small host-to-device copies take the ring of slots (default on). Off sends them through
// the big staging buffers, which wait for the queued kernels: a switch for the benchmark that
// measures the difference (bench/cuda/model_lab.cpp) and for the copy test.
void set_small_copy_ring(bool on);
void copy_device_to_host(void* dst, const void* src, size_t nbytes, int device);
void copy_device_to_device(void* dst, const void* src, size_t nbytes, int device);
// Waits for the device's stream and reports any asynchronous kernel fault as DeviceError.
void synchronize(int device);
// Whether this process has set the device up (context, stream); false without CUDA. Lets a caller
// wait for every device the program used without creating contexts on the others.
bool in_use(int device);

}  // namespace rscapret::cuda_runtime

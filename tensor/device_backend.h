// The memory half of a device backend: allocate, free, copy. The CPU-only build links a stub whose
// every call throws DeviceError("built without CUDA"), so tensor code never needs #ifdefs.
#pragma once

#include <cstddef>

namespace rscapret::cuda_runtime {

bool available();      // built with CUDA and at least one device present
int device_count();    // 0 without CUDA or without a device
void* allocate(size_t nbytes, int device);
void release(void* ptr, int device) noexcept;
void copy_host_to_device(void* dst, const void* src, size_t nbytes, int device);
void copy_device_to_host(void* dst, const void* src, size_t nbytes, int device);
void copy_device_to_device(void* dst, const void* src, size_t nbytes, int device);
void synchronize(int device);

}  // namespace rscapret::cuda_runtime

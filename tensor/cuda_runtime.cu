// CUDA memory for Tensor storage: allocate, free, copy. Every CUDA call is checked.
#include <cuda_runtime.h>

#include "tensor/device_backend.h"
#include "tensor/error.h"

namespace rscapret::cuda_runtime {

namespace {
void check(cudaError_t err, const char* what) {
  if (err != cudaSuccess) throw DeviceError(cat("[cuda] ", what, ": ", cudaGetErrorString(err)));
}
void set_device(int device) {
  const int n = device_count();
  RS_CHECK(device >= 0 && device < n, DeviceError, "cuda", "device cuda:", device, " requested but ",
           n, " device(s) present");
  check(cudaSetDevice(device), "cudaSetDevice");
}
}  // namespace

bool available() { return device_count() > 0; }

int device_count() {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    cudaGetLastError();  // clear the sticky "no device" error
    return 0;
  }
  return n;
}

void* allocate(size_t nbytes, int device) {
  set_device(device);
  void* p = nullptr;
  if (nbytes == 0) return nullptr;
  check(cudaMalloc(&p, nbytes), "cudaMalloc");
  return p;
}

void release(void* ptr, int device) noexcept {
  if (!ptr) return;
  cudaSetDevice(device);
  cudaFree(ptr);
}

void copy_host_to_device(void* dst, const void* src, size_t nbytes, int device) {
  set_device(device);
  check(cudaMemcpy(dst, src, nbytes, cudaMemcpyHostToDevice), "cudaMemcpy H2D");
}
void copy_device_to_host(void* dst, const void* src, size_t nbytes, int device) {
  set_device(device);
  check(cudaMemcpy(dst, src, nbytes, cudaMemcpyDeviceToHost), "cudaMemcpy D2H");
}
void copy_device_to_device(void* dst, const void* src, size_t nbytes, int device) {
  set_device(device);
  check(cudaMemcpy(dst, src, nbytes, cudaMemcpyDeviceToDevice), "cudaMemcpy D2D");
}
void synchronize(int device) {
  set_device(device);
  check(cudaDeviceSynchronize(), "cudaDeviceSynchronize");
}

}  // namespace rscapret::cuda_runtime

// Emulated stand-in for kernels/cuda/gemm_ptx.cuh (same names and include guard): the PTX
// wrappers become the emulator's cp.async queue, ldmatrix and mma collectives.
#ifndef RSCAPRET_GEMM_PTX_CUH
#define RSCAPRET_GEMM_PTX_CUH

#include <cuda_runtime.h>

#include <cstdint>

namespace rscapret::kernels::cuda::gemm {

inline uint32_t smem_u32(const void* p) {
  const char* c = static_cast<const char*>(p);
  const simt::State& s = simt::state();
  if (c < s.smem || c > s.smem + s.smem_size) simt::fail("a shared-memory address of a pointer outside shared memory");
  return uint32_t(c - s.smem);
}
inline void cp_async_16(uint32_t dst, const void* src, bool valid) { simt::cp_async(dst, src, valid); }
inline void cp_async_commit() { simt::cp_commit(); }
template <int N>
inline void cp_async_wait() {
  simt::cp_wait(N);
}
inline void ldmatrix_x4(uint32_t& r0, uint32_t& r1, uint32_t& r2, uint32_t& r3, uint32_t addr) {
  simt::me().addr = addr;
  simt::arrive(simt::Op::ldsm);
  const simt::Thread& t = simt::me();
  r0 = t.r[0], r1 = t.r[1], r2 = t.r[2], r3 = t.r[3];
}
inline void ldmatrix_x4_trans(uint32_t& r0, uint32_t& r1, uint32_t& r2, uint32_t& r3, uint32_t addr) {
  simt::me().addr = addr;
  simt::arrive(simt::Op::ldsm_trans);
  const simt::Thread& t = simt::me();
  r0 = t.r[0], r1 = t.r[1], r2 = t.r[2], r3 = t.r[3];
}
inline void mma_bf16_16816(float (&d)[4], const uint32_t (&a)[4], const uint32_t (&b)[2]) {
  simt::Thread& t = simt::me();
  for (int i = 0; i < 4; ++i) t.a[i] = a[i], t.c[i] = d[i];
  t.b[0] = b[0], t.b[1] = b[1];
  simt::arrive(simt::Op::mma);
  for (int i = 0; i < 4; ++i) d[i] = simt::me().d[i];
}

}  // namespace rscapret::kernels::cuda::gemm

#endif  // RSCAPRET_GEMM_PTX_CUH

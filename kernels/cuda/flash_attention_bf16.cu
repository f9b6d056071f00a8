// flash_attention_bf16_forward / _backward: checks the arguments, picks the tile configuration
// for the head dim and launches the kernels of flash_attention_bf16_kernels.cuh on the device's
// stream (flash_attention_bf16_launch.cuh). The backward's delta scratch comes from the caching allocator and is released right
// after the launches (the allocator's reuse is ordered after them on the same stream).
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <initializer_list>
#include <limits>
#include <utility>
#include <vector>

#include "kernels/cuda/cuda_kernels.h"
#include "kernels/cuda/flash_attention_bf16_launch.cuh"
#include "kernels/cuda/flash_attention_bf16_tiles.cuh"
#include "kernels/cuda/launch.cuh"

namespace rscapret::kernels::cuda {

namespace {

using flash::backward_with;
using flash::BwdParams;
using flash::forward_with;
using flash::FwdParams;
using flash::Shape;

// The tile configurations: flash_attention_bf16_tiles.cuh.
template <int D>
using Tiles = flash::ProductionTiles<D>;

Shape make_shape(const char* op, int64_t B, int64_t H, int64_t Hkv, int64_t Tq, int64_t Tk, int64_t D, float scale,
                 bool causal, std::initializer_list<const void*> ptrs) {
  const int64_t imax = std::numeric_limits<int>::max();
  if (D != 64 && D != 128) throw DeviceError(cat("[", op, "] head dim must be 64 or 128, got ", D));
  if (B < 0 || H <= 0 || Hkv <= 0 || H % Hkv != 0 || Tq < 0 || Tk < 0)
    throw DeviceError(cat("[", op, "] invalid shape B=", B, " H=", H, " Hkv=", Hkv, " Tq=", Tq, " Tk=", Tk));
  if (causal && Tq > Tk) throw DeviceError(cat("[", op, "] causal attention needs Tq <= Tk, got ", Tq, " > ", Tk));
  if (B > 65535 || H > 65535 || Tq > imax || Tk > imax || B * H * Tq > imax)  // the delta grid has B H Tq / 8 blocks
    throw DeviceError(cat("[", op, "] shape too large for the launch grid: B=", B, " H=", H, " Tq=", Tq, " Tk=", Tk));
  for (const void* p : ptrs)  // cp.async moves 16-byte chunks
    if (reinterpret_cast<uintptr_t>(p) % 16 != 0) throw DeviceError(cat("[", op, "] tensors must be 16-byte aligned"));
  return Shape{int(B), int(H), int(Hkv), int(Tq), int(Tk), scale, causal};
}

// Device scratch from the caching allocator, released when the launches are queued.
struct Scratch {
  void* ptr;
  int device;
  Scratch(size_t bytes, int dev) : ptr(cuda_runtime::allocate(bytes, dev)), device(dev) {}
  ~Scratch() { cuda_runtime::release(ptr, device); }
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;
};

}  // namespace

void flash_attention_bf16_forward(const uint16_t* q, const uint16_t* k, const uint16_t* v, uint16_t* out,
                                  float* lse, int64_t B, int64_t H, int64_t Hkv, int64_t Tq, int64_t Tk, int64_t D,
                                  float scale, bool causal, int device) {
  const AttentionRowStrides qs{H * Tq * D, Tq * D, D}, kv{Hkv * Tk * D, Tk * D, D};
  flash_attention_bf16_forward_strided(q, qs, k, kv, v, kv, out, qs, lse, B, H, Hkv, Tq, Tk, D, scale, causal, device);
}

namespace {

// Whether (stride, extent) dims address distinct elements: sorted by stride, each dim of extent > 1
// must start past the whole span of the dims below it (a permuted, possibly padded dense layout).
bool strides_do_not_overlap(std::vector<std::pair<int64_t, int64_t>> dims) {
  dims.erase(std::remove_if(dims.begin(), dims.end(), [](const auto& d) { return d.second <= 1; }), dims.end());
  std::sort(dims.begin(), dims.end());
  int64_t span = 1;  // elements covered by the dims so far
  for (const auto& [stride, extent] : dims) {
    if (stride < span) return false;
    span = stride * extent;
  }
  return true;
}

}  // namespace

void flash_attention_bf16_forward_strided(const uint16_t* q, AttentionRowStrides qs, const uint16_t* k,
                                          AttentionRowStrides ks, const uint16_t* v, AttentionRowStrides vs,
                                          uint16_t* out, AttentionRowStrides os, float* lse, int64_t B, int64_t H,
                                          int64_t Hkv, int64_t Tq, int64_t Tk, int64_t D, float scale, bool causal,
                                          int device) {
  const char* op = "flash_attention_bf16_forward";
  // cp.async moves 16-byte chunks (8 elements) of q, k, v from any row; out is written in pairs.
  for (const AttentionRowStrides* st : {&qs, &ks, &vs})
    if (st->b % 8 || st->h % 8 || st->t % 8 || st->t < D)
      throw DeviceError(cat("[", op, "] q, k and v strides must be multiples of 8 elements with rows of at least D"));
  if (os.b % 2 || os.h % 2 || os.t % 2 || os.t < D)
    throw DeviceError(cat("[", op, "] out strides must be even with rows of at least D"));
  if (!strides_do_not_overlap({{os.b, B}, {os.h, H}, {os.t, Tq}, {1, D}}))
    throw DeviceError(cat("[", op, "] out strides (", os.b, ", ", os.h, ", ", os.t, ") would write some elements twice"));
  const FwdParams p{q,
                    k,
                    v,
                    out,
                    lse,
                    make_shape(op, B, H, Hkv, Tq, Tk, D, scale, causal, {q, k, v, out}),
                    {qs.b, qs.h, qs.t},
                    {ks.b, ks.h, ks.t},
                    {vs.b, vs.h, vs.t},
                    {os.b, os.h, os.t}};
  if (int64_t(p.s.B) * p.s.Tq == 0) return;
  const cudaStream_t stream = stream_for(device);
  if (D == 64)
    forward_with<Tiles<64>::Fwd>(p, stream);
  else
    forward_with<Tiles<128>::Fwd>(p, stream);
}

void flash_attention_bf16_backward(const uint16_t* q, const uint16_t* k, const uint16_t* v, const uint16_t* out,
                                   const uint16_t* dout, const float* lse, uint16_t* dq, uint16_t* dk, uint16_t* dv,
                                   int64_t B, int64_t H, int64_t Hkv, int64_t Tq, int64_t Tk, int64_t D, float scale,
                                   bool causal, int device) {
  const char* op = "flash_attention_bf16_backward";
  const Shape s = make_shape(op, B, H, Hkv, Tq, Tk, D, scale, causal, {q, k, v, out, dout, dq, dk, dv});
  if (s.B == 0) return;
  const cudaStream_t stream = stream_for(device);
  // Tq = 0: no delta or dq blocks; every dk, dv block sees no query and writes zeros.
  const int64_t rows = int64_t(s.B) * s.H * s.Tq;
  Scratch delta(size_t(rows > 0 ? rows : 1) * sizeof(float), device);
  const BwdParams p{q, k, v, out, dout, lse, static_cast<float*>(delta.ptr), dq, dk, dv, s};
  if (D == 64)
    backward_with<Tiles<64>::Dq, Tiles<64>::Dkdv>(p, stream);
  else
    backward_with<Tiles<128>::Dq, Tiles<128>::Dkdv>(p, stream);
}

}  // namespace rscapret::kernels::cuda

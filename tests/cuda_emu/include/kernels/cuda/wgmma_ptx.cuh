// Emulated stand-in for kernels/cuda/wgmma_ptx.cuh (same names and include guard): the Hopper GEMM's
// mbarriers, TMA tensor copies and warpgroup MMAs on the host emulator (../../../simt.h), so that
// gemm_bf16_wgmma.cuh (its kernel, its descriptor builders and its launcher) runs unchanged.
//
// The model follows the PTX ISA, not the kernel:
// - shared addresses: the dynamic shared memory starts at kDynBase (as if 128 bytes of static shared
//   variables came first, so the kernel's round-up to a 1024-byte boundary is exercised); the static
//   __shared__ mbarrier arrays (host statics here) get ids from kStaticBase, outside the 18-bit range
//   descriptors and copies can name, so no descriptor or copy can reach them;
// - mbarrier: expected count, pending arrivals, transaction count, phase; a phase completes when
//   no arrival and no transaction byte is pending; try_wait.parity(P) is true once the phase of
//   parity P has completed (the current phase's parity differs from P); a waiting thread yields to
//   the scheduler, which fails the launch when every live thread spins and nothing changes;
// - cp.async.bulk.tensor.2d with the 128-byte swizzle: the box written row by row (128 bytes each),
//   each 16-byte chunk at its address XOR (address bits 7-9 into bits 4-6), elements outside the
//   tensor zero-filled, the full box's bytes completed on the mbarrier when it lands: as late as
//   the hardware may, at the next wait on that barrier (simt::Timing's lazy copies, the default),
//   or at issue;
// - wgmma.mma_async m64nNk16 f32 += bf16 x bf16 with both operands from shared memory: the
//   descriptor's start, leading and stride byte offsets, base offset and layout type decoded; the
//   canonical layouts of the 128-byte swizzle (K-major ((8,m),(T,2k)):((8T,SBO),(1,T)), MN-major
//   ((T,8,m),(8,k)):((1,T,LBO),(8T,SBO)), T = 8 bf16 elements) followed by the same address swizzle;
//   thread (warp w, lane l) of the warpgroup holds rows 16w + l/4 (+8) and columns 8j + 2(l%4) + {0,1}
//   as d[4j + 2h + c]. Products run at the wgmma.wait_group that retires their group (the latest the
//   hardware may read shared memory), after the waiting thread has let every other thread run once,
//   so a stage released before its reads retire is refilled first, and a stage read without its
//   full-barrier wait still holds its old bytes: either way the result shows it.
// Anything else (other swizzles, a non-zero base offset, a pattern not starting on a 1024-byte
// boundary, barriers in dynamic shared memory, unaligned copies) fails the launch rather than being
// guessed. Not modelled: the immediate scale-a/scale-b/transpose-a operands (fixed in the kernel's
// asm strings, which this header replaces), clusters, the async proxy's fences.
#ifndef RSCAPRET_WGMMA_PTX_CUH
#define RSCAPRET_WGMMA_PTX_CUH

#include <cuda.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <utility>
#include <vector>

#define RSCAPRET_WGMMA_TMA_DEVICE 1

namespace simt::wgmma {

constexpr uint32_t kDynBase = 128;
constexpr uint32_t kStaticBase = 1u << 20;

// A TMA box read from global memory, not yet written to shared memory (see tma_load_2d).
struct InFlightBox {
  uint32_t dst;                 // shared address of the box's first byte (before the swizzle)
  uint32_t row_elems;           // box width
  std::vector<uint16_t> elems;  // row-major, zeros outside the tensor
};
struct Mbarrier {
  bool init = false;
  uint32_t expected = 0, pending = 0, phase = 0;
  int64_t tx = 0;
  std::vector<InFlightBox> in_flight;  // copies completing on this barrier, landing at its next wait
};
struct Product {
  int n, tnsp_b;
  uint64_t da, db;
  int scale_d;
  float* d;
};
struct ThreadState {
  bool fenced = false;
  size_t issued = 0;
  std::vector<Product> open;
  std::vector<std::vector<Product>> groups;
};
// One block's state: blocks run one after another, so it is reset when the block changes.
struct Block {
  long long launch = -1;
  unsigned bx = 0, by = 0, bz = 0;
  std::vector<const void*> statics;  // static __shared__ objects, by id
  std::vector<Mbarrier> bars;
  std::vector<ThreadState> threads;
  std::vector<std::vector<Product>> issues;  // per warpgroup: what its first thread issued (uniformity)
};
inline Block& block() {
  static Block b;
  const State& s = state();
  if (b.launch != s.launches || b.bx != blockIdx.x || b.by != blockIdx.y || b.bz != blockIdx.z) {
    b = Block{};
    b.launch = s.launches;
    b.bx = blockIdx.x, b.by = blockIdx.y, b.bz = blockIdx.z;
    b.threads.resize(blockDim.x);
    b.issues.resize((blockDim.x + 127) / 128);
  }
  return b;
}

// A thread may not exit with wgmma work issued and not retired (wait_group 0): its accumulators
// would be read by the epilogue before the products land.
inline void check_retired_at_exit() {
  const ThreadState& t = block().threads[threadIdx.x];
  if (!t.open.empty() || !t.groups.empty()) fail("a thread exits with wgmma groups not retired");
}
inline const bool exit_check_registered = (exit_checks().push_back(&check_retired_at_exit), true);

inline uint32_t shared_address(const void* p) {
  const char* c = static_cast<const char*>(p);
  const State& s = state();
  if (c >= s.smem && c <= s.smem + s.smem_size) return kDynBase + uint32_t(c - s.smem);
  // Otherwise a static __shared__ object (a host static in the emulation): the kernel's mbarriers.
  if (reinterpret_cast<uintptr_t>(p) % 8) fail("shared address of an object that is not 8-byte aligned");
  Block& b = block();
  for (size_t i = 0; i < b.statics.size(); ++i)
    if (b.statics[i] == p) return kStaticBase + 8 * uint32_t(i);
  b.statics.push_back(p);
  b.bars.emplace_back();
  return kStaticBase + 8 * uint32_t(b.statics.size() - 1);
}
inline Mbarrier& mbarrier(uint32_t addr, bool need_init = true) {
  Block& b = block();
  const uint32_t i = (addr - kStaticBase) / 8;
  if (addr < kStaticBase || addr % 8 || i >= b.bars.size())
    fail("mbarrier operation at shared address %#x: not a static mbarrier object (others are not modelled)", addr);
  if (need_init && !b.bars[i].init) fail("mbarrier at %#x used before mbarrier.init", addr);
  return b.bars[i];
}
inline void complete_if_done(Mbarrier& m) {
  if (m.pending == 0 && m.tx == 0) {
    m.phase ^= 1u;
    m.pending = m.expected;
  }
}
// Bytes of the dynamic shared memory at a shared address (checked against the launch's size).
inline char* dyn(uint32_t addr, uint32_t bytes, const char* what) {
  const State& s = state();
  if (addr < kDynBase || addr - kDynBase + bytes > s.smem_size)
    fail("%s at shared address %#x (+%u bytes): outside the dynamic shared memory (%zu bytes at %#x)", what, addr,
         bytes, s.smem_size, kDynBase);
  return s.smem + (addr - kDynBase);
}
// The 128-byte swizzle (Swizzle<3,4,3> on byte addresses): bits 7-9 XORed into bits 4-6.
inline uint32_t swizzle128(uint32_t a) { return a ^ ((a & 0x380u) >> 3); }

struct Desc {
  uint32_t start, lbo, sbo;
};
inline Desc decode(uint64_t d, const char* which) {
  const uint32_t layout = uint32_t(d >> 62), base_offset = uint32_t(d >> 49) & 7u;
  if (layout != 1)
    fail("wgmma %s descriptor: layout type %u (only 1, the 128-byte swizzle, is modelled)", which, layout);
  if (base_offset != 0) fail("wgmma %s descriptor: base offset %u (only 0 is modelled)", which, base_offset);
  const Desc r{uint32_t(d & 0x3FFF) << 4, uint32_t((d >> 16) & 0x3FFF) << 4, uint32_t((d >> 32) & 0x3FFF) << 4};
  // With base offset 0 the swizzle pattern must start on a 1024-byte boundary.
  if (r.start & 0x380u)
    fail("wgmma %s descriptor: start %#x is not in the first 128 bytes of a 1024-byte pattern (base offset 0)", which,
         r.start);
  return r;
}
inline double smem_bf16(uint32_t unswizzled, const char* what) {
  uint16_t h;
  std::memcpy(&h, dyn(swizzle128(unswizzled), 2, what), 2);
  return bf16_value(h);
}
// K-major element (row, k) of a 128-byte-swizzled operand: ((8,m),(T,2k)):((8T,SBO),(1,T)).
inline uint32_t k_major(const Desc& d, int row, int k) {
  return d.start + uint32_t(row / 8) * d.sbo + uint32_t(row % 8) * 128 + uint32_t(k / 8) * 16 + uint32_t(k % 8) * 2;
}
// MN-major element (k, mn): ((T,8,m),(8,k)):((1,T,LBO),(8T,SBO)).
inline uint32_t mn_major(const Desc& d, int k, int mn) {
  return d.start + uint32_t(mn / 64) * d.lbo + uint32_t(mn % 64) * 2 + uint32_t(k / 8) * d.sbo + uint32_t(k % 8) * 128;
}

// This thread's share of one m64nNk16 product: its rows of A times its columns of B, added to d.
inline void execute(const Product& p) {
  const Desc a = decode(p.da, "A"), b = decode(p.db, "B");
  const int tid = int(threadIdx.x % 128), w = tid / 32, lane = tid % 32;
  double av[2][16];
  for (int h = 0; h < 2; ++h)
    for (int k = 0; k < 16; ++k) av[h][k] = smem_bf16(k_major(a, 16 * w + lane / 4 + 8 * h, k), "wgmma A read");
  for (int j = 0; j < p.n / 8; ++j)
    for (int c = 0; c < 2; ++c) {
      const int col = 8 * j + 2 * (lane % 4) + c;
      double bv[16];
      for (int k = 0; k < 16; ++k)
        bv[k] = smem_bf16(p.tnsp_b ? mn_major(b, k, col) : k_major(b, col, k), "wgmma B read");
      for (int h = 0; h < 2; ++h) {
        double s = 0;
        for (int k = 0; k < 16; ++k) s += av[h][k] * bv[k];
        float& d = p.d[4 * j + 2 * h + c];
        d = float((p.scale_d ? double(d) : 0.0) + s);
      }
    }
}

inline void issue(int n, int tnsp_b, uint64_t da, uint64_t db, int scale_d, float* d) {
  Block& blk = block();
  ThreadState& t = blk.threads[threadIdx.x];
  if (!t.fenced) fail("wgmma.mma_async without a wgmma.fence before it");
  const Product p{n, tnsp_b, da, db, scale_d, d};
  // Every thread of the warpgroup issues the same operation (.sync.aligned).
  std::vector<Product>& log = blk.issues[threadIdx.x / 128];
  if (t.issued < log.size()) {
    const Product& q = log[t.issued];
    if (q.n != n || q.tnsp_b != tnsp_b || q.da != da || q.db != db || q.scale_d != scale_d)
      fail("wgmma.mma_async %zu differs between threads of warpgroup %u", t.issued, threadIdx.x / 128);
  } else {
    log.push_back(p);
  }
  ++t.issued;
  t.open.push_back(p);
  ++state().progress;
}

}  // namespace simt::wgmma

namespace rscapret::kernels::cuda::wgmma_tma {

namespace dev {

inline uint8_t* dynamic_smem_1024() { return reinterpret_cast<uint8_t*>(simt::state().smem); }
inline uint32_t smem_addr(const void* p) { return simt::wgmma::shared_address(p); }

inline void mbar_init(uint32_t bar, uint32_t count) {
  if (count == 0 || count >= (1u << 20)) simt::fail("mbarrier.init with count %u", count);
  simt::wgmma::Mbarrier& m = simt::wgmma::mbarrier(bar, false);
  m = simt::wgmma::Mbarrier{true, count, count, 0, 0};
  ++simt::state().progress;
}
inline void mbar_arrive(uint32_t bar) {
  simt::wgmma::Mbarrier& m = simt::wgmma::mbarrier(bar);
  if (m.pending == 0) simt::fail("mbarrier at %#x: an arrival past the expected count", bar);
  --m.pending;
  simt::wgmma::complete_if_done(m);
  ++simt::state().progress;
}
inline void mbar_arrive_expect_tx(uint32_t bar, uint32_t bytes) {
  simt::wgmma::mbarrier(bar).tx += bytes;
  mbar_arrive(bar);
}
inline void fence_mbarrier_init() {}  // the emulated barriers are visible to every thread once initialised

inline void prefetch_tensormap(const CUtensorMap* map) { (void)simt::tensor_map(map); }

// Writes a box into shared memory with the 128-byte swizzle and completes its bytes on `m`.
inline void land(simt::wgmma::Mbarrier& m, const simt::wgmma::InFlightBox& box) {
  for (uint32_t i = 0; i < box.elems.size(); ++i) {
    const uint32_t a = simt::wgmma::swizzle128(box.dst + 2 * i);
    std::memcpy(simt::wgmma::dyn(a, 2, "TMA write"), &box.elems[i], 2);
  }
  m.tx -= int64_t(box.elems.size()) * 2;
  simt::wgmma::complete_if_done(m);
  ++simt::state().progress;
}

// The global rows are read (and checked against the registered buffers) at issue; the box reaches
// shared memory as late as the hardware may: when a thread next waits on its barrier (with
// simt::Timing's lazy_copies, the default), so a read of a stage not ordered after that wait sees
// the stage's old bytes. With lazy_copies off it lands at once.
inline void tma_load_2d(uint32_t dst, const CUtensorMap* map, uint32_t bar, int c0, int c1) {
  const simt::TensorMap2D t = simt::tensor_map(map);
  if (dst % 1024)
    simt::fail("TMA box with the 128-byte swizzle at shared address %#x: only 1024-byte aligned boxes are modelled",
               dst);
  simt::wgmma::InFlightBox box{dst, t.box[0], std::vector<uint16_t>(size_t(t.box[0]) * t.box[1], 0)};
  simt::wgmma::dyn(dst, uint32_t(box.elems.size() * 2), "TMA destination");
  for (uint32_t r = 0; r < t.box[1]; ++r) {
    const int64_t y = int64_t(c1) + r;
    const bool row_in = y >= 0 && y < int64_t(t.dims[1]);
    // The in-bounds part of the row is read from global memory (and must lie in a registered buffer).
    const int64_t x_lo = std::max<int64_t>(c0, 0), x_hi = std::min<int64_t>(int64_t(c0) + t.box[0], int64_t(t.dims[0]));
    const char* row = t.base + y * int64_t(t.row_bytes);
    if (row_in && x_lo < x_hi) simt::check_global(row + x_lo * 2, size_t(x_hi - x_lo) * 2, "TMA source row");
    for (int64_t x = x_lo; row_in && x < x_hi; ++x)
      std::memcpy(&box.elems[size_t(r) * t.box[0] + size_t(x - c0)], row + x * 2, 2);
  }
  simt::wgmma::Mbarrier& m = simt::wgmma::mbarrier(bar);
  if (simt::state().lazy_copies)
    m.in_flight.push_back(std::move(box));
  else
    land(m, box);
}

// Lands the copies in flight on the barrier first (they land at the latest here), then spins.
inline void mbar_wait(uint32_t bar, uint32_t parity) {
  while (true) {
    simt::wgmma::Mbarrier& m = simt::wgmma::mbarrier(bar);  // (again after a yield: the table may grow)
    for (const simt::wgmma::InFlightBox& box : m.in_flight) land(m, box);
    m.in_flight.clear();
    if (m.phase != (parity & 1u)) break;
    simt::yield();
  }
  ++simt::state().progress;
}
inline void wgmma_fence() { simt::wgmma::block().threads[threadIdx.x].fenced = true; }
inline void wgmma_commit() {
  simt::wgmma::ThreadState& t = simt::wgmma::block().threads[threadIdx.x];
  t.groups.push_back(std::move(t.open));
  t.open.clear();
}
template <int N>
inline void wgmma_wait() {
  simt::yield();  // every other thread runs before this group's shared-memory reads happen
  simt::wgmma::ThreadState& t = simt::wgmma::block().threads[threadIdx.x];
  while (t.groups.size() > size_t(N)) {
    for (const simt::wgmma::Product& p : t.groups.front()) simt::wgmma::execute(p);
    t.groups.erase(t.groups.begin());
    ++simt::state().progress;
  }
}
template <int R>
inline void setmaxnreg_inc() {
  static_assert(R >= 24 && R <= 256 && R % 8 == 0, "setmaxnreg range");
}
template <int R>
inline void setmaxnreg_dec() {
  static_assert(R >= 24 && R <= 256 && R % 8 == 0, "setmaxnreg range");
}

template <int kTnspB>
inline void wgmma_m64n128k16(float (&d)[64], uint64_t desc_a, uint64_t desc_b, int scale_d) {
  simt::wgmma::issue(128, kTnspB, desc_a, desc_b, scale_d, d);
}
template <int kTnspB>
inline void wgmma_m64n256k16(float (&d)[128], uint64_t desc_a, uint64_t desc_b, int scale_d) {
  simt::wgmma::issue(256, kTnspB, desc_a, desc_b, scale_d, d);
}
}  // namespace dev

// The emulator runs whole warps: a smaller block (the launcher's one-thread probe) runs as one warp
// whose extra lanes exit at once.
template <typename... Params, typename... Args>
inline void launch_unchecked(void (*kernel)(Params...), dim3 grid, dim3 block, size_t smem, cudaStream_t,
                             Args&&... args) {
  const unsigned n = block.x;
  if (n < 32 && block.y == 1 && block.z == 1)
    simt::launch(grid, dim3(32), smem, [&] {
      if (threadIdx.x < n) kernel(args...);
    });
  else
    simt::launch(
        grid, block, smem, [&] { kernel(args...); }, false, reinterpret_cast<const void*>(kernel));
}

}  // namespace rscapret::kernels::cuda::wgmma_tma

#endif  // RSCAPRET_WGMMA_PTX_CUH

// A host emulator of the CUDA execution model, small enough to read, for running our kernels'
// own source on a machine without a GPU (the tests in this folder). One fiber (ucontext) per
// thread of a block, run until each reaches a collective: warp shuffles, ldmatrix and the
// m16n8k16 bf16 mma are resolved when all 32 lanes of the warp have arrived (divergence at a
// collective is an error), __syncthreads when every live thread of the block has. Two
// adversarial timings expose missing synchronisation as a difference in results: cp.async copies
// land at cp.async.wait_group (`lazy_copies`, the latest the hardware may) with the warps in
// lockstep, which breaks a read not ordered after its copy; or land when issued with each warp
// running alone up to its next barrier (`warp_serial`), which breaks a refill of shared memory
// that another warp is still reading. Every global address a copy or a load reads is checked against the buffers the
// test registered, every shared-memory address against the launch's dynamic shared memory, which starts as 0xff bytes
// (bf16 NaN): a read of a slot nobody wrote shows in the result.
//
// What it is not: a timing model, or proof of the hardware's semantics. The fragment layouts of
// ldmatrix and mma are the PTX ISA's, and the kernels that were verified on a GPU reproduce a
// double-precision reference through them, which is what makes the emulation worth trusting for
// the kernels that were not.
#pragma once

#include <ucontext.h>

#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

struct dim3 {
  unsigned x, y, z;
  constexpr dim3(unsigned x_ = 1, unsigned y_ = 1, unsigned z_ = 1) : x(x_), y(y_), z(z_) {}
};
inline dim3 threadIdx, blockIdx, gridDim, blockDim;

namespace simt {

// A kernel that breaks the execution model (an unaligned copy, an address outside every buffer,
// divergence at a collective, a deadlock): the test fails with the message; the process is left
// usable for the next case.
struct Violation : std::runtime_error {
  using std::runtime_error::runtime_error;
};
[[noreturn]] inline void fail(const char* fmt, ...) {
  char buf[512];
  va_list ap;
  va_start(ap, fmt);
  std::vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  throw Violation(buf);
}

// yield: the thread steps aside (a spin on an mbarrier, or an asynchronous operation's completion
// point) and runs again next round; a round in which only yielding threads ran and nothing changed
// (State::progress) is a deadlock.
enum class Op { none, shfl, ballot, ldsm, ldsm_trans, mma, warp_sync, sync, yield };
struct Copy {
  uint32_t dst;
  const char* src;
  bool valid;
};
struct Thread {
  ucontext_t ctx;
  std::vector<char> stack;
  Op op = Op::none;
  bool done = false;
  bool waited = false;           // has called griddepcontrol.wait (wait_for_predecessor)
  uint32_t v_in = 0, v_out = 0;  // shfl, ballot
  int src_lane = 0;
  uint32_t addr = 0, r[4] = {};   // ldmatrix
  uint32_t a[4] = {}, b[2] = {};  // mma
  float c[4] = {}, d[4] = {};
  std::vector<std::vector<Copy>> groups;  // committed cp.async groups, oldest first
  std::vector<Copy> open;                 // issued, not yet committed
};

struct State {
  ucontext_t scheduler;
  std::vector<Thread> threads;
  int current = -1;
  std::vector<char> smem_storage;
  char* smem = nullptr;
  size_t smem_size = 0;
  bool lazy_copies = true;   // else copies land when issued
  bool warp_serial = false;  // one warp at a time runs to its next barrier; else warps in lockstep
  const std::function<void()>* body = nullptr;
  // The launch is a programmatic dependent: its predecessor may still be running, so every thread
  // must wait (wait_for_predecessor) before it reads global memory through a checked load.
  bool dependent = false;
  std::string error;  // a Violation thrown inside a fiber, rethrown by the launch
  struct Buffer {
    const char* lo;
    size_t bytes;
  };
  std::vector<Buffer> buffers;
  long long launches = 0;  // (a test checks that refused calls launch nothing)
  std::vector<std::pair<const void*, size_t>> smem_opt_in;  // cudaFuncSetAttribute's, per kernel
  // Bumped by every state change a yielding thread may be waiting for (mbarrier arrivals, completed
  // transactions, passed waits, retired asynchronous work): the scheduler's deadlock test.
  unsigned long long progress = 0;
};
inline State& state() {
  static State s;
  return s;
}

// Sets the timing for its scope (the default, lazy copies with warps in lockstep, after it).
struct Timing {
  Timing(bool lazy_copies, bool warp_serial) {
    state().lazy_copies = lazy_copies;
    state().warp_serial = warp_serial;
  }
  ~Timing() {
    state().lazy_copies = true;
    state().warp_serial = false;
  }
  Timing(const Timing&) = delete;
  Timing& operator=(const Timing&) = delete;
};

// Global memory a kernel may touch: everything else is an out-of-bounds access.
inline void register_buffer(const void* p, size_t bytes) {
  state().buffers.push_back({static_cast<const char*>(p), bytes});
}
inline void clear_buffers() { state().buffers.clear(); }
inline void unregister_buffer(const void* p) {
  auto& b = state().buffers;
  for (size_t i = b.size(); i-- > 0;)
    if (b[i].lo == p) {
      b.erase(b.begin() + long(i));
      return;
    }
}
inline Thread& me();
inline void check_global(const void* p, size_t bytes, const char* what) {
  if (state().dependent && !me().waited) fail("%s before wait_for_predecessor in a dependent launch", what);
  const char* c = static_cast<const char*>(p);
  for (const State::Buffer& b : state().buffers)
    if (c >= b.lo && c + bytes <= b.lo + b.bytes) return;
  fail("%s: global address %p (+%zu bytes) is outside every buffer", what, p, bytes);
}

inline Thread& me() { return state().threads[size_t(state().current)]; }
// A copy between overlapping ranges is undefined in CUDA's memcpy calls.
inline void check_disjoint(const void* dst, const void* src, size_t bytes, const char* what) {
  const char *d = static_cast<const char*>(dst), *c = static_cast<const char*>(src);
  if (bytes && d < c + bytes && c < d + bytes) fail("%s between overlapping ranges", what);
}
// Parks the calling thread at a collective until the scheduler resolves it.
inline void arrive(Op op) {
  me().op = op;
  swapcontext(&me().ctx, &state().scheduler);
}
// Lets every other thread run once before the caller continues (not a collective: lanes of one warp
// may yield at different times, as in a spin loop only some of them run).
inline void yield() { arrive(Op::yield); }

inline void land(const Copy& c) {
  State& s = state();
  if (c.dst % 16 || c.dst + 16 > s.smem_size) fail("cp.async to shared offset %u (of %zu bytes)", c.dst, s.smem_size);
  if (c.valid)
    std::memcpy(s.smem + c.dst, c.src, 16);
  else
    std::memset(s.smem + c.dst, 0, 16);
}
inline void cp_async(uint32_t dst, const void* src, bool valid) {
  if (reinterpret_cast<uintptr_t>(src) % 16) fail("cp.async source %p is not 16-byte aligned", src);
  check_global(src, 16, "cp.async source");  // read or not, the address must be valid
  const Copy c{dst, static_cast<const char*>(src), valid};
  if (state().lazy_copies)
    me().open.push_back(c);
  else
    land(c);
}
inline void cp_commit() {
  if (!state().lazy_copies) return;
  me().groups.push_back(std::move(me().open));
  me().open.clear();
}
inline void cp_wait(int in_flight) {
  auto& g = me().groups;
  while (int(g.size()) > in_flight) {
    for (const Copy& c : g.front()) land(c);
    g.erase(g.begin());
  }
}

inline uint16_t smem16(uint32_t off) {
  if (off + 2 > state().smem_size) fail("shared read at %u (of %zu bytes)", off, state().smem_size);
  uint16_t v;
  std::memcpy(&v, state().smem + off, 2);
  return v;
}
inline double bf16_value(uint16_t h) {
  const uint32_t u = uint32_t(h) << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

// One warp's collective, every lane arrived with the same op.
inline void resolve(Thread* L) {
  const Op op = L[0].op;
  for (int l = 0; l < 32; ++l)
    if (L[l].op != op) fail("warp divergence at a collective (lane %d)", l);
  if (op == Op::warp_sync) {
    // __syncwarp: every lane has arrived; nothing to exchange.
  } else if (op == Op::shfl) {
    for (int l = 0; l < 32; ++l) L[l].v_out = L[L[l].src_lane & 31].v_in;
  } else if (op == Op::ballot) {  // every lane receives the mask of the lanes whose predicate is set
    uint32_t mask = 0;
    for (int l = 0; l < 32; ++l) mask |= uint32_t(L[l].v_in != 0) << l;
    for (int l = 0; l < 32; ++l) L[l].v_out = mask;
  } else if (op == Op::ldsm || op == Op::ldsm_trans) {
    // x4: lanes 8i..8i+7 give the row addresses of matrix i; each lane receives, of matrix i,
    // row l/4 columns 2(l%4), +1 (or, transposed, rows 2(l%4), +1 of column l/4).
    for (int l = 0; l < 32; ++l)
      if (L[l].addr % 16 || L[l].addr + 16 > state().smem_size) fail("ldmatrix row address %u", L[l].addr);
    for (int l = 0; l < 32; ++l)
      for (int i = 0; i < 4; ++i) {
        uint16_t lo, hi;
        if (op == Op::ldsm) {
          const uint32_t row = L[8 * i + l / 4].addr;
          lo = smem16(row + 4 * (l % 4));
          hi = smem16(row + 4 * (l % 4) + 2);
        } else {
          lo = smem16(L[8 * i + 2 * (l % 4)].addr + 2 * (l / 4));
          hi = smem16(L[8 * i + 2 * (l % 4) + 1].addr + 2 * (l / 4));
        }
        L[l].r[i] = uint32_t(lo) | (uint32_t(hi) << 16);
      }
  } else if (op == Op::mma) {
    // m16n8k16, A row-major, B column-major, f32 accumulate (summed here in double, then rounded:
    // the tensor cores' own order is unspecified, so tests compare with tolerances or with the
    // same kernel's other layouts, never with bits of another kernel).
    double A[16][16], B[16][8];
    for (int l = 0; l < 32; ++l) {
      const int g = l / 4, t = l % 4;
      for (int j = 0; j < 2; ++j) {
        A[g][2 * t + j] = bf16_value(uint16_t(L[l].a[0] >> (16 * j)));
        A[g + 8][2 * t + j] = bf16_value(uint16_t(L[l].a[1] >> (16 * j)));
        A[g][2 * t + 8 + j] = bf16_value(uint16_t(L[l].a[2] >> (16 * j)));
        A[g + 8][2 * t + 8 + j] = bf16_value(uint16_t(L[l].a[3] >> (16 * j)));
        B[2 * t + j][g] = bf16_value(uint16_t(L[l].b[0] >> (16 * j)));
        B[2 * t + 8 + j][g] = bf16_value(uint16_t(L[l].b[1] >> (16 * j)));
      }
    }
    for (int l = 0; l < 32; ++l) {
      const int g = l / 4, t = l % 4;
      for (int e = 0; e < 4; ++e) {
        const int row = g + 8 * (e >> 1), col = 2 * t + (e & 1);
        double s = L[l].c[e];
        for (int k = 0; k < 16; ++k) s += A[row][k] * B[k][col];
        L[l].d[e] = float(s);
      }
    }
  }
  for (int l = 0; l < 32; ++l) L[l].op = Op::none;
}

// Checks on a thread that has finished its kernel, from the models of other asynchronous units
// (the emulated wgmma: no group may still be in flight).
inline std::vector<void (*)()>& exit_checks() {
  static std::vector<void (*)()> checks;
  return checks;
}

inline void fiber_entry() {
  State& s = state();
  try {
    (*s.body)();
    if (!me().open.empty()) fail("a thread exits with uncommitted cp.async copies");
    for (const auto& g : me().groups)
      if (!g.empty()) fail("a thread exits with cp.async copies in flight");
    for (void (*check)() : exit_checks()) check();
  } catch (const Violation& v) {
    if (s.error.empty()) s.error = v.what();
  }
  me().done = true;
}

// Runs fn (the kernel with its arguments bound) over the grid, block by block. dependent: launched
// as a programmatic dependent (see State::dependent).
// A launch configuration the device (compute capability 9.0) would refuse fails here: an empty
// grid, more than 1024 threads, grid y or z past 65535, more dynamic shared memory than 227 KB,
// or more than 48 KB without the kernel's opt-in (cudaFuncSetAttribute; checked when the launch
// names its kernel).
inline void check_configuration(const void* kernel, dim3 grid, dim3 block, size_t smem_bytes) {
  if (grid.x == 0 || grid.y == 0 || grid.z == 0) fail("launch with an empty grid (%u, %u, %u)", grid.x, grid.y, grid.z);
  if (grid.y > 65535 || grid.z > 65535) fail("grid (%u, %u, %u): y and z are at most 65535", grid.x, grid.y, grid.z);
  if (block.x * block.y * block.z > 1024) fail("%u threads per block: at most 1024", block.x * block.y * block.z);
  if (smem_bytes > 227 * 1024) fail("%zu bytes of dynamic shared memory: at most 227 KB", smem_bytes);
  if (kernel && smem_bytes > 48 * 1024) {
    size_t allowed = 48 * 1024;
    for (const auto& [k, bytes] : state().smem_opt_in)
      if (k == kernel) allowed = bytes;
    if (smem_bytes > allowed)
      fail("%zu bytes of dynamic shared memory, %zu allowed: the kernel needs its opt-in", smem_bytes, allowed);
  }
}

// kernel: the launched function, for the opt-in check (null: not checked).
inline void launch(dim3 grid, dim3 block, size_t smem_bytes, const std::function<void()>& fn, bool dependent = false,
                   const void* kernel = nullptr) {
  State& s = state();
  s.dependent = dependent;
  check_configuration(kernel, grid, block, smem_bytes);
  if (block.y != 1 || block.z != 1 || block.x % 32) fail("blocks must be 1-D whole warps, got %u", block.x);
  ++s.launches;
  gridDim = grid;
  blockDim = block;
  s.body = &fn;
  s.error.clear();
  const unsigned n = block.x;
  for (unsigned z = 0; z < grid.z; ++z)
    for (unsigned y = 0; y < grid.y; ++y)
      for (unsigned x = 0; x < grid.x; ++x) {
        blockIdx = dim3(x, y, z);
        s.smem_size = smem_bytes ? smem_bytes : 16;
        s.smem_storage.assign((s.smem_size + 127) / 128 * 128 + 128, char(0xff));
        s.smem = s.smem_storage.data() + (128 - reinterpret_cast<uintptr_t>(s.smem_storage.data()) % 128) % 128;
        s.threads.assign(n, Thread{});
        for (Thread& t : s.threads) {
          t.stack.resize(256 * 1024);
          getcontext(&t.ctx);
          t.ctx.uc_stack.ss_sp = t.stack.data();
          t.ctx.uc_stack.ss_size = t.stack.size();
          t.ctx.uc_link = &s.scheduler;
          makecontext(&t.ctx, fiber_entry, 0);
        }
        while (true) {
          unsigned only_warp = ~0u;  // warp_serial: the first warp with a thread not at the barrier
          for (unsigned i = 0; s.warp_serial && i < n && only_warp == ~0u; ++i)
            if (!s.threads[i].done && s.threads[i].op != Op::sync && s.threads[i].op != Op::yield) only_warp = i / 32;
          const unsigned long long progress_before = s.progress;
          bool moved = false;  // a thread ran from Op::none, or a yielding one went on to something else
          for (unsigned i = 0; i < n; ++i) {
            const bool yielded = s.threads[i].op == Op::yield;
            if (!s.threads[i].done && (s.threads[i].op == Op::none || yielded) &&
                (only_warp == ~0u || i / 32 == only_warp)) {
              s.threads[i].op = Op::none;
              s.current = int(i);
              threadIdx = dim3(i);
              swapcontext(&s.scheduler, &s.threads[i].ctx);
              moved = moved || !yielded || s.threads[i].op != Op::yield;
            }
          }
          // A violation ends the launch once every fiber is parked or done (none is left running).
          if (!s.error.empty()) {
            s.threads.clear();
            throw Violation(s.error);
          }
          bool all_done = true, resolved = false;
          for (const Thread& t : s.threads) all_done = all_done && t.done;
          if (all_done) break;
          for (unsigned w = 0; w < n / 32; ++w) {
            Thread* L = &s.threads[32 * w];
            int waiting = 0, exited = 0;
            for (int l = 0; l < 32; ++l) {
              waiting += L[l].op != Op::none && L[l].op != Op::sync && L[l].op != Op::yield;
              exited += L[l].done;
            }
            if (waiting == 32) {
              resolve(L);
              resolved = true;
            } else if (waiting > 0 && exited > 0) {
              s.threads.clear();
              fail("a warp collective with lanes that have exited (block %u,%u,%u warp %u)", x, y, z, w);
            }
          }
          bool runnable = false;  // warp_serial: a warp not yet run up to the barrier
          for (const Thread& t : s.threads) runnable = runnable || (!t.done && t.op == Op::none);
          if (resolved || runnable) continue;
          bool yielding = false;  // threads that run again next round, if anything changed
          for (const Thread& t : s.threads) yielding = yielding || (!t.done && t.op == Op::yield);
          if (yielding && (moved || s.progress != progress_before)) continue;
          if (yielding) {
            s.threads.clear();
            fail("deadlock in block %u,%u,%u: threads spin (mbarrier waits) with no change to wait for", x, y, z);
          }
          bool barrier = true;
          for (const Thread& t : s.threads) barrier = barrier && (t.done || t.op == Op::sync);
          if (!barrier) {
            s.threads.clear();
            fail("deadlock in block %u,%u,%u: threads wait at different collectives", x, y, z);
          }
          for (Thread& t : s.threads)
            if (!t.done) t.op = Op::none;
        }
      }
  s.body = nullptr;
}

}  // namespace simt

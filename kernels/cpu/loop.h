// Iteration over broadcast loops for CPU kernels: collapse contiguous dims, then visit inner rows
// in parallel. Rows go to threads whole, so a row's result never depends on the thread count.
#pragma once

#include <algorithm>
#include <array>

#include "kernels/cpu/parallel.h"
#include "kernels/kernel_types.h"
#include "kernels/loop_collapse.h"

namespace rscapret::kernels {

// Calls row(offsets, out_offset, inner_length) for each inner row. Offsets are element offsets
// of each operand; the output is contiguous.
template <typename RowFn>
void for_each_row(const BroadcastLoop& loop, int operands, RowFn&& row) {
  const int nd = loop.ndim;
  if (nd == 0) {
    std::array<int64_t, 3> off{0, 0, 0};
    row(off, int64_t(0), int64_t(1));
    return;
  }
  const int64_t inner = loop.shape[nd - 1];
  int64_t rows = 1;
  for (int d = 0; d < nd - 1; ++d) rows *= loop.shape[d];
  if (rows * inner == 0) return;

  if (rows == 1) {
    // One long row: split it into chunks so both cores work.
    const int64_t chunk = 1 << 16;
    parallel_for(0, inner, chunk, [&](int64_t b, int64_t e) {
      std::array<int64_t, 3> off{};
      for (int k = 0; k < operands; ++k) off[k] = b * loop.strides[k][nd - 1];
      row(off, b, e - b);
    });
    return;
  }
  const int64_t grain = row_grain(inner);
  parallel_for(0, rows, grain, [&](int64_t rb, int64_t re) {
    // Decompose the first row index into outer coordinates once, then step like an odometer.
    std::array<int64_t, kLoopMaxDims> idx{};
    std::array<int64_t, 3> off{};
    int64_t r = rb;
    for (int d = nd - 2; d >= 0; --d) {
      idx[d] = r % loop.shape[d];
      r /= loop.shape[d];
      for (int k = 0; k < operands; ++k) off[k] += idx[d] * loop.strides[k][d];
    }
    for (int64_t rr = rb; rr < re; ++rr) {
      row(off, rr * inner, inner);
      for (int d = nd - 2; d >= 0; --d) {
        for (int k = 0; k < operands; ++k) off[k] += loop.strides[k][d];
        if (++idx[d] < loop.shape[d]) break;
        for (int k = 0; k < operands; ++k) off[k] -= loop.strides[k][d] * loop.shape[d];
        idx[d] = 0;
      }
    }
  });
}

}  // namespace rscapret::kernels

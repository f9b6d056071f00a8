// The CPU thread pool behind every parallel kernel. Why not OpenMP: its workers spin after each
// parallel region, and on a 2-core machine that spinning fights OpenBLAS's own threads (a small
// training test ran 5x slower). Here workers spin briefly, then sleep on a condition variable.
// Work is split into numbered chunks; which thread runs a chunk never changes a result.
#pragma once

#include <cstdint>
#include <functional>

namespace rscapret::thread_pool {

// Threads used, caller included (RSCAPRET_THREADS, else the hardware concurrency).
int num_threads();
// n <= 0 restores the default.
void set_num_threads(int n);
// Runs fn(c) for every chunk c in [0, chunks) and returns when all are done. Calls made from
// inside a chunk run serially (no nested parallelism).
void run(int64_t chunks, const std::function<void(int64_t)>& fn);

}  // namespace rscapret::thread_pool

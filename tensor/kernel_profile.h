// Device time per GPU kernel, as the GPU itself timed it. The profiler records every kernel, copy
// and fill that runs on any CUDA device between start and stop (cuBLAS's kernels too) through
// NVIDIA's activity tracing library, CUPTI, loaded at run time: nothing changes at the launch sites,
// a build or machine without it pays nothing, and the timestamps are the GPU's own, so the table
// holds device time even when the host cannot keep the GPU busy (launch gaps are not counted).
//
//   profile::start_kernel_profile();
//   ... run the model ...
//   std::printf("%s", profile::format_kernel_profile(profile::stop_kernel_profile(), 25).c_str());
//
// RSCAPRET_PROFILE_KERNELS=1 in the environment profiles a whole run and prints the table to stderr
// at exit. CUPTI is looked up as $RSCAPRET_CUPTI, then libcupti.so.13 / libcupti.so on the loader's
// path, then the usual CUDA install folders; the records it writes are those of the CUPTI this
// project was compiled against (CUDA 13), so the library must be that major version.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace rscapret::profile {

struct KernelStat {
  std::string name;      // short kernel name (template arguments kept), or "[memcpy HtoD]" etc.
  int64_t calls = 0;
  double total_ms = 0;   // summed device time
  double max_us = 0;     // longest single run
};

// Sums device intervals per name. The profiler's accumulator, kept apart from CUPTI so the
// bookkeeping is tested on machines without a GPU.
class KernelTally {
 public:
  void add(const std::string& name, uint64_t nanoseconds);
  // Per name, largest total first (ties by name, so the order is stable).
  std::vector<KernelStat> stats() const;
  bool empty() const { return by_name_.empty(); }

 private:
  struct Sum {
    int64_t calls = 0;
    uint64_t total_ns = 0, max_ns = 0;
  };
  std::map<std::string, Sum> by_name_;
};

// "void rscapret::kernels::cuda::gemm::wgmma_kernel<256>(CUtensorMap_st, int)" ->
// "wgmma_kernel<256>": no return type, parameter list or namespace qualifiers (also inside the
// template arguments). Names that are not demangled C++ (cuBLAS's) pass through unchanged.
std::string short_kernel_name(const std::string& demangled);

// A table: name, calls, total ms, share of the summed device time, mean and max us; the `top`
// largest rows (0: all) and a line for the rest, then the totals.
std::string format_kernel_profile(const std::vector<KernelStat>& stats, int top = 0);

// Starts recording on every CUDA device. Throws DeviceError saying why when it cannot: a build
// without CUDA, no device, CUPTI not found or refusing (some sandboxed GPU runtimes), or a profile
// already running.
void start_kernel_profile();
// Waits for every device, collects what ran since start and stops recording. Throws DeviceError if
// no profile is running. Records CUPTI had to drop (its buffers full) are reported as a row named
// "[dropped records]" with their count as calls, and buffers whose records could not all be read
// as "[buffers with unreadable records]"; format_kernel_profile leaves both out of the totals.
std::vector<KernelStat> stop_kernel_profile();
bool kernel_profile_running();

// With RSCAPRET_PROFILE_KERNELS set (and not "0"), starts a profile of the whole run and prints its
// table to stderr at exit; failures are printed, never thrown. The CUDA runtime calls it when it
// first sets up a device (so the exit handler runs before the CUDA runtime's own teardown).
void profile_run_if_requested();

}  // namespace rscapret::profile

#include "kernels/cpu/parallel.h"

#include <cstdlib>

namespace rscapret::kernels {

namespace {
int initial_threads() {
  if (const char* env = std::getenv("RSCAPRET_THREADS")) {
    const int n = std::atoi(env);
    if (n > 0) return n;
  }
  return omp_get_max_threads();
}
int g_threads = initial_threads();
}  // namespace

int num_threads() { return g_threads; }
void set_num_threads(int n) { g_threads = n > 0 ? n : initial_threads(); }

}  // namespace rscapret::kernels

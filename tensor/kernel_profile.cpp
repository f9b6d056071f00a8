// The kernel profiler's bookkeeping: the tally, kernel names, the table. The recording itself is
// in cupti_profiler.cpp.
#include "tensor/kernel_profile.h"

#include <algorithm>
#include <cstdio>
#include <regex>

namespace rscapret::profile {

void KernelTally::add(const std::string& name, uint64_t nanoseconds) {
  Sum& s = by_name_[name];
  ++s.calls;
  s.total_ns += nanoseconds;
  s.max_ns = std::max(s.max_ns, nanoseconds);
}

std::vector<KernelStat> KernelTally::stats() const {
  std::vector<KernelStat> out;
  out.reserve(by_name_.size());
  for (const auto& [name, s] : by_name_) out.push_back({name, s.calls, double(s.total_ns) * 1e-6, double(s.max_ns) * 1e-3});
  // by_name_ is ordered by name, so a stable sort keeps equal totals in name order.
  std::stable_sort(out.begin(), out.end(), [](const KernelStat& a, const KernelStat& b) { return a.total_ms > b.total_ms; });
  return out;
}

namespace {

// Index of the '(' that opens the trailing parameter list of s (which ends in ')'), or npos.
size_t parameter_list_start(const std::string& s) {
  if (s.empty() || s.back() != ')') return std::string::npos;
  int depth = 0;
  for (size_t i = s.size(); i-- > 0;) {
    if (s[i] == ')') ++depth;
    else if (s[i] == '(' && --depth == 0) return i;
  }
  return std::string::npos;
}

// Index just past the last space outside template arguments and parentheses: where the function's
// name starts after a return type ("void f<a, b>" -> 5), or 0 when there is none.
size_t name_start(const std::string& s) {
  int depth = 0;
  size_t start = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (c == '<' || c == '(') ++depth;
    else if ((c == '>' || c == ')') && depth > 0) --depth;
    else if (c == ' ' && depth == 0) start = i + 1;
  }
  return start;
}

}  // namespace

std::string short_kernel_name(const std::string& demangled) {
  std::string s = demangled;
  if (const size_t p = parameter_list_start(s); p != std::string::npos && p > 0) s.erase(p);
  s.erase(0, name_start(s));
  // Leaked on purpose: the profile of a whole run is tallied from an exit handler, which may run
  // after function-local statics built later than its registration were destroyed.
  static const std::regex* anonymous = new std::regex(R"(\(anonymous namespace\)::)");
  static const std::regex* qualifier = new std::regex(R"(\b[A-Za-z_][A-Za-z0-9_]*::)");
  s = std::regex_replace(std::regex_replace(s, *anonymous, ""), *qualifier, "");
  return s.empty() ? demangled : s;
}

bool is_count_row(const std::string& name) {
  return name == "[dropped records]" || name == "[buffers with unreadable records]";
}

std::string format_kernel_profile(const std::vector<KernelStat>& stats, int top) {
  double total_ms = 0;
  int64_t calls = 0;
  size_t kinds = 0;  // kernels, copies and fills, not the profiler's own counts
  for (const KernelStat& k : stats) {
    if (is_count_row(k.name)) continue;
    total_ms += k.total_ms;
    calls += k.calls;
    ++kinds;
  }
  constexpr int kNameWidth = 64;
  std::string out;
  char line[256];
  std::snprintf(line, sizeof line, "%-*s %8s %10s %6s %9s %9s\n", kNameWidth, "kernel", "calls", "total ms", "share",
                "mean us", "max us");
  out += line;
  const size_t shown = top > 0 ? std::min(stats.size(), size_t(top)) : stats.size();
  for (size_t i = 0; i < shown; ++i) {
    const KernelStat& k = stats[i];
    std::string name = k.name;
    if (name.size() > size_t(kNameWidth)) name = name.substr(0, kNameWidth - 3) + "...";
    const double share = total_ms > 0 ? 100.0 * k.total_ms / total_ms : 0.0;
    const double mean_us = k.calls ? 1e3 * k.total_ms / double(k.calls) : 0.0;
    std::snprintf(line, sizeof line, "%-*s %8lld %10.3f %5.1f%% %9.2f %9.2f\n", kNameWidth, name.c_str(),
                  (long long)k.calls, k.total_ms, share, mean_us, k.max_us);
    out += line;
  }
  if (shown < stats.size()) {
    double rest_ms = 0;
    int64_t rest_calls = 0;
    for (size_t i = shown; i < stats.size(); ++i) {
      rest_ms += stats[i].total_ms;
      rest_calls += stats[i].calls;
    }
    char rest_name[32];
    std::snprintf(rest_name, sizeof rest_name, "(%zu more)", stats.size() - shown);
    std::snprintf(line, sizeof line, "%-*s %8lld %10.3f %5.1f%%\n", kNameWidth, rest_name, (long long)rest_calls,
                  rest_ms, total_ms > 0 ? 100.0 * rest_ms / total_ms : 0.0);
    out += line;
  }
  std::snprintf(line, sizeof line, "device total: %.3f ms in %lld runs of %zu kernels, copies and fills\n", total_ms,
                (long long)calls, kinds);
  out += line;
  return out;
}

}  // namespace rscapret::profile

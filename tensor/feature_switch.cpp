#include "tensor/feature_switch.h"

#include <algorithm>
#include <cstdlib>
#include <string>

namespace rscapret {

bool feature_enabled_by_env(const char* feature) {
  const char* env = std::getenv("RSCAPRET_DISABLE");
  if (env == nullptr) return true;
  const std::string list = env, name = feature;
  size_t start = 0;
  while (start <= list.size()) {
    const size_t end = std::min(list.find(',', start), list.size());
    std::string item = list.substr(start, end - start);
    while (!item.empty() && item.front() == ' ') item.erase(item.begin());
    while (!item.empty() && item.back() == ' ') item.pop_back();
    if (item == name) return false;
    start = end + 1;
  }
  return true;
}

}  // namespace rscapret

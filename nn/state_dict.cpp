// Module state: export by dotted name, and loading with one error that lists every problem.
#include <algorithm>
#include <set>

#include "autograd/ops.h"
#include "nn/module.h"
#include "tensor/safetensors.h"

namespace rscapret::nn {

bool glob_match(const std::string& pattern, const std::string& name) {
  // Iterative wildcard match with one backtrack point (enough for '*' only).
  size_t p = 0, n = 0, star = std::string::npos, mark = 0;
  while (n < name.size()) {
    if (p < pattern.size() && pattern[p] == '*') {
      star = p++;
      mark = n;
    } else if (p < pattern.size() && pattern[p] == name[n]) {
      ++p, ++n;
    } else if (star != std::string::npos) {
      p = star + 1;
      n = ++mark;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

NamedTensors Module::named_state(bool trainable_only) const {
  std::vector<std::pair<std::string, const Slot*>> all;
  collect_slots("", all);
  NamedTensors out;
  for (const auto& [n, s] : all) {
    if (s->is_buffer ? (!s->persistent || trainable_only) : (trainable_only && !s->requires_grad)) continue;
    if (s->tensor->defined()) out.emplace_back(n, ops::detach(*s->tensor));
  }
  return out;
}

StateDict Module::state_dict(bool trainable_only) const {
  StateDict out;
  for (auto& [n, t] : named_state(trainable_only)) out.emplace(n, t);
  return out;
}

namespace {

constexpr size_t kMaxListed = 40;  // per category: enough to see the pattern of a naming mistake

void list_names(std::string& msg, const char* what, const std::vector<std::string>& names) {
  if (names.empty()) return;
  msg += cat("\n  ", what, " (", names.size(), "):");
  for (size_t i = 0; i < names.size() && i < kMaxListed; ++i) msg += "\n    " + names[i];
  if (names.size() > kMaxListed) msg += cat("\n    ... and ", names.size() - kMaxListed, " more");
}

}  // namespace

LoadReport Module::load_from(const std::vector<std::string>& names,
                             const std::function<Tensor(const std::string&)>& get, const LoadOptions& opt) {
  std::vector<std::pair<std::string, Slot*>> all;
  collect_slots("", all);
  std::map<std::string, Slot*> by_name;
  for (auto& [n, s] : all)
    if (!s->is_buffer || s->persistent) by_name.emplace(n, s);

  // Pass 1: match and check everything before touching any slot, so a failed load changes nothing.
  LoadReport report;
  std::vector<std::string> mis_shaped;
  std::vector<std::pair<Slot*, Tensor>> matched;
  std::set<std::string> seen;
  for (const std::string& ck : names) {
    const bool skip = std::any_of(opt.ignore.begin(), opt.ignore.end(),
                                  [&](const std::string& pat) { return glob_match(pat, ck); });
    // Names outside the prefix belong to other parts of the checkpoint: not ours, not unexpected.
    if (skip || ck.compare(0, opt.prefix.size(), opt.prefix) != 0) {
      report.ignored.push_back(ck);
      continue;
    }
    const std::string name = ck.substr(opt.prefix.size());
    auto it = by_name.find(name);
    if (it == by_name.end()) {
      report.unexpected.push_back(ck);
      continue;
    }
    seen.insert(name);
    Tensor t = get(ck);
    if (t.shape() != it->second->shape) {
      mis_shaped.push_back(cat(name, ": module ", format_shape(it->second->shape), ", checkpoint ",
                               format_shape(t.shape()), " (", dtype_name(t.dtype()), ")"));
      continue;
    }
    matched.emplace_back(it->second, t);
    report.loaded.push_back(name);
  }
  const std::set<std::string> absent(opt.absent.begin(), opt.absent.end());
  for (auto& [n, s] : by_name)
    if (!seen.count(n) && !absent.count(n)) report.missing.push_back(n);

  const bool fail = !mis_shaped.empty() || (opt.strict && (!report.missing.empty() || !report.unexpected.empty()));
  if (fail) {
    std::vector<std::string> missing_desc;
    for (const std::string& n : report.missing)
      missing_desc.push_back(cat(n, " ", dtype_name(by_name[n]->dtype), format_shape(by_name[n]->shape)));
    std::string msg = cat("[load_state_dict] ", type_name_, ": ", report.missing.size(), " missing, ",
                          report.unexpected.size(), " unexpected, ", mis_shaped.size(), " mis-shaped (",
                          matched.size(), " matched", opt.prefix.empty() ? "" : ", prefix '", opt.prefix,
                          opt.prefix.empty() ? "" : "'", ")");
    list_names(msg, "missing", missing_desc);
    list_names(msg, "unexpected", report.unexpected);
    list_names(msg, "mis-shaped", mis_shaped);
    throw StateDictError(msg);
  }

  // Pass 2: assign.
  for (auto& [s, src] : matched) {
    Tensor& cur = *s->tensor;
    const bool adopt = opt.zero_copy && !s->is_buffer && !s->requires_grad;
    if (adopt) {
      set_slot(*s, src);  // keeps the checkpoint's dtype and memory
      s->borrowed = true;
    } else if (cur.defined() && !s->borrowed && cur.dtype() == s->dtype && cur.device() == src.device()) {
      cur.copy_from(src);  // in place: handles an optimizer already holds stay valid
    } else {
      const Device dev = cur.defined() ? cur.device() : Device::cpu();
      Tensor owned = src.dtype() == s->dtype ? src.clone() : src.to(s->dtype);
      set_slot(*s, owned.to(dev));
      s->borrowed = false;
    }
  }
  materialize(opt.absent);  // non-strict: whatever is missing starts from its Fill
  return report;
}

LoadReport Module::load_state_dict(const StateDict& state, const LoadOptions& opt) {
  std::vector<std::string> names;
  for (const auto& [n, t] : state) names.push_back(n);
  return load_from(names, [&](const std::string& n) { return state.at(n); }, opt);
}

LoadReport Module::load_state_dict(const SafetensorsCheckpoint& ckpt, const LoadOptions& opt) {
  // get() is a zero-copy view of the mapping: checking shapes reads no tensor data.
  return load_from(ckpt.names(), [&](const std::string& n) { return ckpt.get(n); }, opt);
}

}  // namespace rscapret::nn

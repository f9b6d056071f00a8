// Module: registration, traversal, training state, dtype/device moves. Loading is in state_dict.cpp.
#include "nn/module.h"

#include <algorithm>

#include "autograd/ops.h"

namespace rscapret::nn {

// ---- registration ----

void Module::check_new_name(const std::string& name) const {
  RS_CHECK(!name.empty() && name.find('.') == std::string::npos, ValueError, "Module",
           type_name_, ": invalid name '", name, "' (non-empty, no dots)");
  for (const Slot& s : slots_)
    RS_CHECK(s.name != name, ValueError, "Module", type_name_, ": '", name, "' is registered twice");
  for (const auto& [n, c] : children_)
    RS_CHECK(n != name, ValueError, "Module", type_name_, ": '", name, "' is registered twice");
}

void Module::set_slot(Slot& s, Tensor t) {
  // A fresh handle: autograd identity must never be shared with the caller's tensor. Every
  // parameter gets its AutogradMeta now, so later freeze/unfreeze flip the flag in place and every
  // copy of the handle (an optimizer's, a test's) sees it.
  t = ops::detach(t);
  if (!s.is_buffer && is_floating(t.dtype())) t.set_requires_grad(s.requires_grad);
  *s.tensor = t;
  s.dtype = t.dtype();
}

Tensor& Module::register_parameter(const std::string& name, Tensor* slot, const Shape& shape, const Fill& fill,
                                   const Init& init, bool requires_grad) {
  check_new_name(name);
  RS_CHECK(is_floating(init.dtype), DTypeError, "Module", type_name_, ": parameter '", name,
           "' needs a floating dtype, got ", dtype_name(init.dtype));
  slots_.push_back(Slot{name, slot, shape, init.dtype, fill, false, true, requires_grad});
  if (!init.deferred) set_slot(slots_.back(), fill.make(shape, init.dtype, init.generator()));
  return *slot;
}

Tensor& Module::register_buffer(const std::string& name, Tensor* slot, Tensor value, bool persistent) {
  check_new_name(name);
  RS_CHECK(value.defined(), ValueError, "Module", type_name_, ": buffer '", name, "' is undefined");
  slots_.push_back(Slot{name, slot, value.shape(), value.dtype(), Fill::zeros(), true, persistent, false});
  set_slot(slots_.back(), value);
  return *slot;
}

void Module::add_child(const std::string& name, std::shared_ptr<Module> child) {
  check_new_name(name);
  RS_CHECK(child != nullptr, ValueError, "Module", type_name_, ": child '", name, "' is null");
  children_.emplace_back(name, std::move(child));
}

// ---- traversal ----

void Module::collect_slots(const std::string& prefix, std::vector<std::pair<std::string, Slot*>>& out) {
  for (Slot& s : slots_) out.emplace_back(prefix + s.name, &s);
  for (auto& [n, c] : children_) c->collect_slots(prefix + n + ".", out);
}

void Module::collect_slots(const std::string& prefix,
                           std::vector<std::pair<std::string, const Slot*>>& out) const {
  for (const Slot& s : slots_) out.emplace_back(prefix + s.name, &s);
  for (const auto& [n, c] : children_) static_cast<const Module&>(*c).collect_slots(prefix + n + ".", out);
}

NamedTensors Module::named_parameters() const {
  std::vector<std::pair<std::string, const Slot*>> all;
  collect_slots("", all);
  NamedTensors out;
  for (const auto& [n, s] : all)
    if (!s->is_buffer) out.emplace_back(n, *s->tensor);
  return out;
}

std::vector<Tensor> Module::parameters() const {
  std::vector<Tensor> out;
  for (auto& [n, t] : named_parameters()) out.push_back(t);
  return out;
}

std::vector<Tensor> Module::trainable_parameters() const {
  std::vector<Tensor> out;
  for (auto& [n, t] : named_parameters())
    if (t.defined() && t.requires_grad()) out.push_back(t);
  return out;
}

NamedTensors Module::named_buffers() const {
  std::vector<std::pair<std::string, const Slot*>> all;
  collect_slots("", all);
  NamedTensors out;
  for (const auto& [n, s] : all)
    if (s->is_buffer) out.emplace_back(n, *s->tensor);
  return out;
}

std::vector<std::pair<std::string, Module*>> Module::named_modules() {
  std::vector<std::pair<std::string, Module*>> out{{"", this}};
  for (auto& [n, c] : children_)
    for (auto& [sub, m] : c->named_modules()) out.emplace_back(sub.empty() ? n : n + "." + sub, m);
  return out;
}

std::vector<std::pair<std::string, Module*>> Module::named_children() {
  std::vector<std::pair<std::string, Module*>> out;
  for (auto& [n, c] : children_) out.emplace_back(n, c.get());
  return out;
}

Module& Module::submodule(const std::string& dotted) {
  Module* m = this;
  size_t start = 0;
  while (start <= dotted.size() && !dotted.empty()) {
    const size_t dot = dotted.find('.', start);
    const std::string part = dotted.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    Module* next = nullptr;
    for (auto& [n, c] : m->children_)
      if (n == part) next = c.get();
    RS_CHECK(next != nullptr, IndexError, "Module", type_name_, ": no submodule '", dotted, "'");
    m = next;
    if (dot == std::string::npos) break;
    start = dot + 1;
  }
  return *m;
}

const Module::Slot* Module::find_slot(const std::string& dotted) const {
  return const_cast<Module*>(this)->find_slot(dotted);
}

Module::Slot* Module::find_slot(const std::string& dotted) {
  const size_t dot = dotted.rfind('.');
  Module* owner = this;
  if (dot != std::string::npos) {
    try {
      owner = &submodule(dotted.substr(0, dot));
    } catch (const IndexError&) {
      return nullptr;
    }
  }
  const std::string leaf = dot == std::string::npos ? dotted : dotted.substr(dot + 1);
  for (Slot& s : owner->slots_)
    if (s.name == leaf) return &s;
  return nullptr;
}

Tensor& Module::parameter(const std::string& dotted) {
  Slot* s = find_slot(dotted);
  RS_CHECK(s != nullptr && !s->is_buffer, IndexError, "Module", type_name_, ": no parameter '", dotted, "'");
  return *s->tensor;
}

bool Module::has_parameter(const std::string& dotted) const {
  const Slot* s = find_slot(dotted);
  return s != nullptr && !s->is_buffer;
}

// ---- training state ----

Module& Module::set_requires_grad(bool on) {
  std::vector<std::pair<std::string, Slot*>> all;
  collect_slots("", all);
  for (auto& [n, s] : all) {
    if (s->is_buffer) continue;
    s->requires_grad = on;
    Tensor& t = *s->tensor;
    if (!t.defined()) continue;
    if (on && s->borrowed) {
      // A borrowed tensor may be a read-only mapping: own a copy before an optimizer updates it.
      // The copy keeps the autograd identity (same meta), but handles taken earlier still see the
      // old memory: take optimizer handles after unfreezing.
      Tensor owned = t.clone();
      owned.set_autograd_meta(t.autograd_meta());
      t = owned;
      s->borrowed = false;
    }
    t.set_requires_grad(on);        // in place: shared by every copy of the handle
    if (!on) t.set_grad(Tensor());  // frozen: its old gradient is dead memory
  }
  return *this;
}

void Module::train(bool on) {
  training_ = on;
  for (auto& [n, c] : children_) c->train(on);
}

int64_t Module::num_parameters(bool trainable_only) const {
  std::vector<std::pair<std::string, const Slot*>> all;
  collect_slots("", all);
  int64_t total = 0;
  for (const auto& [n, s] : all)
    if (!s->is_buffer && (!trainable_only || s->requires_grad)) total += shape_numel(s->shape);
  return total;
}

void Module::zero_grad() {
  for (auto& [n, t] : named_parameters())
    if (t.defined()) t.set_grad(Tensor());
}

// ---- dtype and device ----

Module& Module::to(DType dtype) {
  RS_CHECK(is_floating(dtype), DTypeError, "Module::to", type_name_, ": target dtype must be floating, got ",
           dtype_name(dtype));
  std::vector<std::pair<std::string, Slot*>> all;
  collect_slots("", all);
  for (auto& [n, s] : all) {
    if (!is_floating(s->dtype)) continue;  // integer buffers (ids, positions) keep their type
    if (!s->tensor->defined()) {           // deferred: the load will convert
      s->dtype = dtype;
      continue;
    }
    if (s->dtype == dtype) {
      if (!s->is_buffer) s->tensor->set_grad(Tensor());
      continue;
    }
    set_slot(*s, s->tensor->to(dtype));  // a copy: no longer borrowed
    s->borrowed = false;
  }
  return *this;
}

Module& Module::to(Device device) {
  std::vector<std::pair<std::string, Slot*>> all;
  collect_slots("", all);
  for (auto& [n, s] : all) {
    if (!s->tensor->defined() || s->tensor->device() == device) continue;
    set_slot(*s, s->tensor->to(device));
    s->borrowed = false;
  }
  return *this;
}

void Module::materialize(const std::vector<std::string>& keep_empty) {
  std::vector<std::pair<std::string, Slot*>> all;
  collect_slots("", all);
  for (auto& [n, s] : all)
    if (!s->tensor->defined() && std::find(keep_empty.begin(), keep_empty.end(), n) == keep_empty.end())
      set_slot(*s, s->fill.make(s->shape, s->dtype, default_generator()));
}

}  // namespace rscapret::nn

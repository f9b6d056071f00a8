// Module: a tree of named parameters, buffers and child modules. Dotted names are built from the
// registration names ("encoder.layers.0.self_attn.q_proj.weight"), so a module tree laid out like
// the Hugging Face one loads a checkpoint by plain name lookup.
//
// Parameters are leaf tensors held in member slots (e.g. Linear::weight) that the module knows by
// pointer, so loading, to(dtype) and unfreeze can replace them in place. Modules are therefore
// neither copyable nor movable; hold them by std::shared_ptr (children are).
//
// Frozen parameters have requires_grad false: autograd gives them no gradient buffer but still
// flows through them into the other inputs.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "nn/init.h"
#include "tensor/tensor.h"

namespace rscapret {
class SafetensorsCheckpoint;
}

namespace rscapret::nn {

using StateDict = std::map<std::string, Tensor>;
using NamedTensors = std::vector<std::pair<std::string, Tensor>>;

struct LoadOptions {
  // Missing and unexpected names are errors (mis-shaped tensors always are). Non-strict loads
  // initialise what is missing from each parameter's Fill and report the rest.
  bool strict = true;
  // Checkpoint names to skip, '*' matching any run of characters: {"*.position_ids", "text_model.*"}.
  std::vector<std::string> ignore;
  // Checkpoint name = prefix + module name, e.g. "model." to load only part of a checkpoint.
  std::string prefix;
  // false: every tensor is copied into memory of the slot's dtype (safe to train in place).
  // true: a frozen slot adopts the source tensor as it is (dtype kept, no copy: a read-only view of
  // a mapped checkpoint); unfreeze() copies it before it can be trained.
  bool zero_copy = false;
  // Module names that stay empty on purpose (the weights of layers loaded in another form, such as
  // q8_0 codes): neither missing nor materialized.
  std::vector<std::string> absent;
};

// What a load did; names are module names (without the prefix).
struct LoadReport {
  std::vector<std::string> loaded;
  std::vector<std::string> missing;     // initialised from their Fill (non-strict only)
  std::vector<std::string> unexpected;  // checkpoint names (with prefix) that matched nothing
  std::vector<std::string> ignored;     // checkpoint names skipped by LoadOptions::ignore
};

// The one error of a failed load: its message lists every missing, unexpected and mis-shaped name.
class StateDictError : public ValueError {
  using ValueError::ValueError;
};

// '*' matches any run of characters (including dots); everything else matches itself.
bool glob_match(const std::string& pattern, const std::string& name);

class Module {
 public:
  explicit Module(std::string type_name) : type_name_(std::move(type_name)) {}
  virtual ~Module() = default;
  Module(const Module&) = delete;
  Module& operator=(const Module&) = delete;

  const std::string& type_name() const { return type_name_; }

  // ---- traversal: own entries first (registration order), then each child's, recursively ----
  NamedTensors named_parameters() const;
  std::vector<Tensor> parameters() const;
  std::vector<Tensor> trainable_parameters() const;  // requires_grad true
  NamedTensors named_buffers() const;
  std::vector<std::pair<std::string, Module*>> named_modules();  // self first, named ""
  std::vector<std::pair<std::string, Module*>> named_children();
  Module& submodule(const std::string& dotted);  // IndexError when absent
  Tensor& parameter(const std::string& dotted);  // the slot itself; IndexError when absent
  bool has_parameter(const std::string& dotted) const;

  // ---- training state (recursive) ----
  Module& freeze() { return set_requires_grad(false); }
  Module& unfreeze() { return set_requires_grad(true); }
  Module& set_requires_grad(bool on);
  // Virtual so a frozen backbone can stay in eval whatever its parent asks (as FROMAGe's CLIP does).
  virtual void train(bool on = true);
  void eval() { train(false); }
  bool is_training() const { return training_; }
  int64_t num_parameters(bool trainable_only = false) const;  // elements, deferred ones included
  void zero_grad();  // clears every parameter's .grad

  // ---- dtype and device: floating parameters and buffers are converted (integer buffers are
  // kept); requires_grad is kept and gradients are cleared. Returns *this.
  Module& to(DType dtype);
  Module& to(Device device);

  // ---- state: parameters and persistent buffers by dotted name (handles without autograd state;
  // they share memory with the module) ----
  StateDict state_dict(bool trainable_only = false) const;
  NamedTensors named_state(bool trainable_only = false) const;  // the same, in registration order
  LoadReport load_state_dict(const StateDict& state, const LoadOptions& opt = {});
  LoadReport load_state_dict(const SafetensorsCheckpoint& ckpt, const LoadOptions& opt = {});
  // Allocates any deferred parameter that is still undefined, from its Fill (except the dotted
  // names in `keep_empty`).
  void materialize(const std::vector<std::string>& keep_empty = {});

 protected:
  // Registers a parameter slot (a member of the subclass) and fills it unless init.deferred.
  Tensor& register_parameter(const std::string& name, Tensor* slot, const Shape& shape, const Fill& fill,
                             const Init& init, bool requires_grad = true);
  // Registers a buffer: state that is not trained (non-persistent ones are not saved or loaded).
  Tensor& register_buffer(const std::string& name, Tensor* slot, Tensor value, bool persistent = true);
  template <typename M>
  std::shared_ptr<M> register_module(const std::string& name, std::shared_ptr<M> child) {
    add_child(name, child);
    return child;
  }

 private:
  struct Slot {
    std::string name;
    Tensor* tensor;
    Shape shape;
    DType dtype;
    Fill fill;
    bool is_buffer;
    bool persistent;
    bool requires_grad;
    bool borrowed = false;  // adopted zero-copy from a checkpoint: copy before training it
  };
  void add_child(const std::string& name, std::shared_ptr<Module> child);
  void check_new_name(const std::string& name) const;
  Slot* find_slot(const std::string& dotted);
  const Slot* find_slot(const std::string& dotted) const;
  // (dotted name, slot) of every slot in the tree, in traversal order.
  void collect_slots(const std::string& prefix, std::vector<std::pair<std::string, Slot*>>& out);
  void collect_slots(const std::string& prefix, std::vector<std::pair<std::string, const Slot*>>& out) const;
  LoadReport load_from(const std::vector<std::string>& names, const std::function<Tensor(const std::string&)>& get,
                       const LoadOptions& opt);
  static void set_slot(Slot& s, Tensor t);

  std::string type_name_;
  bool training_ = true;
  std::vector<Slot> slots_;
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> children_;
};

// A list of modules of one type, named "0", "1", ... as in `encoder.layers.0`.
template <typename M>
class ModuleList : public Module {
 public:
  ModuleList() : Module("ModuleList") {}
  M& push_back(std::shared_ptr<M> m) {
    items_.push_back(register_module(std::to_string(items_.size()), std::move(m)));
    return *items_.back();
  }
  size_t size() const { return items_.size(); }
  M& operator[](size_t i) const { return *items_.at(i); }
  auto begin() const { return items_.begin(); }
  auto end() const { return items_.end(); }

 private:
  std::vector<std::shared_ptr<M>> items_;
};

}  // namespace rscapret::nn

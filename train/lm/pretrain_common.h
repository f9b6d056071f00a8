// Pieces shared by the pretraining stages (`train lm`, `train clip`): AdamW parameter groups with
// weight decay on matrices only, Hugging Face-style re-initialisation, the resumable training
// checkpoint (weights + AdamW state + step in one atomic safetensors), a CSV log and the progress
// bar. The bridge trainer (train/bridge) keeps its own versions; these follow the same conventions.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "nn/module.h"
#include "nn/optim/adamw.h"
#include "tensor/rng.h"

namespace rscapret::train {

// Two groups: "decay" = trainable parameters with >= 2 dims (linear and embedding matrices) with
// base.weight_decay, then "no decay" = vectors and scalars (norm gains, biases, logit_scale) with 0,
// as GPT/LLaMA pretraining recipes do: decaying a gain towards 0 only fights the normalisation.
std::vector<nn::ParamGroup> decay_param_groups(const nn::Module& m, const nn::AdamWOptions& base);

// Redraws parameters in place: std_of(name, shape) returns the standard deviation of N(0, std) for
// a parameter, 0 to zero it, or a negative number to keep it. Draws use `gen` in traversal order (deterministic).
void reinit_normal(nn::Module& m, Generator& gen,
                   const std::function<double(const std::string& name, const Shape& shape)>& std_of);

// A resumable checkpoint: "model.<name>" (every state tensor), "optim.<...>" (AdamW), metadata
// step/seed/kind plus `meta`, and an xxh3 of all tensors; written atomically.
void save_train_checkpoint(const std::filesystem::path& path, const nn::Module& m, const nn::AdamW& opt,
                           int64_t step, std::map<std::string, std::string> meta);
// Loads the weights (strict) and the AdamW state, checks the hash and `kind`, returns the step;
// warns when the checkpoint's seed differs from `seed` (the data order then changes).
int64_t load_train_checkpoint(const std::filesystem::path& path, nn::Module& m, nn::AdamW& opt,
                              const std::string& kind, uint64_t seed);

// Appends one row to a CSV file, writing `header` first when the file is new.
void append_csv(const std::filesystem::path& path, const std::string& header, const std::string& row);

// "[#####.....] 120/1000 ..." on stderr with \r; eta from the mean step time of this run.
void print_progress(int64_t step, int64_t total, double elapsed, int64_t steps_this_run, const std::string& text);

// True when every element of every tensor is finite.
bool all_finite(const Tensor& t);

// Copies src to dst atomically (temporary + rename); IOError naming both when it fails.
void copy_file_atomic(const std::filesystem::path& src, const std::filesystem::path& dst);

}  // namespace rscapret::train

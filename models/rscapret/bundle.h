// An RS-CapRet model on disk and in memory: the two frozen Hugging Face backbones, the LLaMA
// tokenizer with [RET] added, and the trainable bridge.
//
// A model folder holds
//   bridge.json          {"clip": DIR, "llama": DIR, "tokenizer": FILE, "backbone_dtype": "bf16",
//                         "options": {num_visual_tokens, retrieval_dim, max_len, pad_id, ...}}
//   bridge.safetensors   the trainable tensors under "model.<name>" (plus, when written by the
//                        trainer, "optim.<...>" AdamW state); metadata "xxh3" = the content hash.
// Relative paths in bridge.json are resolved against the folder.
#pragma once

#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "models/rscapret/rscapret.h"
#include "models/tokenizers/llama_tokenizer.h"

namespace rscapret::models {

struct RsCapRetSpec {
  std::filesystem::path clip_dir, llama_dir, tokenizer;  // tokenizer empty: found in llama_dir
  std::string backbone_dtype = "bf16";  // "bf16" (the choice), "f32", "f64" (tests), or "stored"
  RsCapRetOptions options;
};

struct RsCapRetBundle {
  RsCapRetSpec spec;
  std::shared_ptr<RsCapRet> model;
  std::shared_ptr<tokenizers::LlamaTokenizer> tokenizer;  // [RET] added: its id == model->ret_id()
};

// The tokenizer file of a LLaMA folder: tokenizer.model, else tokenizer.json.
std::filesystem::path find_llama_tokenizer(const std::filesystem::path& llama_dir);

// Loads both backbones (frozen, converted to spec.backbone_dtype), the tokenizer, and a fresh bridge
// drawn from init. Throws when the tokenizer's vocabulary differs from LLaMA's.
RsCapRetBundle load_rscapret(const RsCapRetSpec& spec, const nn::Init& init = {});

// A model folder: bridge.json + bridge.safetensors (weights checked against their xxh3).
RsCapRetBundle load_rscapret_dir(const std::filesystem::path& dir);
void write_rscapret_spec(const std::filesystem::path& dir, const RsCapRetSpec& spec);
RsCapRetSpec read_rscapret_spec(const std::filesystem::path& dir);

// XXH3-64 of tensors by name (names, dtypes, shapes and bytes, in the given order), as hex.
std::string tensors_xxh3(const std::vector<std::pair<std::string, Tensor>>& tensors);
std::string module_xxh3(const nn::Module& m, bool trainable_only = false);

// Atomic safetensors of the bridge's trainable tensors ("model.<name>") and any extra tensors,
// with metadata "xxh3" over all of them plus `metadata`.
void save_bridge_weights(const std::filesystem::path& path, const RsCapRet& model,
                         const std::vector<std::pair<std::string, Tensor>>& extra = {},
                         std::map<std::string, std::string> metadata = {});
// Loads "model.*" into the bridge (strict) after verifying the hash; returns every tensor of the
// file (e.g. "optim.*") and fills metadata when given.
std::map<std::string, Tensor> load_bridge_weights(const std::filesystem::path& path, RsCapRet& model,
                                                  std::map<std::string, std::string>* metadata = nullptr);

}  // namespace rscapret::models

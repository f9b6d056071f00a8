// `rscapret train lm --data JSON[:IMAGE_ROOT]... --tokenizer FILE --out DIR`: pretrains a small
// LLaMA from scratch on the captions of the train split (see train/lm/lm_trainer.h). OUT gets
// config.json + model.safetensors (Hugging Face layout) + the tokenizer (tokenizer.json, or
// tokenizer.model for SentencePiece/llama2.c files), so OUT is a `--llama` folder for `train bridge`;
// plus checkpoint.safetensors (weights + AdamW state) for --resume and log.csv.
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "app/commands.h"
#include "app/device_option.h"
#include "models/checkpoint/save_pretrained.h"
#include "tensor/error.h"
#include "train/data/caption_dataset.h"
#include "train/lm/lm_trainer.h"
#include "train/lm/pretrain_common.h"

namespace rscapret::app {
namespace fs = std::filesystem;

namespace {

// JSON alone is accepted (captions only): its folder stands in for the image root.
data::CaptionSource text_source(const std::string& d) {
  std::string spec = d;
  const size_t eq = d.find('=');
  if (d.find(':', eq == std::string::npos ? 0 : eq + 1) == std::string::npos) {
    const std::string parent = fs::path(d.substr(eq == std::string::npos ? 0 : eq + 1)).parent_path().string();
    spec += ":" + (parent.empty() ? std::string(".") : parent);
  }
  return data::parse_caption_source(spec);
}

std::vector<std::vector<std::string>> captions_per_image(const data::CaptionDataset& ds) {
  std::vector<std::vector<std::string>> out;
  for (const auto& s : ds.samples()) out.push_back(s.captions);
  return out;
}

std::vector<std::string> all_captions(const data::CaptionDataset& ds) {
  std::vector<std::string> out;
  for (const auto& s : ds.samples())
    for (const auto& c : s.captions) out.push_back(c);
  return out;
}

}  // namespace

void add_train_lm_command(CLI::App& train) {
  auto* cmd = train.add_subcommand("lm", "pretrain a small LLaMA (causal LM) from scratch on captions");
  struct Opts {
    std::vector<std::string> data;
    std::string tokenizer, out, train_split = "train", val_split = "val", save_dtype = "f32";
    train::LmModelOptions m;
    train::LmTrainOptions t;
    int64_t max_len = 32, samples = 3, val_captions = 2000;
    bool resume = false, quiet = false;
    std::string device = "cpu";
  };
  auto o = std::make_shared<Opts>();
  cmd->add_option("--data", o->data, "caption dataset JSON[:IMAGE_ROOT] or NAME=JSON[:IMAGE_ROOT] (repeatable)")
      ->required();
  cmd->add_option("--tokenizer", o->tokenizer, "LLaMA tokenizer (tokenizer.json, tokenizer.model)")->required();
  cmd->add_option("--out", o->out, "output folder (Hugging Face layout)")->required();
  cmd->add_option("--train-split", o->train_split, "split to train on (default train)");
  cmd->add_option("--val-split", o->val_split, "split to validate on (default val; empty: none)");
  cmd->add_option("--val-captions", o->val_captions, "at most this many validation captions (default 2000)");
  cmd->add_option("--hidden", o->m.hidden, "hidden size (default 192)");
  cmd->add_option("--layers", o->m.layers, "decoder layers (default 4)");
  cmd->add_option("--heads", o->m.heads, "attention heads (default 4)");
  cmd->add_option("--kv-heads", o->m.kv_heads, "key/value heads (default: = heads)");
  cmd->add_option("--intermediate", o->m.intermediate, "SwiGLU width (default 8/3 hidden, multiple of 32)");
  cmd->add_option("--max-positions", o->m.max_positions, "max_position_embeddings of the config (default 512)");
  cmd->add_option("--max-len", o->max_len, "tokens per caption incl. <s> and </s> (default 32)");
  cmd->add_option("--steps", o->t.steps, "optimizer steps (default 2000)");
  cmd->add_option("--batch", o->t.batch, "captions per step (default 32)");
  cmd->add_option("--captions-per-row", o->t.captions_per_row,
                  "captions of one image packed into a training row (default 2; 1: lone captions)");
  cmd->add_flag("!--no-bos-target", o->t.append_bos,
                "train on '<s> caption </s>' rows, without the final <s> target that RS-CapRet needs");
  cmd->add_option("--lr", o->t.adamw.lr, "peak learning rate (default 1e-3)");
  cmd->add_option("--min-lr-factor", o->t.min_lr_factor, "cosine floor as a fraction of lr (default 0.1)");
  cmd->add_option("--warmup", o->t.warmup_steps, "linear warmup steps (default 100)");
  cmd->add_option("--weight-decay", o->t.adamw.weight_decay, "AdamW weight decay on matrices (default 0.1)");
  cmd->add_option("--clip-grad", o->t.clip_grad_norm, "global gradient-norm clip (default 1.0; <= 0: none)");
  cmd->add_option("--seed", o->t.seed, "seed of the init and the data order (default 0)");
  cmd->add_option("--eval-every", o->t.eval_every, "validate every N steps (default: at the end)");
  cmd->add_option("--save-every", o->t.save_every, "checkpoint every N steps (default: at the end)");
  cmd->add_option("--save-dtype", o->save_dtype, "storage dtype of model.safetensors: f32 (default), bf16, f16");
  cmd->add_option("--samples", o->samples, "greedy samples printed at the end (default 3)");
  cmd->add_flag("--resume", o->resume, "continue from OUT/checkpoint.safetensors");
  cmd->add_flag("--quiet", o->quiet, "no progress bar");
  add_device_option(cmd, o->device, "trains");
  cmd->callback([o] {
    const Device device = parse_device_option(o->device);
    const fs::path out = o->out;
    RS_CHECK(fs::exists(o->tokenizer), IOError, "train lm", "tokenizer not found: ", o->tokenizer);
    const auto tok = tokenizers::LlamaTokenizer::load(o->tokenizer);
    std::vector<data::CaptionSource> sources;
    for (const auto& d : o->data) sources.push_back(text_source(d));
    const data::CaptionDataset all = data::CaptionDataset::load(sources);
    const data::CaptionDataset tr = all.filter_split({o->train_split});
    RS_CHECK(!tr.empty(), ValueError, "train lm", "no images in split '", o->train_split, "'");
    train::CaptionDocs docs;
    const train::TokenSeqs train_seqs = train::tokenize_caption_docs(tok, captions_per_image(tr), o->max_len, &docs);
    train::TokenSeqs val_seqs;
    if (!o->val_split.empty()) {
      auto caps = all_captions(all.filter_split({o->val_split}));
      if (int64_t(caps.size()) > o->val_captions) caps.resize(size_t(o->val_captions));
      val_seqs = train::tokenize_captions_lm(tok, caps, o->max_len);
    }
    o->t.out_dir = out;
    o->t.progress = !o->quiet;
    o->t.save_dtype = models::parse_storage_dtype(o->save_dtype);

    const models::LlamaConfig cfg = train::make_llama_config(o->m, tok);
    Generator gen(o->t.seed);
    nn::Init init;
    init.gen = &gen;
    models::LlamaForCausalLM model(cfg, init);
    train::hf_init_llama(model, gen);
    model.to(device);  // before the trainer: its optimizer holds the parameters
    train::LmTrainer trainer(model, train_seqs, o->t, docs);
    if (o->resume) {
      trainer.resume(out / "checkpoint.safetensors");
      std::fprintf(stderr, "resumed at step %lld\n", (long long)trainer.step());
    }
    // The tokenizer goes in first, so the folder is a loadable LLaMA as soon as the weights land.
    const bool is_json = fs::path(o->tokenizer).extension() == ".json";
    fs::create_directories(out);
    const fs::path tok_dst = out / (is_json ? "tokenizer.json" : "tokenizer.model");
    if (fs::weakly_canonical(o->tokenizer) != fs::weakly_canonical(tok_dst)) train::copy_file_atomic(o->tokenizer, tok_dst);

    std::fprintf(stderr,
                 "train lm: %zu captions (%zu val), vocab %lld, hidden %lld x %lld layers, %lld heads (%lld kv), "
                 "%lld parameters, %lld steps of %lld\n",
                 train_seqs.size(), val_seqs.size(), (long long)cfg.vocab_size, (long long)cfg.hidden_size,
                 (long long)cfg.num_hidden_layers, (long long)cfg.num_attention_heads,
                 (long long)cfg.num_key_value_heads, (long long)model.num_parameters(), (long long)o->t.steps,
                 (long long)o->t.batch);
    const int64_t first = trainer.step();
    const auto t0 = std::chrono::steady_clock::now();
    const auto res = trainer.fit(val_seqs.empty() ? nullptr : &val_seqs);
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (trainer.step() == first) trainer.save_all();  // nothing to train: still export the folder
    const int64_t done = trainer.step() - first;
    std::printf("steps %lld in %.1f s (%.2f steps/s)\n", (long long)done, secs, done > 0 ? double(done) / secs : 0.0);
    if (res) std::printf("val_loss %.4f val_ppl %.3f\n", res->loss, res->perplexity);
    // Greedy continuations of the first word of a few validation (else training) captions.
    const train::TokenSeqs& src = val_seqs.empty() ? train_seqs : val_seqs;
    train::TokenSeqs prompts;
    for (size_t i = 0; i < src.size() && int64_t(prompts.size()) < o->samples; i += std::max<size_t>(1, src.size() / 7))
      prompts.emplace_back(src[i].begin(), src[i].begin() + std::min<ptrdiff_t>(2, ptrdiff_t(src[i].size())));
    for (const auto& s : train::lm_greedy_samples(model, tok, prompts, o->max_len)) std::printf("sample: %s\n", s.c_str());
    std::printf("wrote %s\n", out.string().c_str());
  });
}

}  // namespace rscapret::app

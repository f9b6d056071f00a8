// `rscapret train clip --data JSON:IMAGE_ROOT... --out DIR [--init DIR] [--tokenizer vocab.json]`:
// contrastive training of both CLIP towers (see train/clip/clip_trainer.h). Without --init a fresh
// tiny CLIPModel is built from the size options; with --init an existing Hugging Face CLIP is
// fine-tuned (CLIP-Cap-4: --data repeated for the caption datasets). OUT gets config.json +
// model.safetensors + the tokenizer files, checkpoint.safetensors (for --resume) and log.csv.
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
#include "train/clip/clip_trainer.h"
#include "train/data/caption_dataset.h"
#include "train/lm/pretrain_common.h"

namespace rscapret::app {
namespace fs = std::filesystem;

namespace {

// The CLIP tokenizer of a model folder: vocab.json (+ merges.txt), tokenizer.json, or CLIP's
// bpe_simple_vocab_16e6.txt.gz.
fs::path find_clip_tokenizer(const fs::path& dir) {
  for (const char* name : {"vocab.json", "tokenizer.json", "bpe_simple_vocab_16e6.txt.gz"})
    if (fs::exists(dir / name)) return dir / name;
  throw IOError(cat("[train clip] no CLIP tokenizer (vocab.json, tokenizer.json or bpe_simple_vocab_16e6.txt.gz) in ",
                    dir.string(), "; pass --tokenizer"));
}

// Copies the tokenizer files next to the model, under the names find_clip_tokenizer looks for.
void copy_clip_tokenizer(const fs::path& tok, const fs::path& out) {
  auto copy = [](const fs::path& src, const fs::path& dst) {
    if (fs::exists(dst) && fs::equivalent(src, dst)) return;
    train::copy_file_atomic(src, dst);
  };
  if (tok.extension() == ".json" && tok.filename() != "tokenizer.json") {
    copy(tok.parent_path() / "merges.txt", out / "merges.txt");  // merges first: vocab.json implies them
    copy(tok, out / "vocab.json");
  } else {
    copy(tok, out / tok.filename());
  }
}

}  // namespace

void add_train_clip_command(CLI::App& train) {
  auto* cmd = train.add_subcommand("clip", "contrastive training of CLIP (fresh tiny model, or --init to fine-tune)");
  struct Opts {
    std::vector<std::string> data;
    std::string init, tokenizer, out, train_split = "train", val_split = "val", save_dtype = "f32";
    train::ClipModelOptions m;
    train::ClipTrainOptions t;
    int64_t val_images = 500;
    int threads = 2;
    bool resume = false, quiet = false;
    std::string device = "cpu";
  };
  auto o = std::make_shared<Opts>();
  cmd->add_option("--data", o->data, "caption dataset JSON:IMAGE_ROOT or NAME=JSON:IMAGE_ROOT (repeatable: Cap-4)")
      ->required();
  cmd->add_option("--out", o->out, "output folder (Hugging Face layout)")->required();
  cmd->add_option("--init", o->init, "fine-tune this Hugging Face CLIP folder (default: a fresh model)");
  cmd->add_option("--tokenizer", o->tokenizer, "CLIP tokenizer: vocab.json (merges.txt beside it), tokenizer.json or "
                                               "bpe_simple_vocab_16e6.txt.gz (default: the --init folder's)");
  cmd->add_option("--train-split", o->train_split, "split to train on (default train)");
  cmd->add_option("--val-split", o->val_split, "split to validate on (default val; empty: none)");
  cmd->add_option("--val-images", o->val_images, "validation images (default 500)");
  auto* size_opt = cmd->add_option("--image-size", o->m.image_size, "image side of a fresh model (default 64)");
  cmd->add_option("--patch", o->m.patch, "patch side (default 8)");
  cmd->add_option("--vision-width", o->m.vision_width, "vision hidden size (default 192)");
  cmd->add_option("--vision-layers", o->m.vision_layers, "vision layers (default 4)");
  cmd->add_option("--text-width", o->m.text_width, "text hidden size (default 128)");
  cmd->add_option("--text-layers", o->m.text_layers, "text layers (default 3)");
  cmd->add_option("--heads", o->m.heads, "attention heads of both towers (default 4)");
  cmd->add_option("--projection-dim", o->m.projection_dim, "embedding width (default 128)");
  cmd->add_option("--max-text-len", o->m.max_text_len, "text positions (default 77)");
  cmd->add_option("--steps", o->t.steps, "optimizer steps (default 600)");
  cmd->add_option("--batch", o->t.batch, "image-caption pairs per step (default 64)");
  auto* lr_opt = cmd->add_option("--lr", o->t.adamw.lr, "peak learning rate (default 5e-4; 1e-5 with --init)");
  cmd->add_option("--min-lr-factor", o->t.min_lr_factor, "cosine floor as a fraction of lr (default 0)");
  cmd->add_option("--warmup", o->t.warmup_steps, "linear warmup steps (default 50)");
  cmd->add_option("--weight-decay", o->t.adamw.weight_decay, "AdamW weight decay on matrices (default 0.1)");
  cmd->add_option("--clip-grad", o->t.clip_grad_norm, "global gradient-norm clip (default 1.0; <= 0: none)");
  cmd->add_option("--seed", o->t.seed, "seed of the init, data order and augmentation (default 0)");
  cmd->add_flag("--augment", o->t.augment, "random flips and quarter turns of the images");
  cmd->add_option("--eval-every", o->t.eval_every, "validate every N steps (default: at the end)");
  cmd->add_option("--save-every", o->t.save_every, "checkpoint every N steps (default: at the end)");
  cmd->add_option("--save-dtype", o->save_dtype, "storage dtype of model.safetensors: f32 (default), bf16, f16");
  cmd->add_option("--threads", o->threads, "image decoding threads (default 2)");
  cmd->add_flag("--resume", o->resume, "continue from OUT/checkpoint.safetensors");
  cmd->add_flag("--quiet", o->quiet, "no progress bar");
  add_device_option(cmd, o->device, "trains");
  cmd->callback([o, size_opt, lr_opt] {
    const Device device = parse_device_option(o->device);
    const fs::path out = o->out;
    fs::path tok_path = o->tokenizer;
    if (tok_path.empty()) {
      RS_CHECK(!o->init.empty(), ValueError, "train clip", "a fresh model needs --tokenizer (CLIP vocab.json)");
      tok_path = find_clip_tokenizer(o->init);
    }
    RS_CHECK(fs::exists(tok_path), IOError, "train clip", "tokenizer not found: ", tok_path.string());
    const auto tok = tokenizers::ClipTokenizer::load(tok_path);

    Generator gen(o->t.seed);
    std::shared_ptr<models::ClipModel> model;
    if (o->init.empty()) {
      nn::Init init;
      init.gen = &gen;
      model = std::make_shared<models::ClipModel>(train::make_clip_config(o->m, tok), init);
      train::hf_init_clip(*model, gen);
    } else {
      model = models::ClipModel::from_pretrained(o->init);
      model->unfreeze();  // copies the mapped weights into trainable memory
      model->to(DType::f32);
      if (lr_opt->count() == 0) o->t.adamw.lr = 1e-5;  // fine-tuning: a small step keeps what CLIP knows
      if (size_opt->count() > 0 && o->m.image_size != model->config().vision.image_size)
        std::fprintf(stderr, "note: --image-size %lld ignored: %s takes %lld px\n", (long long)o->m.image_size,
                     o->init.c_str(), (long long)model->config().vision.image_size);
    }
    train::check_clip_tokenizer(model->config(), tok);
    const int size = int(model->config().vision.image_size);

    std::vector<data::CaptionSource> sources;
    for (const auto& d : o->data) sources.push_back(data::parse_caption_source(d));
    const data::CaptionDataset all = data::CaptionDataset::load(sources);
    const data::CaptionDataset tr_ds = all.filter_split({o->train_split});
    RS_CHECK(!tr_ds.empty(), ValueError, "train clip", "no images in split '", o->train_split, "'");
    const auto t_load = std::chrono::steady_clock::now();
    train::ImageCaptionSet tr = train::load_image_captions(tr_ds, size, 0, o->threads, false);
    train::ImageCaptionSet val;
    if (!o->val_split.empty()) val = train::load_image_captions(all.filter_split({o->val_split}), size, o->val_images,
                                                                o->threads, false);
    const double load_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t_load).count();
    std::fprintf(stderr, "train clip: %lld train images, %lld val images loaded in %.1f s (%.0f images/s), "
                 "%lld unreadable skipped\n", (long long)tr.size(), (long long)val.size(), load_s,
                 double(tr.size() + val.size() + tr.skipped + val.skipped) / std::max(load_s, 1e-9),
                 (long long)(tr.skipped + val.skipped));

    o->t.out_dir = out;
    o->t.progress = !o->quiet;
    o->t.save_dtype = models::parse_storage_dtype(o->save_dtype);
    model->to(device);  // before the trainer: its optimizer holds the parameters (images move per batch)
    train::ClipTrainer trainer(*model, tok, std::move(tr), o->t);
    if (o->resume) {
      trainer.resume(out / "checkpoint.safetensors");
      std::fprintf(stderr, "resumed at step %lld\n", (long long)trainer.step());
    }
    fs::create_directories(out);
    copy_clip_tokenizer(tok_path, out);
    const auto& c = model->config();
    std::fprintf(stderr,
                 "model: %lld px / patch %lld, vision %lld x %lld, text %lld x %lld, projection %lld, vocab %lld, "
                 "%lld parameters; %lld steps of %lld, lr %.2e\n",
                 (long long)c.vision.image_size, (long long)c.vision.patch_size, (long long)c.vision.hidden_size,
                 (long long)c.vision.num_hidden_layers, (long long)c.text.hidden_size,
                 (long long)c.text.num_hidden_layers, (long long)c.projection_dim, (long long)c.text.vocab_size,
                 (long long)model->num_parameters(), (long long)o->t.steps, (long long)o->t.batch, o->t.adamw.lr);
    const int64_t first = trainer.step();
    const auto t0 = std::chrono::steady_clock::now();
    const auto res = trainer.fit(val.size() > 0 ? &val : nullptr);
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (trainer.step() == first) trainer.save_all();
    const int64_t done = trainer.step() - first;
    std::printf("steps %lld in %.1f s (%.2f steps/s, %.1f images/s)\n", (long long)done, secs,
                done > 0 ? double(done) / secs : 0.0, done > 0 ? double(done * o->t.batch) / secs : 0.0);
    if (res)
      std::printf("t2i_r1 %.4f t2i_r5 %.4f i2t_r1 %.4f i2t_r5 %.4f (%lld images)\n", res->t2i_r1, res->t2i_r5,
                  res->i2t_r1, res->i2t_r5, (long long)res->images);
    std::printf("wrote %s\n", out.string().c_str());
  });
}

}  // namespace rscapret::app

// `rscapret train bridge --clip DIR --llama DIR --data JSON:IMAGES [...] --out DIR`: trains
// RS-CapRet's linear layers and [RET] rows on frozen CLIP and LLaMA (FROMAGe's recipe, METHOD.md §3).
// Writes OUT/bridge.json, OUT/bridge.safetensors (weights + AdamW state, atomic, xxh3) and OUT/log.csv;
// --resume continues from OUT/bridge.safetensors bit for bit.
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "app/commands.h"
#include "app/device_option.h"
#include "models/rscapret/bundle.h"
#include "train/bridge/dataset_batches.h"
#include "train/bridge/prefetch.h"
#include "train/bridge/trainer.h"

namespace rscapret::app {

void add_train_bridge_command(CLI::App& train) {
  auto* cmd = train.add_subcommand("bridge", "train the RS-CapRet bridge (W_c, W_i, W_t, logit_scale, [RET] rows)");
  struct Opts {
    models::RsCapRetSpec spec;
    std::vector<std::string> data;
    std::string train_split = "train", val_split = "val", out;
    int64_t batch = 16, val_images = 256;
    train::BridgeTrainOptions t;
    bool resume = false, quiet = false;
    std::string device = "cpu";
    std::string quantize = "none";
  };
  auto o = std::make_shared<Opts>();
  cmd->add_option("--clip", o->spec.clip_dir, "frozen CLIP folder (Hugging Face layout)")->required();
  cmd->add_option("--llama", o->spec.llama_dir, "frozen LLaMA folder (Hugging Face layout)")->required();
  cmd->add_option("--tokenizer", o->spec.tokenizer, "tokenizer file (default: the LLaMA folder's)");
  cmd->add_option("--backbone-dtype", o->spec.backbone_dtype, "bf16 (default), f32 or stored");
  cmd->add_option("--data", o->data, "caption dataset JSON:IMAGE_ROOT or NAME=JSON:IMAGE_ROOT (repeat for Cap-4)")
      ->required();
  cmd->add_option("--train-split", o->train_split, "split to train on (default train)");
  cmd->add_option("--val-split", o->val_split, "split to validate on (default val; empty: none)");
  cmd->add_option("--val-images", o->val_images, "validation images (default 256)");
  cmd->add_option("--out", o->out, "output folder")->required();
  cmd->add_option("--steps", o->t.steps, "optimizer steps (default 1000)");
  cmd->add_option("--batch", o->batch, "micro-batch size (default 16)");
  cmd->add_option("--grad-accum", o->t.grad_accum, "micro-batches per step (default 1)");
  cmd->add_option("--lr", o->t.adamw.lr, "learning rate (default 3e-4)");
  cmd->add_option("--warmup", o->t.warmup_steps, "linear warmup steps (default 100)");
  cmd->add_option("--clip-grad", o->t.clip_grad_norm, "global gradient-norm clip (default 1.0)");
  cmd->add_option("--seed", o->t.seed, "seed of the data order and caption concatenation");
  cmd->add_option("--eval-every", o->t.eval_every, "validate every N steps (default: at the end)");
  cmd->add_option("--bleu-images", o->t.bleu_images, "validation images captioned for BLEU-4 (default 32)");
  cmd->add_option("--save-every", o->t.save_every, "checkpoint every N steps (default: at the end)");
  cmd->add_option("--visual-tokens", o->spec.options.num_visual_tokens, "k visual tokens (default 1)");
  cmd->add_option("--retrieval-dim", o->spec.options.retrieval_dim, "retrieval width (default 256)");
  cmd->add_option("--max-len", o->spec.options.max_len, "caption tokens incl. BOS and [RET] (default 24)");
  cmd->add_option("--pad-id", o->spec.options.pad_id, "pad id, masked out of the losses (default 0 = <unk>)");
  cmd->add_option("--caption-weight", o->spec.options.caption_loss_weight, "lambda_c (default 1)");
  cmd->add_option("--ret-lm-weight", o->spec.options.ret_lm_loss_weight, "retrieval-mode LM loss weight (default 1)");
  cmd->add_option("--contrastive-weight", o->spec.options.contrastive_loss_weight, "InfoNCE weight (default 1)");
  cmd->add_option("--concat-prob", o->spec.options.concat_captions_prob, "caption concatenation probability (0.5)");
  add_device_option(cmd, o->device, "trains");
  add_matmul_precision_option(cmd);
  add_quantize_option(cmd, o->quantize);
  cmd->add_flag("--resume", o->resume, "continue from OUT/bridge.safetensors");
  cmd->add_flag("--quiet", o->quiet, "no progress bar");
  cmd->callback([o] {
    const Device device = parse_device_option(o->device);
    check_quantize_option(o->quantize, device);
    std::vector<data::CaptionSource> sources;
    for (const auto& d : o->data) sources.push_back(data::parse_caption_source(d));
    const data::CaptionDataset all = data::CaptionDataset::load(sources);
    const data::CaptionDataset tr = all.filter_split({o->train_split});
    RS_CHECK(!tr.empty(), ValueError, "train bridge", "no images in split '", o->train_split, "'");
    o->t.out_dir = o->out;
    o->t.progress = !o->quiet;
    nn::Init init;
    Generator gen(o->t.seed);
    init.gen = &gen;
    models::RsCapRetBundle bundle = models::load_rscapret(o->spec, init);
    bundle.model->to(device);
    apply_quantize_option(o->quantize, bundle.model->llm(), device);
    const int size = int(bundle.model->clip().config().vision.image_size);
    train::BridgeTrainer trainer(bundle, o->t);
    if (o->resume) {
      trainer.resume(std::filesystem::path(o->out) / "bridge.safetensors");
      std::fprintf(stderr, "resumed at step %lld\n", (long long)trainer.step());
    }
    auto stats = std::make_shared<train::DatasetBatchStats>();
    // Images are decoded one step ahead on a background thread (same batches, see prefetch.h).
    const auto batches = train::prefetch_batches(
        train::dataset_batches(tr, size, o->batch, o->t.grad_accum, o->t.seed, stats), o->t.grad_accum);
    std::optional<train::ValidationSet> val;
    if (!o->val_split.empty()) {
      const data::CaptionDataset vs = all.filter_split({o->val_split});
      if (!vs.empty()) val = train::dataset_validation(vs, size, o->val_images);
      if (val && !val->pixels.defined()) val.reset();
    }
    std::fprintf(stderr, "train bridge: %zu images (%zu captions), %lld trainable parameters, [RET] = %lld\n",
                 tr.size(), tr.caption_count(), (long long)bundle.model->num_parameters(true),
                 (long long)bundle.model->ret_id());
    const auto res = trainer.fit(batches, val ? &*val : nullptr);
    if (res)
      std::printf("t2i_r1 %.4f i2t_r1 %.4f bleu4 %.4f\n", res->t2i_r1, res->i2t_r1, res->bleu4);
    if (stats->skipped > 0) std::fprintf(stderr, "skipped %lld unreadable images\n", (long long)stats->skipped.load());
  });
}

}  // namespace rscapret::app

// FROMAGe's interleaved chat with an RS-CapRet model (METHOD.md §4.4, §4.2): a conversation of
// images and text, answered by the frozen LLaMA, with [RET] turning a hidden state into an image
// query.
//
// Layout of the model input, rebuilt from the conversation on every question (as FROMAGe's
// notebook re-runs generate_for_images_and_texts on the accumulated inputs):
//   items in order: an image is its visual prefix W_c(CLIP pooler) [K, C]; consecutive text is one
//   string, tokenized as one piece of text, with BOS only on the first text item of the conversation
//   (FROMAGe tokenizes every string with special tokens and keeps BOS on the first only).
//   A question appends "Q: " + question + "\nA:"; the answer is appended as " " + answer + "\n".
//   So an image followed by a first question reads  [img K positions] BOS "Q: what is it?\nA:".
//
// Decoding: greedy (temperature <= 0) or sampled (temperature, top_p, seed), one token at a time
// with a KV cache, until a stop: a newline or "Q:" in the decoded answer (cut before it), EOS, or
// max_new_tokens. When the model emits [RET] (or the caller forces it as the first answer token),
// [RET] is fed back as input and W_t of the final-norm hidden state at that position, normalised,
// ranks the index's images; that is the query the model was trained to produce ("... [RET]").
// Only the first [RET] of an answer retrieves (FROMAGe returns one image set per answer); the
// answer text never contains [RET].
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "models/rscapret/bundle.h"
#include "models/rscapret/retrieval.h"

namespace rscapret::models {

struct ChatOptions {
  int64_t max_new_tokens = 32;  // FROMAGe's num_words
  double temperature = 0.0;     // <= 0: greedy
  double top_p = 1.0;
  uint64_t seed = 0;            // sampling stream of the whole conversation
  int64_t top_k_images = 3;     // images returned per retrieval
  // FROMAGe's ret_scale_factor: the [RET] logit is multiplied by it (notebook values 1.0-1.3) to make
  // the model retrieve more readily. 1: unchanged.
  double ret_scale_factor = 1.0;
  // Called on each step's logits f32 [1, V + 1] after the [RET] scaling (a hook for biasing; tests).
  std::function<void(Tensor& logits)> logits_processor;
};

struct ChatHit {
  int64_t index = 0;  // row in the image index
  std::string path;
  double score = 0;   // cosine similarity
};

struct ChatReply {
  std::string text;               // the answer (no [RET], no stop text), as appended to the conversation
  std::vector<int64_t> tokens;    // generated ids, [RET] included, the stop token or text not cut off
  bool retrieved_requested = false;  // [RET] was emitted or forced
  std::vector<ChatHit> retrieved;    // top images of the first [RET] (empty without an index)
  std::string stop;               // "newline", "Q:", "eos" or "max_new_tokens"
  int64_t positions = 0;          // prompt + generated positions of this turn
  bool over_context = false;      // positions passed the LLM's max_position_embeddings
};

class RsCapRetChat {
 public:
  // The bundle must outlive the chat.
  explicit RsCapRetChat(const RsCapRetBundle& bundle, ChatOptions opt = {});

  // The image index for [RET]; ValueError when another model built it. nullptr: no retrieval.
  void set_index(std::shared_ptr<const ImageIndex> index, const std::string& model_desc = "this model");
  const ImageIndex* index() const { return index_.get(); }

  // An image: CLIP-preprocessed pixels [3, S, S] or [1, 3, S, S], or its pooled feature [Cv] / [1, Cv].
  void add_image(const Tensor& pixels);
  void add_pooled(const Tensor& pooled);
  void add_text(const std::string& text);
  // Appends "Q: question\nA:", generates the answer and appends it. force_retrieval: the answer
  // starts with [RET] (the user asked for an image), whatever the model would have emitted. When it
  // throws, the conversation (and the sampling stream) is as before the call.
  ChatReply ask(const std::string& question, bool force_retrieval = false);
  void reset();

 private:
  struct Item {
    Tensor prefix;     // [K, C] for an image; undefined for text
    std::string text;  // text item
  };

 public:
  // The conversation and sampling stream at one moment (image prefixes shared, not copied): a caller
  // that does more after ask() than can fail restores it to keep the turn all or nothing.
  struct Snapshot {
    std::vector<Item> items;
    std::mt19937_64 rng;
  };
  Snapshot snapshot() const;
  void restore(Snapshot s);

  // The model input as ids per position, kVisual for the K positions of each image (tests, debugging).
  static constexpr int64_t kVisual = -1;
  std::vector<int64_t> prompt_ids() const;
  // The model input, f32 [1, T, C].
  Tensor prompt_embeddings() const;
  size_t num_items() const { return items_.size(); }
  ChatOptions& options() { return opt_; }

 private:
  ChatReply answer(const std::string& question, bool force_retrieval);  // ask without the rollback
  std::vector<std::vector<int64_t>> tokenized() const;  // per item: ids (text) or K x kVisual
  int64_t choose(Tensor& logits);                       // logits f32 [1, V + 1] -> id

  const RsCapRetBundle& b_;
  ChatOptions opt_;
  std::shared_ptr<const ImageIndex> index_;
  std::vector<Item> items_;
  std::mt19937_64 rng_;
};

}  // namespace rscapret::models

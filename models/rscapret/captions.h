// Caption tokens and loss labels of RS-CapRet training (METHOD.md §1.3, FROMAGe's data.py).
//
// Dimensions: B batch, L max_len (text tokens, BOS and [RET] included), K visual tokens.
//
// A caption becomes "BOS words... [RET]", right-padded with pad_id to L; a caption too long keeps
// its first L - 1 tokens and ends with a forced [RET]. Labels:
//   captioning  [B, K + L]: -100 on the visual prefix, the BOS and words are targets, [RET] and
//               padding are not (BOS is predicted from the last visual position);
//   retrieval   [B, L]:     the tokens with padding -100 ([RET] IS a target: it teaches the frozen
//               LLM to emit [RET]).
// Padding is located by each row's length, never by comparing ids with pad_id, so any pad id works.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "tensor/tensor.h"

namespace rscapret::tokenizers {
class LlamaTokenizer;
}

namespace rscapret::models {

struct CaptionTokens {
  Tensor tokens;                 // i64 [B, L]
  std::vector<int64_t> lengths;  // per row: BOS + words + [RET] (<= L); the [RET] sits at lengths[b] - 1
  int64_t batch() const { return int64_t(lengths.size()); }
  int64_t max_len() const { return tokens.defined() ? tokens.shape()[1] : 0; }
};

// Tokenizes "caption" as BOS + encode(caption) + [RET] (plain-text encoding: a literal "[RET]" in
// the caption never becomes the special id). max_len <= 0: no padding, rows padded to the longest.
CaptionTokens tokenize_captions(const tokenizers::LlamaTokenizer& tok, const std::vector<std::string>& captions,
                                int64_t max_len, int64_t ret_id, int64_t pad_id);
// The same from already encoded word ids (no BOS, no [RET]); for tests and other tokenizers.
CaptionTokens make_caption_tokens(const std::vector<std::vector<int64_t>>& words, int64_t bos_id, int64_t max_len,
                                  int64_t ret_id, int64_t pad_id);

// i64 [B, K + L].
Tensor caption_labels(const CaptionTokens& t, int64_t num_visual_tokens);
// i64 [B, L].
Tensor retrieval_labels(const CaptionTokens& t);

// Caption concatenation (FROMAGe --concat-captions-prob): rows (2i, 2i+1) become one row
// [vis_a, words_a, vis_b, words_b, tail_a, tail_b] where words = BOS + caption and tail = [RET] +
// padding; an odd last row is kept alone and padded with K + L ignored positions. The position
// plan is shared by the embeddings and the labels.
struct ConcatSegment {
  enum class Kind : uint8_t { visual, tokens, padding };
  Kind kind;
  int64_t row;    // source row
  int64_t begin;  // tokens: the range [begin, end) of the row; padding: end - begin zero positions
  int64_t end;
  int64_t length(int64_t k) const { return kind == Kind::visual ? k : end - begin; }
};
struct ConcatPlan {
  std::vector<std::vector<ConcatSegment>> rows;  // per output row, in order
  int64_t length = 0;                            // 2 (K + L)
};
ConcatPlan concat_plan(const CaptionTokens& t, int64_t num_visual_tokens);
// Labels of a concatenated batch: i64 [ceil(B / 2), 2 (K + L)].
Tensor concat_caption_labels(const CaptionTokens& t, const ConcatPlan& plan, int64_t num_visual_tokens);

// FROMAGe's post-processing: the text up to (not including) the first '.', whitespace trimmed.
std::string truncate_caption(const std::string& text);

}  // namespace rscapret::models

#include "models/rscapret/captions.h"

#include <algorithm>

#include "models/tokenizers/llama_tokenizer.h"
#include "nn/losses.h"

namespace rscapret::models {

CaptionTokens make_caption_tokens(const std::vector<std::vector<int64_t>>& words, int64_t bos_id, int64_t max_len,
                                  int64_t ret_id, int64_t pad_id) {
  RS_CHECK(!words.empty(), ValueError, "captions", "no captions");
  RS_CHECK(max_len <= 0 || max_len >= 2, ValueError, "captions", "max_len must be >= 2 (BOS and [RET]), got ",
           max_len);
  std::vector<std::vector<int64_t>> rows;
  for (const auto& w : words) {
    std::vector<int64_t> r;
    r.reserve(w.size() + 2);
    r.push_back(bos_id);
    r.insert(r.end(), w.begin(), w.end());
    r.push_back(ret_id);
    if (max_len > 0 && int64_t(r.size()) > max_len) {  // truncated: the last kept token becomes [RET]
      r.resize(size_t(max_len));
      r.back() = ret_id;
    }
    rows.push_back(std::move(r));
  }
  int64_t L = max_len;
  if (L <= 0)
    for (const auto& r : rows) L = std::max<int64_t>(L, int64_t(r.size()));
  const int64_t B = int64_t(rows.size());
  CaptionTokens out;
  std::vector<int64_t> flat(size_t(B * L), pad_id);
  for (int64_t b = 0; b < B; ++b) {
    std::copy(rows[b].begin(), rows[b].end(), flat.begin() + b * L);
    out.lengths.push_back(int64_t(rows[b].size()));
  }
  out.tokens = Tensor::from_vector(flat, {B, L});
  return out;
}

CaptionTokens tokenize_captions(const tokenizers::LlamaTokenizer& tok, const std::vector<std::string>& captions,
                                int64_t max_len, int64_t ret_id, int64_t pad_id) {
  std::vector<std::vector<int64_t>> words;
  for (const auto& c : captions) {
    const std::vector<int32_t> ids = tok.encode(c, /*add_bos=*/false);
    words.emplace_back(ids.begin(), ids.end());
  }
  return make_caption_tokens(words, tok.bos_id(), max_len, ret_id, pad_id);
}

Tensor caption_labels(const CaptionTokens& t, int64_t k) {
  const int64_t B = t.batch(), L = t.max_len();
  const Tensor tok = t.tokens.contiguous();
  const int64_t* p = tok.data<int64_t>();
  std::vector<int64_t> lab(size_t(B * (k + L)), nn::kIgnoreIndex);
  for (int64_t b = 0; b < B; ++b)
    for (int64_t j = 0; j + 1 < t.lengths[b]; ++j) lab[size_t(b * (k + L) + k + j)] = p[b * L + j];
  return Tensor::from_vector(lab, {B, k + L});
}

Tensor retrieval_labels(const CaptionTokens& t) {
  const int64_t B = t.batch(), L = t.max_len();
  const Tensor tok = t.tokens.contiguous();
  const int64_t* p = tok.data<int64_t>();
  std::vector<int64_t> lab(size_t(B * L), nn::kIgnoreIndex);
  for (int64_t b = 0; b < B; ++b)
    for (int64_t j = 0; j < t.lengths[b]; ++j) lab[size_t(b * L + j)] = p[b * L + j];
  return Tensor::from_vector(lab, {B, L});
}

ConcatPlan concat_plan(const CaptionTokens& t, int64_t k) {
  using Kind = ConcatSegment::Kind;
  const int64_t B = t.batch(), L = t.max_len();
  ConcatPlan plan;
  plan.length = 2 * (k + L);
  for (int64_t a = 0; a < B; a += 2) {
    std::vector<ConcatSegment> row;
    const int64_t la = t.lengths[a];
    row.push_back({Kind::visual, a, 0, 0});
    row.push_back({Kind::tokens, a, 0, la - 1});
    if (a + 1 < B) {
      const int64_t b = a + 1, lb = t.lengths[b];
      row.push_back({Kind::visual, b, 0, 0});
      row.push_back({Kind::tokens, b, 0, lb - 1});
      row.push_back({Kind::tokens, a, la - 1, L});
      row.push_back({Kind::tokens, b, lb - 1, L});
    } else {
      row.push_back({Kind::tokens, a, la - 1, L});
      row.push_back({Kind::padding, a, 0, k + L});
    }
    plan.rows.push_back(std::move(row));
  }
  return plan;
}

Tensor concat_caption_labels(const CaptionTokens& t, const ConcatPlan& plan, int64_t k) {
  const int64_t L = t.max_len(), R = int64_t(plan.rows.size()), T = plan.length;
  const Tensor tok = t.tokens.contiguous();
  const int64_t* p = tok.data<int64_t>();
  std::vector<int64_t> lab(size_t(R * T), nn::kIgnoreIndex);
  for (int64_t r = 0; r < R; ++r) {
    int64_t pos = 0;
    for (const ConcatSegment& s : plan.rows[r]) {
      // Only the word ranges (BOS + caption, ending before [RET]) are targets.
      if (s.kind == ConcatSegment::Kind::tokens && s.end <= t.lengths[s.row] - 1)
        for (int64_t j = s.begin; j < s.end; ++j) lab[size_t(r * T + pos + j - s.begin)] = p[s.row * L + j];
      pos += s.length(k);
    }
    RS_ASSERT(pos == T, "concat plan row ", r, " has ", pos, " positions, expected ", T);
  }
  return Tensor::from_vector(lab, {R, T});
}

std::string truncate_caption(const std::string& text) {
  std::string s = text.substr(0, text.find('.'));
  const auto first = s.find_first_not_of(" \t\n");
  if (first == std::string::npos) return "";
  const auto last = s.find_last_not_of(" \t\n");
  return s.substr(first, last - first + 1);
}

}  // namespace rscapret::models

// libFuzzer target for both tokenizers and their file loaders. Needs no files: it builds a small
// SentencePiece-like model (as ModelProto bytes, so the protobuf reader is exercised too) and a
// small CLIP merges list in code. The first input byte picks what the rest is fed to:
//   0 LLaMA encode/decode (checks the round trip on valid UTF-8)   1 CLIP encode/decode
//   2 SentencePiece ModelProto loader   3 llama2.c tokenizer.bin loader   4 CLIP merges loader
//   5 tokenizer.json loaders            6 decode of arbitrary ids (both tokenizers)
//   bash tools/fuzz/run.sh tokenizers 30
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "models/tokenizers/clip_tokenizer.h"
#include "models/tokenizers/llama_tokenizer.h"
#include "models/tokenizers/unicode.h"
#include "tensor/error.h"

namespace tk = rscapret::tokenizers;

namespace {

void put_varint(std::string& s, uint64_t v) {
  while (v >= 0x80) { s.push_back(static_cast<char>((v & 0x7F) | 0x80)); v >>= 7; }
  s.push_back(static_cast<char>(v));
}
void put_bytes(std::string& s, uint32_t field, const std::string& b) {
  put_varint(s, (field << 3) | 2);
  put_varint(s, b.size());
  s += b;
}
void put_int(std::string& s, uint32_t field, uint64_t v) {
  put_varint(s, (field << 3) | 0);
  put_varint(s, v);
}
std::string piece_msg(const std::string& p, float score, int type) {
  std::string m;
  put_bytes(m, 1, p);
  uint32_t bits;
  std::memcpy(&bits, &score, 4);
  put_varint(m, (2 << 3) | 5);
  for (int k = 0; k < 4; ++k) m.push_back(static_cast<char>((bits >> (8 * k)) & 0xFF));
  put_int(m, 3, static_cast<uint64_t>(type));
  return m;
}

std::string synthetic_model_proto() {
  std::string proto;
  put_bytes(proto, 1, piece_msg("<unk>", 0, 2));
  put_bytes(proto, 1, piece_msg("<s>", 0, 3));
  put_bytes(proto, 1, piece_msg("</s>", 0, 3));
  for (int b = 0; b < 256; ++b) {
    char name[8];
    std::snprintf(name, sizeof(name), "<0x%02X>", b);
    put_bytes(proto, 1, piece_msg(name, 0, 6));
  }
  const char* normal[] = {"\xE2\x96\x81\xE2\x96\x81", "\xE2\x96\x81t", "he", "\xE2\x96\x81the", "in",
                          "\xE2\x96\x81" "a", "ab", "\xE2\x96\x81" "ab", "ing", "\xE2\x96\x81\xE2\x96\x81\xE2\x96\x81",
                          "\xE6\x97\xA5\xE6\x9C\xAC", "\xE2\x96\x81", "t", "h", "e", "a", "b", "i", "n", "g",
                          "\xE6\x97\xA5", "\xE6\x9C\xAC", "!", "."};
  float score = 0;
  for (const char* p : normal) put_bytes(proto, 1, piece_msg(p, score -= 1, 1));
  std::string trainer;
  put_int(trainer, 3, 2);   // BPE
  put_int(trainer, 35, 1);  // byte_fallback
  put_bytes(proto, 2, trainer);
  std::string norm;
  put_bytes(norm, 1, "identity");
  put_int(norm, 3, 1);
  put_int(norm, 4, 0);
  put_bytes(proto, 3, norm);
  return proto;
}

const tk::LlamaTokenizer& llama() {
  static const tk::LlamaTokenizer t = [] {
    auto tok = tk::LlamaTokenizer::from_sentencepiece(synthetic_model_proto(), "synthetic");
    tok.add_special_token("[RET]");
    return tok;
  }();
  return t;
}

const tk::ClipTokenizer& clip() {
  static const tk::ClipTokenizer t = tk::ClipTokenizer::from_merges_text(
      "#version: synthetic\nt h\nth e</w>\ni n\nin g</w>\na b\nab c</w>\n\xC3 \xA9\n", "synthetic", 7);
  return t;
}

[[noreturn]] void fail(const char* what) {
  std::fprintf(stderr, "fuzz_tokenizers: %s\n", what);
  std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string in(reinterpret_cast<const char*>(data) + 1, size - 1);
  try {
    switch (data[0] % 7) {
      case 0: {
        const auto ids = llama().encode(in);
        const auto special = llama().encode_with_special(in);
        for (const int32_t id : ids) if (id == llama().piece_to_id("[RET]")) fail("[RET] from plain text");
        const std::string back = llama().decode(ids);
        if (!tk::utf8_is_valid(back)) fail("LLaMA decode gave invalid UTF-8");
        if (tk::utf8_is_valid(in) && in.find("\xE2\x96\x81") == std::string::npos && back != in)
          fail("LLaMA round trip differs");
        (void)llama().decode(special);
        break;
      }
      case 1: {
        const auto ids = clip().encode(in);
        if (ids.size() < 2 || ids.front() != clip().start_id() || ids.back() != clip().end_id())
          fail("CLIP ids lack start/end");
        if (!tk::utf8_is_valid(clip().decode(ids))) fail("CLIP decode gave invalid UTF-8");
        if (clip().encode_padded(in).size() != 77) fail("CLIP padded size");
        break;
      }
      case 2: tk::LlamaTokenizer::from_sentencepiece(in, "fuzz.model").encode("the thing 日本"); break;
      case 3: tk::LlamaTokenizer::from_llama2c(in, "fuzz.bin").encode("the thing"); break;
      case 4: tk::ClipTokenizer::from_merges_text(in, "fuzz.txt", 4).encode("the thing"); break;
      case 5:
        try { tk::LlamaTokenizer::from_hf_json(in, "fuzz.json").encode("the thing"); } catch (const rscapret::Error&) {}
        tk::ClipTokenizer::from_hf_json(in, "fuzz.json").encode("the thing");
        break;
      case 6: {
        std::vector<int32_t> ids;
        for (size_t i = 0; i + 1 < in.size(); i += 2)
          ids.push_back(static_cast<uint8_t>(in[i]) | (static_cast<uint8_t>(in[i + 1]) << 8));
        std::vector<int32_t> l, c;
        for (const int32_t id : ids) {
          l.push_back(id % llama().vocab_size());
          c.push_back(id % clip().vocab_size());
        }
        if (!tk::utf8_is_valid(llama().decode(l))) fail("LLaMA decode of ids gave invalid UTF-8");
        if (!tk::utf8_is_valid(clip().decode(c, false))) fail("CLIP decode of ids gave invalid UTF-8");
        break;
      }
    }
  } catch (const rscapret::Error&) {
    // Typed errors are the expected answer to malformed input.
  }
  return 0;
}

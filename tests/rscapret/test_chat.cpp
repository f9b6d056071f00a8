// FROMAGe chat (models/rscapret/chat.h), `rscapret chat`, and image->text retrieval
// (`rscapret retrieve --image`), on the tiny fixture backbones.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <limits>

#include "autograd/autograd.h"
#include "autograd/ops.h"
#include "models/rscapret/chat.h"
#include "models/rscapret/retrieval.h"
#include "nn/losses.h"
#include "tests/rscapret/eval_test_util.h"
#include "train/bridge/dataset_batches.h"

namespace rscapret::testing {
namespace {
namespace fs = std::filesystem;

struct ChatFixture {
  fs::path tmp;
  models::RsCapRetBundle b;
};

ChatFixture load_chat_model(const std::string& name) {
  ChatFixture f;
  f.tmp = temp_dir(name);
  const fs::path model = make_tiny_model_dir(f.tmp / "model", 7, write_chat_tokenizer(f.tmp / "tok"));
  f.b = models::load_rscapret_dir(model);
  return f;
}

// Final-norm hidden state of the last position of embeds [1, T, C], without a cache: [1, C].
Tensor last_hidden(const models::RsCapRet& m, const Tensor& embeds) {
  models::LlamaInput in;
  in.inputs_embeds = embeds;
  in.logits = false;
  const Tensor h = m.llm().forward(in).last_hidden_state;  // [1, T, C]
  return h.select(1, h.shape()[1] - 1);
}

double max_abs_diff(const Tensor& a, const Tensor& b) {
  const auto x = a.to_vector<float>(), y = b.to_vector<float>();
  EXPECT_EQ(x.size(), y.size());
  double d = 0;
  for (size_t i = 0; i < x.size(); ++i) d = std::max(d, std::abs(double(x[i]) - y[i]));
  return d;
}

// The exact input of an image + question turn, its first logits, and the second turn's layout.
TEST(RsCapRetChat, PromptLayout) {
  RSCAPRET_REQUIRE_TINY();
  autograd::NoGradGuard no_grad;
  const ChatFixture f = load_chat_model("chat_layout");
  const models::RsCapRet& m = *f.b.model;
  const auto& tok = *f.b.tokenizer;
  ASSERT_EQ(m.options().num_visual_tokens, 1);

  std::vector<int64_t> seen_ids;
  Tensor seen_logits;
  models::ChatOptions opt;
  opt.max_new_tokens = 4;
  models::RsCapRetChat chat(f.b, opt);
  chat.options().logits_processor = [&](Tensor& l) {
    if (seen_ids.empty()) {
      seen_ids = chat.prompt_ids();
      seen_logits = l.clone();
    }
  };
  const Tensor px = random_pixels(1, 11);  // [1, 3, 32, 32]
  chat.add_image(px.select(0, 0));
  const models::ChatReply r = chat.ask("what?");

  // [image] BOS "▁Q" ":" "▁w" "h" "a" "t" "?" "\n" "A" ":" (ids of write_chat_tokenizer)
  const std::vector<int64_t> expected = {models::RsCapRetChat::kVisual, 1, 72, 69, 52, 11, 4, 23, 70, 71, 68, 69};
  EXPECT_EQ(seen_ids, expected);
  // The first logits are the model's on [W_c(CLIP(px)), embed(BOS Q: what?\nA:)].
  const std::vector<int64_t> words(expected.begin() + 1, expected.end());
  const Tensor embeds = ops::concat({m.visual_prefix(m.encode_images(px)),
                                     m.embed_tokens(Tensor::from_vector(words, {1, int64_t(words.size())}))},
                                    1);  // [1, 12, C]
  const Tensor want = m.logits(last_hidden(m, embeds).unsqueeze(1)).select(1, 0);  // [1, V + 1]
  ASSERT_TRUE(seen_logits.defined());
  EXPECT_LT(max_abs_diff(seen_logits, want), 1e-4);

  EXPECT_LE(r.tokens.size(), 4u);
  EXPECT_EQ(r.text.find('\n'), std::string::npos);
  EXPECT_FALSE(r.stop.empty());
  // The answer joins the conversation as " answer\n"; the next question follows in the same string.
  std::vector<int64_t> after = {models::RsCapRetChat::kVisual};
  for (int32_t id : tok.encode("Q: what?\nA: " + r.text + "\n", true)) after.push_back(id);
  EXPECT_EQ(chat.prompt_ids(), after);
  seen_ids.clear();
  chat.ask("where?");
  std::vector<int64_t> second = {models::RsCapRetChat::kVisual};
  for (int32_t id : tok.encode("Q: what?\nA: " + r.text + "\nQ: where?\nA:", true)) second.push_back(id);
  EXPECT_EQ(seen_ids, second);

  // Text before an image, then the image: BOS stays on the first text only.
  chat.reset();
  chat.add_text("a map");
  chat.add_pooled(m.encode_images(px));
  seen_ids.clear();
  chat.ask("what?");
  std::vector<int64_t> interleaved;
  for (int32_t id : tok.encode("a map", true)) interleaved.push_back(id);
  interleaved.push_back(models::RsCapRetChat::kVisual);
  for (int32_t id : tok.encode("Q: what?\nA:", false)) interleaved.push_back(id);
  EXPECT_EQ(seen_ids, interleaved);
  fs::remove_all(f.tmp);
}

// An index of `n` random images made with the model (the format of `rscapret index`).
std::shared_ptr<models::ImageIndex> make_index(const models::RsCapRetBundle& b, const fs::path& path, int n) {
  const Tensor pooled = b.model->encode_images(random_pixels(n, 21));  // [n, Cv]
  std::vector<std::string> paths;
  for (int i = 0; i < n; ++i) paths.push_back("img" + std::to_string(i) + ".png");
  models::save_image_index(path, models::embed_pooled(*b.model, pooled), b.model->options().retrieval_dim, paths,
                           models::module_xxh3(*b.model), "tiny");
  return std::make_shared<models::ImageIndex>(models::ImageIndex::load(path));
}

TEST(RsCapRetChat, EmittedRetRetrievesFromTheIndex) {
  RSCAPRET_REQUIRE_TINY();
  autograd::NoGradGuard no_grad;
  const ChatFixture f = load_chat_model("chat_ret");
  const models::RsCapRet& m = *f.b.model;
  const auto index = make_index(f.b, f.tmp / "index.safetensors", 5);
  ASSERT_EQ(index->size(), 5);

  models::ChatOptions opt;
  opt.max_new_tokens = 3;
  opt.top_k_images = 2;
  Tensor prompt;  // the input when the model emits [RET]
  models::RsCapRetChat chat(f.b, opt);
  int calls = 0;
  chat.options().logits_processor = [&](Tensor& l) {
    if (calls++ == 0) {  // make the model emit [RET] first, as a trained one would for "show me ..."
      prompt = chat.prompt_embeddings();
      l.data<float>()[m.ret_id()] = 1e9f;
    }
  };
  chat.set_index(index);
  const models::ChatReply r = chat.ask("show me a farm?");
  ASSERT_FALSE(r.tokens.empty());
  EXPECT_EQ(r.tokens[0], m.ret_id());
  EXPECT_TRUE(r.retrieved_requested);
  ASSERT_EQ(r.retrieved.size(), 2u);
  EXPECT_GE(r.retrieved[0].score, r.retrieved[1].score);
  EXPECT_EQ(r.text.find("[RET]"), std::string::npos);

  // The query is W_t of the hidden state at the [RET] input position, recomputed without a cache.
  const Tensor with_ret = ops::concat({prompt, m.ret_input_embedding.unsqueeze(0)}, 1);  // [1, T + 1, C]
  const std::vector<float> q = nn::l2_normalize(m.text_hidden_fc->forward(last_hidden(m, with_ret))).to_vector<float>();
  const auto want = index->search(q, 2);
  for (size_t i = 0; i < 2; ++i) {
    EXPECT_EQ(r.retrieved[i].path, index->paths[size_t(want[i].index)]);
    EXPECT_NEAR(r.retrieved[i].score, want[i].score, 1e-4);
  }

  // Forced retrieval (a retrieval prompt) and no index: requested, nothing returned.
  models::RsCapRetChat plain(f.b, opt);
  const models::ChatReply forced = plain.ask("a farm", /*force_retrieval=*/true);
  EXPECT_EQ(forced.tokens.at(0), m.ret_id());
  EXPECT_TRUE(forced.retrieved_requested);
  EXPECT_TRUE(forced.retrieved.empty());
  plain.set_index(index);
  EXPECT_EQ(plain.ask("a farm", true).retrieved.size(), 2u);
  fs::remove_all(f.tmp);
}

TEST(RsCapRetChat, SamplingIsSeededAndIndexMustMatchTheModel) {
  RSCAPRET_REQUIRE_TINY();
  const ChatFixture f = load_chat_model("chat_misc");
  models::ChatOptions opt;
  opt.temperature = 1.0;
  opt.top_p = 0.9;
  opt.seed = 5;
  opt.max_new_tokens = 6;
  models::RsCapRetChat a(f.b, opt), c(f.b, opt);
  EXPECT_EQ(a.ask("what?").tokens, c.ask("what?").tokens);
  EXPECT_EQ(a.ask("and?").tokens, c.ask("and?").tokens);

  // Another bridge's index: refused with the reason.
  const fs::path other = f.tmp / "other.safetensors";
  models::save_image_index(other, std::vector<float>(size_t(f.b.model->options().retrieval_dim), 0.25f),
                           f.b.model->options().retrieval_dim, {"x.png"}, "0123456789abcdef", "elsewhere");
  models::RsCapRetChat chat(f.b, opt);
  try {
    chat.set_index(std::make_shared<models::ImageIndex>(models::ImageIndex::load(other)));
    ADD_FAILURE() << "an index of another model was accepted";
  } catch (const ValueError& e) {
    EXPECT_NE(std::string(e.what()).find("another model"), std::string::npos) << e.what();
  }
  std::ofstream(f.tmp / "junk.safetensors") << "junk";
  EXPECT_THROW(models::ImageIndex::load(f.tmp / "junk.safetensors"), FormatError);
  EXPECT_THROW(models::ImageIndex::load(f.tmp / "missing.safetensors"), IOError);
  EXPECT_THROW(chat.add_image(random_pixels(2, 1)), ShapeError);
  // Past the model's 128 positions: answered (rotary positions extend), and flagged.
  models::ChatOptions longer = opt;
  longer.temperature = 0;
  longer.max_new_tokens = 30;
  models::RsCapRetChat full(f.b, longer);
  full.options().logits_processor = [&](Tensor& l) {  // never stop early: always the same plain piece
    float* p = l.data<float>();
    for (int64_t v = 0; v < l.shape()[1]; ++v) p[v] = v == 10 ? 1.f : 0.f;
  };
  full.add_text(std::string(100, 'a'));
  const models::ChatReply over = full.ask("what is it?");
  EXPECT_EQ(over.tokens.size(), 30u);
  EXPECT_GT(over.positions, 128);
  EXPECT_TRUE(over.over_context);
  EXPECT_FALSE(chat.ask("ok?").over_context);
  fs::remove_all(f.tmp);
}

// A turn that fails half way (here the logits hook throws on its third step) leaves the
// conversation and the sampling stream as they were: the next answers equal an untouched chat's.
TEST(RsCapRetChat, AFailedTurnIsTakenBack) {
  RSCAPRET_REQUIRE_TINY();
  const ChatFixture f = load_chat_model("chat_rollback");
  models::ChatOptions opt;
  opt.temperature = 1.0;
  opt.seed = 11;
  opt.max_new_tokens = 5;
  models::RsCapRetChat failing(f.b, opt), untouched(f.b, opt);
  for (models::RsCapRetChat* c : {&failing, &untouched}) c->add_image(random_pixels(1, 3));  // [1, 3, 32, 32]
  const std::vector<int64_t> before = failing.prompt_ids();
  int steps = 0;
  failing.options().logits_processor = [&](Tensor&) {
    if (++steps == 3) throw ValueError("[test] hook failed");
  };
  EXPECT_THROW(failing.ask("what is it?"), ValueError);
  EXPECT_EQ(steps, 3);
  EXPECT_EQ(failing.prompt_ids(), before);
  failing.options().logits_processor = nullptr;
  EXPECT_EQ(failing.ask("what is it?").tokens, untouched.ask("what is it?").tokens);
  EXPECT_EQ(failing.ask("and?").tokens, untouched.ask("and?").tokens);

  // snapshot() and restore() by hand: a turn taken back answers again the same way.
  const models::RsCapRetChat::Snapshot s = failing.snapshot();
  const models::ChatReply first = failing.ask("more?");
  failing.restore(s);
  EXPECT_EQ(failing.ask("more?").tokens, first.tokens);
  fs::remove_all(f.tmp);
}

TEST(RsCapRetRetrieve, TopKOrdersByScoreThenIndex) {
  const std::vector<float> cand = {0, 1, 1, 0, 0.6f, 0.8f, 1, 0};  // 4 candidates of width 2
  const auto hits = models::top_k(cand, {1, 0}, 2, 3);
  ASSERT_EQ(hits.size(), 3u);
  EXPECT_EQ(hits[0].index, 1);  // score 1, tied with 3: the lower index first
  EXPECT_EQ(hits[1].index, 3);
  EXPECT_EQ(hits[2].index, 2);
  EXPECT_EQ(models::top_k(cand, {1, 0}, 2, 0).size(), 4u);
  EXPECT_THROW(models::top_k(cand, {1, 0, 0}, 2, 1), ShapeError);
}

TEST(RsCapRetCli, ChatAndImageToText) {
  RSCAPRET_REQUIRE_TINY();
  if (!have_cli()) GTEST_SKIP() << "rscapret binary not built";
  autograd::NoGradGuard no_grad;
  const fs::path tmp = temp_dir("chat_cli");
  const fs::path tok = write_chat_tokenizer(tmp / "tok");
  const std::string model = make_tiny_model_dir(tmp / "model", 7, tok).string();
  const fs::path json = make_tiny_dataset(tmp, 3);
  const fs::path images = tmp / "images";
  const std::string index = (tmp / "index.safetensors").string();
  const auto [rc_i, out_i] = run_cli("index " + images.string() + " -o " + index + " --model " + model);
  ASSERT_EQ(rc_i, 0) << out_i;

  // Piped dialogue: a question about the command-line image, a retrieval request, a second image.
  const std::string img0 = (images / "t0.png").string();
  const auto [rc, out] = run_cli("chat --model " + model + " --index " + index + " --image " + img0 +
                                     " --max-new-tokens 4 -k 2",
                                 "what is it?\n/retrieve a red roof\n\n/image " + (images / "t1.png").string() +
                                     "\n/image " + (tmp / "missing.png").string() + "\nand this?\n");
  ASSERT_EQ(rc, 0) << out;
  size_t answers = 0;
  for (size_t p = out.find("A: "); p != std::string::npos; p = out.find("A: ", p + 1)) answers += p == 0 || out[p - 1] == '\n';
  EXPECT_EQ(answers, 3u) << out;
  EXPECT_NE(out.find("[RET] 1 "), std::string::npos) << out;
  EXPECT_NE(out.find("[RET] 2 "), std::string::npos) << out;
  EXPECT_NE(out.find("cannot use image"), std::string::npos) << out;

  // Errors: an index that is not one, an index of another model, a missing model.
  std::ofstream(tmp / "bad.safetensors") << "junk";
  const auto [rc_b, ob] = run_cli("chat --model " + model + " --index " + (tmp / "bad.safetensors").string(), "hi\n");
  EXPECT_EQ(rc_b, 1) << ob;
  EXPECT_NE(ob.find("not an index"), std::string::npos) << ob;
  const std::string other = make_tiny_model_dir(tmp / "other", 8, tok).string();
  const auto [rc_o, oo] = run_cli("chat --model " + other + " --index " + index, "hi\n");
  EXPECT_EQ(rc_o, 1) << oo;
  EXPECT_NE(oo.find("another model"), std::string::npos) << oo;
  const auto [rc_r, orr] = run_cli("retrieve \"a red roof\" --index " + index + " --model " + other);
  EXPECT_EQ(rc_r, 1) << orr;
  EXPECT_NE(orr.find("another model"), std::string::npos) << orr;
  const auto [rc_m, om] = run_cli("chat --model " + (tmp / "nope").string(), "hi\n");
  EXPECT_EQ(rc_m, 1) << om;

  // Image -> text: a caption file, ranked by cosine; the top line is the library's best.
  const std::vector<std::string> caps = {"many green trees", "a red roof", "two white planes", "a blue river"};
  {
    std::ofstream f(tmp / "caps.txt");
    for (const auto& c : caps) f << c << "\n";
  }
  const auto [rc_t, ot] = run_cli("retrieve --image " + img0 + " --model " + model + " --texts " +
                                  (tmp / "caps.txt").string() + " -k 3");
  ASSERT_EQ(rc_t, 0) << ot;
  std::vector<std::string> lines;
  for (size_t a = 0, z; (z = ot.find('\n', a)) != std::string::npos; a = z + 1) lines.push_back(ot.substr(a, z - a));
  ASSERT_EQ(lines.size(), 3u) << ot;
  const models::RsCapRetBundle b = models::load_rscapret_dir(model);
  const Tensor px = train::load_clip_image(img0, 32).unsqueeze(0);
  const auto q = models::embed_pooled(*b.model, b.model->encode_images(px));
  const auto best = models::top_k(models::embed_texts(b, caps), q, b.model->options().retrieval_dim, 1).at(0);
  EXPECT_EQ(lines[0].substr(lines[0].rfind('\t') + 1), caps[size_t(best.index)]) << ot;
  EXPECT_EQ(lines[0].rfind("1\t", 0), 0u);
  double prev = 2;
  for (const auto& l : lines) {
    const double s = std::stod(l.substr(l.find('\t') + 1));
    EXPECT_LE(s, prev + 1e-9) << ot;
    prev = s;
  }
  // A dataset JSON as the candidates: every caption of the split (3 images x 2).
  const auto [rc_d, od] = run_cli("retrieve --image " + img0 + " --model " + model + " --texts " + json.string() +
                                  " --split test -k 100");
  ASSERT_EQ(rc_d, 0) << od;
  EXPECT_EQ(std::count(od.begin(), od.end(), '\n'), 6) << od;
  const auto [rc_e, oe] = run_cli("retrieve --image " + img0 + " --model " + model);
  EXPECT_EQ(rc_e, 1) << oe;
  EXPECT_NE(oe.find("--texts"), std::string::npos) << oe;

  // A constructed case: W_i maps every image onto the [RET] embedding of "a blue river" (zero
  // weight, that embedding as bias), so that caption has cosine 1 and must come first.
  models::RsCapRetBundle k = models::load_rscapret_dir(model);
  const auto t = models::tokenize_captions(*k.tokenizer, {"a blue river"}, k.model->options().max_len,
                                           k.model->ret_id(), k.model->options().pad_id);
  const Tensor target = k.model->text_embeddings(t).select(0, 0).contiguous();  // [Q]
  k.model->visual_fc->weight.copy_from(Tensor::zeros(k.model->visual_fc->weight.shape(), DType::f32));
  k.model->visual_fc->bias.copy_from(target);
  const fs::path known = tmp / "known";
  models::write_rscapret_spec(known, models::read_rscapret_spec(model));
  models::save_bridge_weights(known / "bridge.safetensors", *k.model);
  const auto [rc_k, ok] = run_cli("retrieve --image " + img0 + " --model " + known.string() + " --texts " +
                                  (tmp / "caps.txt").string() + " -k 4");
  ASSERT_EQ(rc_k, 0) << ok;
  EXPECT_EQ(ok.rfind("1\t1.000000\ta blue river\n", 0), 0u) << ok;
  fs::remove_all(tmp);
}

}  // namespace
}  // namespace rscapret::testing

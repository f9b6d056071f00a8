// demo.html of `rscapret demo`: one self-contained page (images inlined as data: URIs) with the
// sample gallery and its captions, the ranked text->image results and the chat transcript.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace rscapret::app {

struct DemoImage {
  std::filesystem::path path;
  std::string scene;      // ground truth from samples.json ("" when unknown)
  std::string reference;  // one human/grammar reference caption ("" when unknown)
  std::string caption;    // the model's caption
};

struct DemoQuery {
  std::string text;
  std::string target_scene;                    // the scene the query describes ("" when unknown)
  std::vector<std::pair<size_t, double>> ranked;  // (gallery index, cosine), best first
};

struct DemoChatTurn {
  std::string question, answer;
  std::vector<std::pair<size_t, double>> retrieved;  // gallery images the model returned with [RET]
};

struct DemoReport {
  std::string model_hash;
  std::vector<DemoImage> gallery;
  std::vector<DemoQuery> queries;
  size_t chat_image = 0;  // gallery index the chat is about
  std::vector<DemoChatTurn> chat;
  double seconds = 0;
};

std::string html_escape(const std::string& s);
std::string base64(const std::string& bytes);
// The page; images are read from their paths (an unreadable one is shown as its name).
std::string render_demo_html(const DemoReport& r);

}  // namespace rscapret::app

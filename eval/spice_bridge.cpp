#include "eval/spice_bridge.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>

#include "eval/text_util.h"

namespace rscapret::eval {

namespace fs = std::filesystem;

namespace {
std::string shell_quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}
}  // namespace

std::optional<MetricScores> spice_score(const CaptionCorpus& corpus, SpiceOptions opt, std::string* why) {
  auto fail = [why](std::string msg) -> std::optional<MetricScores> {
    if (why) *why = std::move(msg);
    return std::nullopt;
  };
  if (opt.jar.empty())
    if (const char* env = std::getenv("RSCAPRET_SPICE_JAR")) opt.jar = env;
  if (opt.java == "java")  // an explicit choice wins over the environment
    if (const char* env = std::getenv("RSCAPRET_JAVA")) opt.java = env;
  if (opt.jar.empty()) return fail("SPICE unavailable: give --spice-jar or set RSCAPRET_SPICE_JAR (official spice-1.0.jar)");
  if (!fs::exists(opt.jar)) return fail("SPICE unavailable: jar not found: " + opt.jar);
  check_corpus(corpus, "spice");

  std::random_device rd;
  const fs::path dir = fs::temp_directory_path() / ("rscapret_spice_" + std::to_string(rd()));
  fs::create_directories(dir);
  const fs::path in = dir / "input.json", out = dir / "output.json", log = dir / "log.txt";
  nlohmann::json input = nlohmann::json::array();
  for (size_t i = 0; i < corpus.size(); ++i)
    input.push_back({{"image_id", std::to_string(i)}, {"test", corpus.candidates[i]}, {"refs", corpus.references[i]}});
  std::ofstream(in) << input.dump();
  const fs::path cache = fs::path(opt.jar).parent_path() / "cache";
  const std::string cmd = shell_quote(opt.java) + " -jar -Xmx8G " + shell_quote(opt.jar) + " " + shell_quote(in.string()) +
                          " -cache " + shell_quote(cache.string()) + " -out " + shell_quote(out.string()) +
                          " -subset -silent > " + shell_quote(log.string()) + " 2>&1";
  const int rc = std::system(cmd.c_str());
  std::optional<MetricScores> result;
  try {
    if (rc != 0) {
      std::ifstream lf(log);
      std::string tail((std::istreambuf_iterator<char>(lf)), {});
      if (tail.size() > 400) tail = tail.substr(tail.size() - 400);
      result = fail("SPICE unavailable: the jar failed (exit " + std::to_string(rc) + "): " + tail);
    } else {
      std::ifstream f(out);
      const auto j = nlohmann::json::parse(f);
      MetricScores s;
      s.images.assign(corpus.size(), 0.0 / 0.0);
      for (const auto& item : j) {
        const size_t id = std::stoul(item.at("image_id").get<std::string>());
        if (id < s.images.size()) s.images[id] = item.at("scores").at("All").at("f").get<double>();
      }
      s.corpus = np_mean(s.images);  // pycocoevalcap: np.mean (NaN if any image is NaN)
      result = s;
    }
  } catch (const std::exception& e) {
    result = fail(std::string("SPICE unavailable: cannot read the jar's output: ") + e.what());
  }
  std::error_code ec;
  fs::remove_all(dir, ec);
  return result;
}

}  // namespace rscapret::eval

#include "synth/scene.h"

#include <algorithm>
#include <cctype>
#include <map>
#include <set>

#include "synth/scene_ctx.h"
#include "tensor/error.h"

namespace rscapret::synth {

namespace {

const char* const kNames[kNumSceneTypes] = {
    "farmland", "forest", "river", "beach", "dense_residential", "sparse_residential",
    "intersection", "freeway", "parking_lot", "airport", "storage_tanks", "harbor",
    "tennis_court", "baseball_field", "golf_course", "bare_land", "meadow", "chaparral",
    "mobile_home_park"};

using Gen = void (*)(Ctx&);
const Gen kGens[kNumSceneTypes] = {
    gen_farmland, gen_forest, gen_river, gen_beach, gen_dense_residential, gen_sparse_residential,
    gen_intersection, gen_freeway, gen_parking_lot, gen_airport, gen_storage_tanks, gen_harbor,
    gen_tennis_court, gen_baseball_field, gen_golf_course, gen_bare_land, gen_meadow,
    gen_chaparral, gen_mobile_home_park};

// Random streams of one image: layout and drawing, canvas noise, final lighting.
enum Stream : uint64_t { kLayout = 1, kNoise = 2, kLight = 3 };

}  // namespace

const char* scene_name(SceneType t) { return kNames[static_cast<int>(t)]; }

SceneType scene_from_name(const std::string& name) {
  for (int i = 0; i < kNumSceneTypes; ++i)
    if (name == kNames[i]) return static_cast<SceneType>(i);
  throw ValueError(cat("[synth] unknown scene type '", name, "'"));
}

SceneType scene_of_index(uint64_t index) { return static_cast<SceneType>(index % kNumSceneTypes); }

int count_objects(const std::vector<Object>& objs, const std::string& kind,
                  const std::vector<std::string>& colors, const std::string& size) {
  int n = 0;
  for (const auto& o : objs) {
    if (o.kind != kind) continue;
    if (!size.empty() && o.size != size) continue;
    bool ok = true;
    for (const auto& c : colors) {
      const std::string padded = " " + o.color + " ";
      if (padded.find(" " + c + " ") == std::string::npos) ok = false;
    }
    if (ok) n += o.count;
  }
  return n;
}

Rgb color_of(const std::string& name) {
  static const std::map<std::string, Rgb> kColors = {
      {"white", rgb8(232, 232, 226)},    {"light grey", rgb8(188, 188, 184)},
      {"grey", rgb8(138, 138, 136)},     {"dark grey", rgb8(82, 84, 88)},
      {"black", rgb8(34, 34, 38)},       {"red", rgb8(170, 58, 46)},
      {"orange", rgb8(206, 122, 52)},    {"yellow", rgb8(214, 188, 92)},
      {"brown", rgb8(132, 96, 62)},      {"green", rgb8(78, 132, 58)},
      {"dark green", rgb8(36, 76, 38)},  {"light green", rgb8(142, 178, 92)},
      {"blue", rgb8(46, 84, 158)},       {"dark blue", rgb8(24, 46, 92)},
      {"blue-green", rgb8(52, 140, 150)}, {"tan", rgb8(190, 160, 118)},
      {"sand", rgb8(222, 206, 160)},     {"concrete", rgb8(170, 168, 160)},
      {"asphalt", rgb8(70, 72, 76)},     {"soil", rgb8(120, 92, 66)},
      {"grey-green", rgb8(104, 118, 86)},
  };
  auto it = kColors.find(name);
  RS_ASSERT(it != kColors.end(), "unknown colour ", name);
  return it->second;
}

Ctx::Ctx(uint64_t seed, uint64_t index, int size)
    : rng(seed, index, kLayout), cv(size, hash3(seed, index, kNoise)) {
  theta = rng.uniform(0, kPi);
  s = rng.uniform(0.85f, 1.2f);
  sun = unit(rng.uniform(0, 2 * kPi));
}

Rgb Ctx::jitter(Rgb c, float a) {
  const float k = 1 + rng.uniform(-a, a);
  return {c.r * k * (1 + rng.uniform(-a, a) * 0.5f), c.g * k * (1 + rng.uniform(-a, a) * 0.5f),
          c.b * k * (1 + rng.uniform(-a, a) * 0.5f)};
}

void Ctx::ground(const std::string& a, const std::string& b, float freq, float grain) {
  cv.fill_noise(named(a), named(b), freq * rng.uniform(0.8f, 1.25f), 4, grain);
}

void Ctx::region(const std::function<float(Vec2)>& sd, const Paint& p) { cv.draw_sdf(sd, p); }

bool Ctx::is_free(Vec2 c, float r) const {
  for (const auto& [o, orad] : occupied) {
    const Vec2 d = c - o;
    if (dot(d, d) < (r + orad) * (r + orad)) return false;
  }
  return true;
}

bool Ctx::place(float r, float m, Vec2& out, const std::function<bool(Vec2)>& ok, int tries) {
  for (int t = 0; t < tries; ++t) {
    const Vec2 c{rng.uniform(r + m, 1 - r - m), rng.uniform(r + m, 1 - r - m)};
    if (!is_free(c, r)) continue;
    if (ok && !ok(c)) continue;
    out = c;
    occupy(c, r);
    return true;
  }
  return false;
}

void Ctx::road(Vec2 through, float angle, float width, bool dashes, const std::string& color) {
  const Vec2 d = unit(angle);
  Paint p{named(color, 0.05f)};
  p.tex = 0.06f;
  cv.draw(Shape{}.add(Stroke{{through - d * 1.6f, through + d * 1.6f}, width}), p);
  if (dashes) {
    Paint w{named("white", 0.03f)};
    w.alpha = 0.85f;
    const float len = 0.03f * s, gap = 0.03f * s;
    for (float t = -1.5f; t < 1.5f; t += len + gap)
      cv.draw(Shape{}.add(rect(through + d * t, len, std::max(0.004f, width * 0.06f), angle)), w);
  }
}

void Ctx::tree(Vec2 c, float r, Rgb crown) {
  Paint p{crown};
  p.tex = 0.12f;
  p.tex_freq = 90;
  p.dome = 0.25f;
  p.dome_c = c;
  p.dome_r = r;
  p.sun = sun;
  cv.draw_shadowed(circle(c, r), p, shadow(r * 0.9f), 0.5f);
}

void Ctx::car(Vec2 c, float angle, const std::string& color) {
  const float l = 0.042f * s, w = 0.02f * s;
  Paint p{named(color, 0.04f)};
  cv.draw_shadowed(Shape{}.add(rect(c, l, w, angle)), p, shadow(0.004f), 0.35f);
  Paint glass{rgb8(40, 48, 60)};
  glass.alpha = 0.6f;
  cv.draw(Shape{}.add(rect(c + unit(angle) * (l * 0.18f), l * 0.22f, w * 0.8f, angle)), glass);
}

void Ctx::building(Vec2 c, float w, float h, float angle, Rgb roof, float height) {
  const Vec2 v = unit(angle + kPi / 2);
  Paint a{roof}, b{scale(roof, 0.78f)};
  a.tex = b.tex = 0.05f;
  a.tex_freq = b.tex_freq = 60;
  const Shape whole = Shape{}.add(rect(c, w, h, angle));
  Paint sh{rgb8(12, 14, 18)};
  sh.alpha = 0.45f;
  cv.draw(whole.translated(shadow(height)), sh);
  // Gable roof: two halves lit differently, split along the long side.
  cv.draw(Shape{}.add(rect(c - v * (h * 0.25f), w, h * 0.5f, angle)), dot(v, sun) < 0 ? a : b);
  cv.draw(Shape{}.add(rect(c + v * (h * 0.25f), w, h * 0.5f, angle)), dot(v, sun) < 0 ? b : a);
}

std::string number_word(int n) {
  static const char* const kWords[] = {"zero", "one", "two",   "three", "four",   "five",  "six",
                                       "seven", "eight", "nine", "ten", "eleven", "twelve"};
  RS_ASSERT(n >= 0 && n <= 12, "number_word(", n, ")");
  return kWords[n];
}

std::string plural(const std::string& noun, int n) {
  if (n == 1) return noun;
  if (noun.size() >= 2 && noun.substr(noun.size() - 2) == "sh") return noun + "es";
  if (noun.back() == 'y') return noun.substr(0, noun.size() - 1) + "ies";
  return noun + "s";
}

std::string count_np(int n, const std::string& adjs, const std::string& noun) {
  if (n == 0) return "no " + plural(noun, 2);
  const std::string tail = (adjs.empty() ? "" : adjs + " ") + plural(noun, n);
  if (n == 1) return (std::string("aeiou").find(tail[0]) != std::string::npos ? "an " : "a ") + tail;
  return number_word(n) + " " + tail;
}

std::string is_are(int n) { return n == 1 ? "is" : "are"; }

std::string join_and(const std::vector<std::string>& w) {
  std::string out;
  for (size_t i = 0; i < w.size(); ++i) {
    if (i > 0) out += (i + 1 == w.size()) ? " and " : " , ";
    out += w[i];
  }
  return out;
}

std::string where(Vec2 p) {
  const float dx = p.x - 0.5f, dy = p.y - 0.5f;
  if (std::abs(dx) < 0.17f && std::abs(dy) < 0.17f) return "in the middle";
  const bool h = std::abs(dx) >= 0.17f, v = std::abs(dy) >= 0.17f;
  if (h && v) return std::string("in the ") + (dy < 0 ? "upper " : "lower ") + (dx < 0 ? "left" : "right");
  if (h) return dx < 0 ? "on the left" : "on the right";
  return dy < 0 ? "at the top" : "at the bottom";
}

std::string side_word(Vec2 d) {
  const float a = std::atan2(d.y, d.x) * 180 / kPi;  // y down: +90 is the bottom
  if (a > -22.5f && a <= 22.5f) return "right";
  if (a > 22.5f && a <= 67.5f) return "lower right";
  if (a > 67.5f && a <= 112.5f) return "bottom";
  if (a > 112.5f && a <= 157.5f) return "lower left";
  if (a > 157.5f || a <= -157.5f) return "left";
  if (a > -157.5f && a <= -112.5f) return "upper left";
  if (a > -112.5f && a <= -67.5f) return "top";
  return "upper right";
}

std::string orientation_word(float angle) {
  float a = std::fmod(angle, kPi);
  if (a < 0) a += kPi;
  const float deg = a * 180 / kPi;
  if (deg < 20 || deg > 160) return "horizontally";
  if (deg > 70 && deg < 110) return "vertically";
  return "diagonally";
}

std::string orientation_adj(float angle) {
  const std::string w = orientation_word(angle);
  return w.substr(0, w.size() - 2);  // "horizontally" -> "horizontal"
}

std::string direction_words(float angle) {
  const std::string w = orientation_word(angle);
  if (w != "diagonally") return w;
  const Vec2 v = unit(angle);  // y down: x * y > 0 runs down to the right
  return v.x * v.y > 0 ? "from upper left to lower right" : "from lower left to upper right";
}

float line_dist(Vec2 q, Vec2 p, Vec2 d) {
  const Vec2 r = q - p;
  return std::abs(r.x * d.y - r.y * d.x);
}

std::vector<std::string> distinct_colors(const std::vector<Object>& objs, const std::string& kind) {
  std::vector<std::string> out;
  for (const auto& o : objs)
    if (o.kind == kind && !o.color.empty() && std::find(out.begin(), out.end(), o.color) == out.end())
      out.push_back(o.color);
  return out;
}

std::vector<std::string> pick_captions(std::vector<std::string> cands, Rng& rng) {
  rng.shuffle(cands);
  std::vector<std::string> out;
  std::set<std::string> seen;
  for (auto& c : cands) {
    for (char& ch : c) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    c += " .";
    if (seen.insert(c).second) out.push_back(c);
    if (out.size() == 5) break;
  }
  RS_ASSERT(out.size() == 5, "scene gave only ", out.size(), " distinct captions");
  return out;
}

Sample generate_sample(uint64_t seed, uint64_t index, int size) {
  RS_CHECK(size >= 16 && size <= 1024, ValueError, "synth", "image size must be in 16..1024, got ", size);
  Ctx ctx(seed, index, size);
  const SceneType type = scene_of_index(index);
  kGens[static_cast<int>(type)](ctx);
  Sample out;
  out.size = size;
  out.type = type;
  out.objects = std::move(ctx.objs);
  out.captions = pick_captions(std::move(ctx.cands), ctx.rng);
  Rng light(seed, index, kLight);
  const Rgb cast{light.uniform(0.95f, 1.05f), light.uniform(0.95f, 1.05f), light.uniform(0.95f, 1.05f)};
  out.rgb = ctx.cv.finish(light.uniform(0.85f, 1.15f), light.uniform(0.9f, 1.12f), cast, 0.02f,
                          hash3(seed, index, 4));
  return out;
}

}  // namespace rscapret::synth

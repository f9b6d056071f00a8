// Internal to synth/: the state a scene generator works with (its random stream, canvas, global
// orientation, scale and sun), drawing helpers for common objects, and caption helpers.
#pragma once

#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include "synth/render.h"
#include "synth/rng.h"
#include "synth/scene.h"

namespace rscapret::synth {

inline constexpr float kPi = 3.14159265f;

// Named colours: the word a caption uses and a base RGB the renderer jitters.
Rgb color_of(const std::string& name);

struct Ctx {
  Rng rng;
  Canvas cv;
  float theta = 0;  // dominant orientation of the layout (roads, rows, fields)
  float s = 1;      // object scale of this image
  Vec2 sun;         // unit vector towards the sun (image coordinates)
  std::vector<Object> objs;
  std::vector<std::string> cands;  // caption candidates, without the final " ."
  std::vector<std::pair<Vec2, float>> occupied;  // discs taken by placed objects

  Ctx(uint64_t seed, uint64_t index, int size);
  Vec2 dir() const { return unit(theta); }
  Vec2 nrm() const { return unit(theta + kPi / 2); }
  Vec2 shadow(float height) const { return sun * (-height); }
  Rgb jitter(Rgb c, float amount);
  Rgb named(const std::string& name, float amount = 0.06f) { return jitter(color_of(name), amount); }

  // Area fill of the whole image from a base colour pair.
  void ground(const std::string& a, const std::string& b, float freq, float grain = 0.04f);
  // Region fill where sd(q) < 0 (any shape, e.g. a sea with a wavy shore).
  void region(const std::function<float(Vec2)>& sd, const Paint& p);

  // Random free disc of radius r inside the image (margin m); false after `tries` misses.
  bool place(float r, float m, Vec2& out, const std::function<bool(Vec2)>& ok = nullptr, int tries = 60);
  bool is_free(Vec2 c, float r) const;
  void occupy(Vec2 c, float r) { occupied.push_back({c, r}); }

  // Common objects.
  void road(Vec2 through, float angle, float width, bool dashes, const std::string& color = "dark grey");
  void tree(Vec2 c, float r, Rgb crown);
  void car(Vec2 c, float angle, const std::string& color);
  void building(Vec2 c, float w, float h, float angle, Rgb roof, float height);

  void add(const std::string& kind, const std::string& color, const std::string& size, int count, Vec2 at) {
    objs.push_back(Object{kind, color, size, count, at.x, at.y});
  }
  void say(std::string s) { cands.push_back(std::move(s)); }
};

// Caption words.
std::string number_word(int n);                      // 1 -> "one" ... 12 -> "twelve"
std::string plural(const std::string& noun, int n);  // "storage tank", 3 -> "storage tanks"
// "a white storage tank", "three large airplanes"; adjectives may be empty.
std::string count_np(int n, const std::string& adjs, const std::string& noun);
std::string is_are(int n);
std::string join_and(const std::vector<std::string>& words);  // "red , white and grey"
std::string where(Vec2 p);          // "in the middle", "on the left", "in the upper right", ...
std::string side_word(Vec2 d);      // which side of the image direction d points to
std::string orientation_word(float angle);  // "horizontally", "vertically", "diagonally"
std::string orientation_adj(float angle);   // "horizontal", "vertical", "diagonal"
// orientation_word with the sense of a diagonal spelled out ("from upper left to lower right" or
// "from lower left to upper right"): the two diagonals look clearly different.
std::string direction_words(float angle);
float line_dist(Vec2 q, Vec2 p, Vec2 d);  // distance from q to the line through p with unit direction d
std::vector<std::string> distinct_colors(const std::vector<Object>& objs, const std::string& kind);

// Picks five distinct candidates in random order and finishes them ("... .").
std::vector<std::string> pick_captions(std::vector<std::string> cands, Rng& rng);

// One generator per scene type; each renders into ctx.cv and fills ctx.objs and ctx.cands.
void gen_farmland(Ctx&);
void gen_forest(Ctx&);
void gen_river(Ctx&);
void gen_beach(Ctx&);
void gen_bare_land(Ctx&);
void gen_meadow(Ctx&);
void gen_chaparral(Ctx&);
void gen_golf_course(Ctx&);
void gen_dense_residential(Ctx&);
void gen_sparse_residential(Ctx&);
void gen_intersection(Ctx&);
void gen_freeway(Ctx&);
void gen_parking_lot(Ctx&);
void gen_mobile_home_park(Ctx&);
void gen_airport(Ctx&);
void gen_storage_tanks(Ctx&);
void gen_harbor(Ctx&);
void gen_tennis_court(Ctx&);
void gen_baseball_field(Ctx&);

}  // namespace rscapret::synth

// Built-up scene types: dense and sparse residential, intersection, freeway, parking lot,
// mobile home park.
//
// Captions name what sets one image apart from the others of its type and is visible at 64 px:
// roof colours, street orientation, the place of a large secondary object (park, pond, bridge,
// building, grove), counts of a few large objects, which side something is on.
#include <algorithm>
#include <cmath>

#include "synth/scene_ctx.h"

namespace rscapret::synth {

namespace {

bool inside(Vec2 p) { return p.x > 0 && p.x < 1 && p.y > 0 && p.y < 1; }

// Colour names in one fixed order, so the same set of colours always reads the same way.
void sort_colors(std::vector<std::string>& v) {
  static const std::vector<std::string> kOrder = {"white", "grey", "tan", "red", "orange", "brown", "blue"};
  auto rank = [](const std::string& s) { return std::find(kOrder.begin(), kOrder.end(), s) - kOrder.begin(); };
  std::sort(v.begin(), v.end(), [&](const std::string& a, const std::string& b) { return rank(a) < rank(b); });
}

// Two or three roof colours for one neighbourhood; the first one is drawn most often.
std::vector<std::string> roof_palette(Ctx& c, int n) {
  const std::vector<std::string> all = {"red", "grey", "white", "brown", "blue", "orange"};
  std::vector<std::string> out;
  while (static_cast<int>(out.size()) < n) {
    const std::string& k = c.rng.pick(all);
    if (std::find(out.begin(), out.end(), k) == out.end()) out.push_back(k);
  }
  return out;
}

// Palette index: the first colour with probability `main`, else one of the others.
int pick_weighted(Ctx& c, int n, double main) {
  if (n == 1 || c.rng.chance(main)) return 0;
  return c.rng.randint(1, n - 1);
}

// Roofs are drawn in their named colour (white too, so white roofs stand out from the concrete).
Rgb roof_rgb(Ctx& c, const std::string& name) {
  return c.named(name, 0.06f);
}

void count_by_color(Ctx& c, const std::string& kind, const std::vector<std::string>& names,
                    const std::vector<int>& counts) {
  for (size_t i = 0; i < names.size(); ++i)
    if (counts[i]) c.add(kind, names[i], "", counts[i], {0.5f, 0.5f});
}

// The colours that occur, in the fixed order.
std::vector<std::string> used_names(const std::vector<std::string>& names, const std::vector<int>& counts) {
  std::vector<std::string> out;
  for (size_t i = 0; i < names.size(); ++i)
    if (counts[i]) out.push_back(names[i]);
  sort_colors(out);
  return out;
}

// "two red houses and a grey house": one counted phrase per colour, in the fixed colour order.
std::string counts_np(const std::vector<std::string>& names, const std::vector<int>& counts,
                      const std::string& noun) {
  std::vector<std::string> parts;
  for (const auto& name : used_names(names, counts)) {
    const size_t i = std::find(names.begin(), names.end(), name) - names.begin();
    parts.push_back(count_np(counts[i], name, noun));
  }
  return join_and(parts);
}

// "a" or "an" before `word`.
std::string a_an(const std::string& word) {
  return std::string("aeiou").find(word[0]) != std::string::npos ? "an " + word : "a " + word;
}

// Index of the largest count (the first on ties).
int argmax(const std::vector<int>& v) { return static_cast<int>(std::max_element(v.begin(), v.end()) - v.begin()); }

// A street grid has two perpendicular directions: either both diagonal or horizontal and vertical.
std::string grid_streets(float theta) {
  return orientation_word(theta) == "diagonally" ? "diagonal" : "horizontal and vertical";
}

// Edge of the image for an axis-aligned strip: 0 left, 1 right, 2 top, 3 bottom.
const char* const kEdge[4] = {"left", "right", "top", "bottom"};

// Signed distance to a strip of width w along edge e (negative inside).
float strip_sd(Vec2 q, int e, float w) {
  switch (e) {
    case 0: return q.x - w;
    case 1: return (1 - w) - q.x;
    case 2: return q.y - w;
    default: return (1 - w) - q.y;
  }
}

// One arm of a road: from `from` out past the image edge, with the same look as Ctx::road.
void road_arm(Ctx& c, Vec2 from, float angle, float width) {
  const Vec2 d = unit(angle);
  Paint p{c.named("dark grey", 0.05f)};
  p.tex = 0.06f;
  c.cv.draw(Shape{}.add(Stroke{{from, from + d * 1.6f}, width}), p);
  Paint w{c.named("white", 0.03f)};
  w.alpha = 0.85f;
  const float len = 0.03f * c.s, gap = 0.03f * c.s;
  for (float t = width * 0.6f; t < 1.5f; t += len + gap)
    c.cv.draw(Shape{}.add(rect(from + d * t, len, std::max(0.004f, width * 0.06f), angle)), w);
}


}  // namespace

void gen_dense_residential(Ctx& c) {
  c.ground("asphalt", "dark grey", 10);
  const Vec2 d = c.dir(), n = c.nrm(), o{0.5f, 0.5f};
  const float bw = c.rng.uniform(0.24f, 0.32f) * c.s, bh = c.rng.uniform(0.18f, 0.24f) * c.s;
  const float road = 0.045f * c.s;
  const auto roofs = roof_palette(c, c.rng.randint(2, 3));
  std::vector<int> counts(roofs.size(), 0);
  const float off = c.rng.uniform(0, 1);
  std::vector<Vec2> blocks;
  for (int i = -4; i <= 4; ++i) {
    for (int j = -5; j <= 5; ++j) {
      const Vec2 bc = o + d * ((i + off) * bw) + n * ((j + off) * bh);
      if (std::abs(bc.x - 0.5f) > 0.5f + bw || std::abs(bc.y - 0.5f) > 0.5f + bw) continue;
      blocks.push_back(bc);
    }
  }
  // Half the neighbourhoods have one block left as a green park: a large object whose place varies.
  int park = -1;
  if (c.rng.chance(0.5)) {
    const Vec2 want{c.rng.uniform(0.2f, 0.8f), c.rng.uniform(0.2f, 0.8f)};
    float best = 1e9f;
    for (size_t b = 0; b < blocks.size(); ++b) {
      const Vec2 r = blocks[b] - want;
      if (dot(r, r) < best) best = dot(r, r), park = static_cast<int>(b);
    }
  }
  int ntree = 0;
  for (size_t b = 0; b < blocks.size(); ++b) {
    const Vec2 bc = blocks[b];
    if (static_cast<int>(b) == park) {
      Paint grass{c.named("light green", 0.05f)};
      grass.tex = 0.08f;
      c.cv.draw(Shape{}.add(rect(bc, bw - road, bh - road, c.theta)), grass);
      for (int k = 0; k < 4; ++k) {
        const Vec2 tp = bc + d * ((bw - road) * c.rng.uniform(-0.35f, 0.35f)) + n * ((bh - road) * c.rng.uniform(-0.3f, 0.3f));
        c.tree(tp, 0.022f * c.s, c.named("green", 0.1f));
        if (inside(tp)) ++ntree;
      }
      continue;
    }
    c.cv.draw(Shape{}.add(rect(bc, bw - road, bh - road, c.theta)), Paint{c.named("concrete", 0.05f)});
    const int cols = c.rng.randint(3, 4);
    const float hw = (bw - road) / cols, hh = (bh - road) / 2;
    for (int a = 0; a < cols; ++a) {
      for (int e = 0; e < 2; ++e) {
        const Vec2 hc = bc + d * ((a + 0.5f) * hw - (bw - road) / 2) + n * ((e + 0.5f) * hh - (bh - road) / 2);
        if (c.rng.chance(0.1)) {
          c.tree(hc, hh * 0.35f, c.named("green", 0.1f));
          if (inside(hc)) ++ntree;
          continue;
        }
        const int k = pick_weighted(c, static_cast<int>(roofs.size()), 0.65);
        c.building(hc, hw * 0.82f, hh * 0.8f, c.theta, roof_rgb(c, roofs[k]), 0.012f * c.s);
        if (inside(hc)) ++counts[k];
      }
    }
  }
  count_by_color(c, "building", roofs, counts);
  c.add("road", "dark grey", "", 2, o);
  if (ntree) c.add("tree", "green", "", ntree, o);
  const std::string cs = join_and(used_names(roofs, counts));
  const std::string streets = grid_streets(c.theta);
  // "mostly red" when one colour covers at least half of the roofs, else the mix.
  int total = 0;
  for (int k : counts) total += k;
  const int top = argmax(counts);
  const bool dominant = 2 * counts[top] >= total;
  const std::string mostly = dominant ? "mostly " + roofs[top] : cs;
  std::vector<std::string> rest;
  for (size_t i = 0; i < roofs.size(); ++i)
    if (static_cast<int>(i) != top && counts[i]) rest.push_back(roofs[i]);
  sort_colors(rest);
  const Vec2 pc = park >= 0 ? blocks[park] : o;
  const std::string where_park = park >= 0 ? where(pc) : "";

  c.say("the dense residential area has " + mostly + " roofs and " + (park >= 0 ? "a park " + where_park : "no park"));
  c.say(cs + " roofs crowd the " + streets + " streets of the dense residential area");
  c.say("roads divide the dense residential area into blocks of " + cs + " roofs");
  if (dominant && !rest.empty())
    c.say("most roofs in the dense residential area are " + roofs[top] + " and some are " + join_and(rest));
  else
    c.say("the roofs of the dense residential area are a mix of " + cs);
  if (park >= 0) {
    c.say("a green park lies " + where_park + " of the dense residential area");
    c.say("the dense residential area of " + cs + " roofs has a park " + where_park);
    c.say("this is a dense residential area of " + mostly + " roofs with " + streets + " streets");
  } else {
    c.say("no park breaks the " + streets + " blocks of the dense residential area");
    c.say("the dense residential area with " + cs + " roofs has no park");
    c.say("this is a dense residential area of " + mostly + " roofs and " + streets + " streets");
  }
}

void gen_sparse_residential(Ctx& c) {
  c.ground("green", "light green", 5);
  const Vec2 d = c.dir(), n = c.nrm();
  const Vec2 rp{0.5f + c.rng.uniform(-0.1f, 0.1f), 0.5f + c.rng.uniform(-0.1f, 0.1f)};
  const float rw = 0.05f * c.s;
  c.road(rp, c.theta, rw, false, "grey");
  c.add("road", "grey", "", 1, rp);
  const auto roofs = roof_palette(c, c.rng.randint(1, 2));
  std::vector<int> counts(roofs.size(), 0);
  const int want = c.rng.randint(1, 5);
  int houses = 0, pools = 0;
  bool side_used[2] = {false, false};  // houses on the -n / +n side of the road
  for (int i = 0; i < want; ++i) {
    const float hw = c.rng.uniform(0.1f, 0.14f) * c.s, hh = c.rng.uniform(0.07f, 0.1f) * c.s;
    const float side = c.rng.chance(0.5) ? 1.f : -1.f;
    const float t = c.rng.uniform(-0.6f, 0.6f), gap = rw * 0.5f + hh * 0.5f + c.rng.uniform(0.04f, 0.08f);
    const Vec2 hc = rp + d * t + n * (side * gap);
    const float r = std::max(hw, hh) * 0.6f;
    if (hc.x < r || hc.x > 1 - r || hc.y < r || hc.y > 1 - r || !c.is_free(hc, r + 0.02f)) continue;
    c.occupy(hc, r + 0.02f);
    // Driveway from the road to the house.
    c.cv.draw(Shape{}.add(rect(rp + d * t + n * (side * (gap - hh * 0.5f) * 0.5f), 0.02f * c.s,
                               gap - hh * 0.5f, c.theta)), Paint{c.named("light grey", 0.04f)});
    const int k = c.rng.randint(0, static_cast<int>(roofs.size()) - 1);
    c.building(hc, hw, hh, c.theta, roof_rgb(c, roofs[k]), 0.012f * c.s);
    c.objs.push_back(Object{"house", roofs[k], "", 1, hc.x, hc.y});
    ++counts[k];
    ++houses;
    side_used[side > 0] = true;
    if (c.rng.chance(0.3)) {
      const Vec2 pc = hc + n * (side * (hh * 0.5f + 0.04f * c.s));
      if (c.is_free(pc, 0.025f * c.s)) {
        c.cv.draw(Shape{}.add(rect(pc, 0.05f * c.s, 0.03f * c.s, c.theta)), Paint{c.named("blue-green", 0.03f)});
        c.occupy(pc, 0.03f * c.s);
        c.add("swimming pool", "blue", "", 1, pc);
        ++pools;
      }
    }
  }
  if (houses == 0) {  // the road always leaves room: place one house deterministically
    const Vec2 hc = rp + n * (rw * 0.5f + 0.1f);
    c.building(hc, 0.12f * c.s, 0.08f * c.s, c.theta, roof_rgb(c, roofs[0]), 0.012f * c.s);
    c.objs.push_back(Object{"house", roofs[0], "", 1, hc.x, hc.y});
    c.occupy(hc, 0.08f);
    ++counts[0];
    houses = 1;
    side_used[1] = true;
  }
  // A pond in some neighbourhoods: a large blue object whose place varies.
  Vec2 pond;
  const float pr = c.rng.uniform(0.07f, 0.1f) * c.s;
  const bool has_pond = c.rng.chance(0.45) &&
      c.place(pr, 0.02f, pond, [&](Vec2 p) { return line_dist(p, rp, d) > rw * 0.5f + pr + 0.02f; }, 40);
  if (has_pond) {
    Paint water{c.named("blue", 0.05f)};
    water.tex = 0.04f;
    const float ang = c.rng.uniform(0, kPi);
    c.cv.draw(Shape{}.add(Ellipse{pond, pr * 1.15f, pr * 0.85f, ang}), water);
    c.add("pond", "blue", "", 1, pond);
  }
  int ntree = 0;
  for (int i = 0; i < 25; ++i) {
    const float r = c.rng.uniform(0.02f, 0.035f) * c.s;
    Vec2 q;
    if (!c.place(r, 0, q, [&](Vec2 p) { return line_dist(p, rp, d) > rw * 0.5f + r; }, 3)) continue;
    c.tree(q, r, c.named(c.rng.chance(0.5) ? "green" : "dark green", 0.1f));
    ++ntree;
  }
  if (ntree) c.add("tree", "green", "", ntree, {0.5f, 0.5f});
  const std::string cs = join_and(used_names(roofs, counts));
  const std::string hs = count_np(houses, "", "house");
  const std::string hc = counts_np(roofs, counts, "house");  // "two red houses and a grey house"
  const std::string road_dir = direction_words(c.theta);
  // Which side of the road the houses stand on, or both.
  const std::string sides = side_used[0] && side_used[1]
      ? "on both sides of the road"
      : "on the " + side_word(n * (side_used[1] ? 1.f : -1.f)) + " side of the road";
  const std::string pond_at = has_pond ? "a pond " + where(pond) : "no pond";

  c.say(hc + (houses == 1 ? " stands" : " stand") + " by a " + orientation_adj(c.theta) + " road in the sparse residential area");
  c.say("in the sparse residential area " + hs + " " + is_are(houses) + " " + sides);
  c.say("a grey road runs " + road_dir + " past " + hs + " in the sparse residential area");
  c.say("this is a sparse residential area with " + hc);
  c.say("the sparse residential area has " + hs + " and " + pond_at);
  if (has_pond) {
    c.say("a blue pond lies " + where(pond) + " of the sparse residential area with " + cs + " roofs");
    c.say("there is a pond " + where(pond) + " near " + hs + " in the sparse residential area");
  } else {
    c.say("green lawns surround " + hs + " with " + cs + " roofs in the sparse residential area");
    c.say("there is no pond near " + hc + " in the sparse residential area");
  }
  if (houses == 1) {
    const Object& h = *std::find_if(c.objs.begin(), c.objs.end(), [](const Object& o) { return o.kind == "house"; });
    c.say("a single " + h.color + " house stands " + where({h.x, h.y}) + " of the sparse residential area");
  }
}

void gen_intersection(Ctx& c) {
  const bool urban = c.rng.chance(0.5);
  if (urban) c.ground("concrete", "light grey", 6);
  else c.ground("green", "light green", 5);
  // The crossing moves around the image, so its place is something a caption can say.
  const Vec2 o{0.5f + c.rng.uniform(-0.25f, 0.25f), 0.5f + c.rng.uniform(-0.25f, 0.25f)};
  const float a1 = c.theta, a2 = c.theta + kPi / 2 + c.rng.uniform(-0.2f, 0.2f);
  const float w = c.rng.uniform(0.1f, 0.14f) * c.s;
  // Some crossings are T-shaped: the cross road leaves the main road on one side only.
  const bool tee = c.rng.chance(0.4);
  const float arm = c.rng.chance(0.5) ? 0.f : kPi;
  c.road(o, a1, w, true);
  if (tee) road_arm(c, o, a2 + arm, w);
  else c.road(o, a2, w, true);
  Paint asph{c.named("asphalt", 0.03f)};
  c.cv.draw(circle(o, w * 0.55f), asph);  // clears the dashes inside the crossing
  c.add("road", "dark grey", "", 2, o);
  // Buildings or trees in the corners (only the corners the roads leave free).
  const std::vector<std::string> bnames = {"grey", "brown", "red"};
  std::vector<int> bcount(bnames.size(), 0);
  int ntree = 0, grove = 0;
  for (int q = 0; q < 4; ++q) {
    const Vec2 dir = unit(a1 + kPi / 4 + q * kPi / 2);
    const Vec2 cc = o + dir * c.rng.uniform(0.2f, 0.3f);
    if (cc.x < 0.06f || cc.x > 0.94f || cc.y < 0.06f || cc.y > 0.94f) continue;  // mostly off the image
    if (urban && c.rng.chance(0.65)) {
      const int k = c.rng.randint(0, 2);
      c.building(cc, 0.14f * c.s, 0.1f * c.s, a1, c.named(k == 0 ? "light grey" : bnames[k]), 0.015f * c.s);
      ++bcount[k];
    } else if (!urban && c.rng.chance(0.7)) {
      ++grove;
      for (int k = 0; k < 3; ++k) {
        const Vec2 tp = cc + Vec2{c.rng.uniform(-0.06f, 0.06f), c.rng.uniform(-0.06f, 0.06f)};
        c.tree(tp, c.rng.uniform(0.02f, 0.03f) * c.s, c.named("dark green", 0.1f));
        if (inside(tp)) ++ntree;
      }
    }
  }
  count_by_color(c, "building", bnames, bcount);
  int nbuild = 0;
  for (int k : bcount) nbuild += k;
  if (ntree) c.add("tree", "green", "", ntree, o);
  const int want = c.rng.randint(0, 6);
  const std::vector<std::string> cc = {"white", "black", "red", "blue", "grey"};
  int ncar = 0;
  for (int i = 0; i < want; ++i) {
    const bool first = c.rng.chance(0.5) || tee;
    const float a = first ? a1 : a2, t = c.rng.uniform(0.12f, 0.45f) * (c.rng.chance(0.5) ? 1 : -1);
    const float lane = w * 0.25f * (c.rng.chance(0.5) ? 1 : -1);
    const Vec2 p = o + unit(a) * t + unit(a + kPi / 2) * lane;
    if (p.x < 0.03f || p.x > 0.97f || p.y < 0.03f || p.y > 0.97f || !c.is_free(p, 0.025f * c.s)) continue;
    c.occupy(p, 0.025f * c.s);
    const std::string& col = c.rng.pick(cc);
    c.car(p, a, col);
    c.add("car", col, "", 1, p);
    ++ncar;
  }
  const std::string at = where(o);
  const std::string shape = tee ? "t-shaped" : "four-way";
  const std::string ground = urban ? "grey pavement" : "green grass";
  const std::string o1 = direction_words(a1);
  // What stands in the corners: buildings by colour, groups of trees, or nothing.
  const std::string corners = urban ? (nbuild ? counts_np(bnames, bcount, "building") : "no buildings")
                            : grove ? "trees at " + number_word(grove) + (grove == 1 ? " corner" : " corners")
                                    : "no trees";

  // The corners in a few words: "three buildings", "no buildings", "trees at two corners".
  const std::string corners_short = urban ? count_np(nbuild, "", "building") : corners;
  // A t-shaped crossing has a through road; the two roads of a four-way crossing look alike.
  const std::string layout = tee ? "a main road running " + o1 : grid_streets(a1) + " roads";
  const std::string cars = count_np(ncar, "", "car");
  if (tee) c.say("this is a t-shaped intersection " + at + " with a main road running " + orientation_word(a1));
  else c.say("the four-way intersection on " + ground + " has " + cars + " on " + layout);
  c.say("the crossroads " + at + " has " + corners);
  c.say("the " + shape + " intersection " + (tee ? "on " + ground : at) + " has " + layout);
  c.say("roads meet at a " + shape + " crossroads with " + corners_short + " and " + cars);
  if (tee) c.say("the cross road of the t-shaped intersection " + at + " leads to the " + side_word(unit(a2 + arm)));
  else c.say("the four-way crossroads with " + corners_short + " has " + layout);
  c.say("there " + is_are(ncar) + " " + cars + " at the " + shape + " crossroads " + at);
  if (urban && nbuild > 0) {
    c.say(counts_np(bnames, bcount, "building") + (nbuild == 1 ? " stands" : " stand") + " at the " + shape + " intersection");
    c.say("the " + shape + " intersection " + at + " has " + count_np(nbuild, "", "building") + " beside its roads");
  } else if (urban) {
    c.say("there are no buildings around the " + shape + " intersection " + at);
  } else if (grove) {
    c.say("dark green trees grow at " + number_word(grove) + (grove == 1 ? " corner" : " corners") +
          " of the " + shape + " intersection " + at);
  } else {
    c.say("green grass without trees surrounds the " + shape + " intersection " + at);
  }
}

void gen_freeway(Ctx& c) {
  const bool green = c.rng.chance(0.6);
  if (green) c.ground("green", "light green", 5);
  else c.ground("tan", "sand", 5);
  const Vec2 n = c.nrm(), d = c.dir();
  // The freeway runs through the middle or along one side of the image.
  const float shift = c.rng.pick(std::vector<float>{-0.22f, 0.f, 0.f, 0.22f});
  const Vec2 o = Vec2{0.5f, 0.5f} + n * shift + d * c.rng.uniform(-0.1f, 0.1f);
  const float cw = c.rng.uniform(0.1f, 0.13f) * c.s, med = c.rng.uniform(0.03f, 0.06f) * c.s;
  const Vec2 r1 = o + n * ((cw + med) * 0.5f), r2 = o - n * ((cw + med) * 0.5f);
  c.road(r1, c.theta, cw, true);
  c.road(r2, c.theta, cw, true);
  c.add("road", "dark grey", "", 2, o);
  // Traffic is either light or heavy, so the number of cars shows as a whole.
  const bool heavy = c.rng.chance(0.5);
  const int want = heavy ? c.rng.randint(12, 16) : c.rng.randint(0, 2);
  int cars = 0;
  const std::vector<std::string> cc = {"white", "black", "red", "blue", "grey"};
  for (int i = 0; i < want; ++i) {
    const bool up = c.rng.chance(0.5);
    const Vec2 p = (up ? r1 : r2) + d * c.rng.uniform(-0.6f, 0.6f) + n * (cw * 0.25f * (c.rng.chance(0.5) ? 1 : -1));
    if (p.x < 0.03f || p.x > 0.97f || p.y < 0.03f || p.y > 0.97f || !c.is_free(p, 0.03f * c.s)) continue;
    c.occupy(p, 0.03f * c.s);
    const std::string& col = c.rng.pick(cc);
    c.car(p, c.theta + (up ? 0 : kPi), col);
    c.add("car", col, "", 1, p);
    ++cars;
  }
  // Some freeways have an overpass: a light grey bridge crossing both roads.
  const bool bridge = c.rng.chance(0.45);
  const float ba = c.theta + kPi / 2 + c.rng.uniform(-0.3f, 0.3f), bw = 0.06f * c.s;
  Vec2 bp = o + d * c.rng.uniform(-0.25f, 0.25f);
  if (bridge) {
    const Vec2 bd = unit(ba);
    Paint sh{rgb8(12, 14, 18)};
    sh.alpha = 0.45f;
    const Shape deck = Shape{}.add(Stroke{{bp - bd * 1.6f, bp + bd * 1.6f}, bw});
    c.cv.draw(deck.translated(c.shadow(0.02f)), sh);
    Paint p{c.named("light grey", 0.04f)};
    p.tex = 0.05f;
    c.cv.draw(deck, p);
    c.add("bridge", "grey", "", 1, bp);
  }
  int ntree = 0;
  if (c.rng.chance(0.7)) {
    for (int i = 0; i < 30; ++i) {
      const Vec2 q{c.rng.uniform(0, 1), c.rng.uniform(0, 1)};
      if (line_dist(q, o, d) < cw + med * 0.5f + 0.05f) continue;
      if (bridge && line_dist(q, bp, unit(ba)) < bw * 0.5f + 0.04f) continue;
      c.tree(q, c.rng.uniform(0.02f, 0.03f) * c.s, c.named("dark green", 0.1f));
      ++ntree;
    }
  }
  if (ntree) c.add("tree", "green", "", ntree, o);
  const std::string ground = green ? "green grass" : "sandy ground";
  const std::string at = shift == 0 ? "through the middle" : "along the " + side_word(n * shift) + " side";
  // Where it runs: the slant of a diagonal shows in the side it keeps to, so a side needs no slant.
  const std::string route = shift == 0 ? direction_words(c.theta) + " " + at : orientation_word(c.theta) + " " + at;
  const std::string traffic = cars == 0 ? "no cars" : cars >= 5 ? "many cars" : "a few cars";
  const std::string trees = ntree ? "dark green trees" : "no trees";

  c.say("a freeway runs " + route + " across " + ground);
  c.say("this is a freeway running " + route + " with " + traffic);
  c.say(std::string(ntree ? "dark green trees line" : "no trees line") + " the freeway running " + route);
  c.say("the freeway on " + ground + " " + at + " carries " + traffic);
  if (bridge) {
    c.say("the highway running " + (shift == 0 ? direction_words(c.theta) : route) + " has a bridge " + where(bp));
    c.say("a bridge crosses the freeway with " + traffic + " " + where(bp));
    c.say("a grey bridge crosses the freeway on " + ground + " " + where(bp));
  } else {
    c.say("the highway running " + route + " on " + ground + " has no bridge");
    c.say("the freeway with " + traffic + " crosses " + ground + " with " + trees);
    c.say("no bridge crosses the freeway " + at + " with " + traffic);
  }
}

void gen_parking_lot(Ctx& c) {
  // Dark asphalt or lighter grey concrete pavement.
  const bool asphalt = c.rng.chance(0.55);
  if (asphalt) c.ground("asphalt", "dark grey", 8);
  else c.ground("grey", "concrete", 8);
  const Vec2 d = c.dir(), n = c.nrm(), o{0.5f, 0.5f};
  const float L = 0.07f * c.s, W = 0.036f * c.s, aisle = 0.07f * c.s;
  // Three clearly different fill levels: mostly empty, about half full, almost full.
  const int level = c.rng.randint(0, 2);
  const float occ = level == 0 ? c.rng.uniform(0.15f, 0.3f) : level == 1 ? c.rng.uniform(0.45f, 0.6f)
                                                                            : c.rng.uniform(0.88f, 0.98f);
  // Along one edge there may be a large building or a grass strip with trees.
  const double e_roll = c.rng.uniform();
  const int border = e_roll < 0.4 ? 1 : e_roll < 0.7 ? 2 : 0;  // 1 building, 2 grass, 0 none
  const int edge = c.rng.randint(0, 3);
  const float sw = c.rng.uniform(0.24f, 0.3f);
  auto under_border = [&](Vec2 p) { return border && strip_sd(p, edge, sw) < 0.03f; };
  const std::vector<std::string> cc = {"white", "black", "red", "blue", "grey"};
  std::vector<int> counts(cc.size(), 0);
  Paint line{c.named("white", 0.03f)};
  line.alpha = 0.8f;
  const float off = c.rng.uniform(0, 1);
  int stalls = 0;
  for (int row = -6; row <= 6; ++row) {
    // A double row of stalls, then an aisle.
    const float rowc = (row + off) * (2 * L + aisle);
    for (int side = -1; side <= 1; side += 2) {
      const float across = rowc + side * L * 0.5f;
      for (int k = -14; k <= 14; ++k) {
        const Vec2 p = o + n * across + d * (k * W);
        if (p.x < -0.05f || p.x > 1.05f || p.y < -0.05f || p.y > 1.05f) continue;
        c.cv.draw(Shape{}.add(rect(p + d * (W * 0.5f), 0.003f * c.s + 0.002f, L, c.theta)), line);
        const bool in = p.x > 0.02f && p.x < 0.98f && p.y > 0.02f && p.y < 0.98f && !under_border(p);
        if (in) ++stalls;
        if (!c.rng.chance(occ) || under_border(p)) continue;
        const int ci = c.rng.randint(0, static_cast<int>(cc.size()) - 1);
        c.car(p, c.theta + kPi / 2 + (side > 0 ? kPi : 0), cc[ci]);
        if (in) ++counts[ci];
      }
    }
  }
  count_by_color(c, "car", cc, counts);
  int cars = 0;
  for (int k : counts) cars += k;
  const std::vector<std::string> bnames = {"white", "grey", "brown", "red"};
  std::string bcol;
  if (border == 1) {
    bcol = c.rng.pick(bnames);
    c.region([&](Vec2 q) { return strip_sd(q, edge, sw); }, Paint{c.named("concrete", 0.04f)});
    const bool vert = edge < 2;  // a strip along the left or right edge is tall
    const float depth = sw - 0.07f, len = c.rng.uniform(0.6f, 0.8f);
    const Vec2 bc = edge == 0 ? Vec2{sw / 2, 0.5f} : edge == 1 ? Vec2{1 - sw / 2, 0.5f}
                  : edge == 2 ? Vec2{0.5f, sw / 2} : Vec2{0.5f, 1 - sw / 2};
    c.building(bc, len, depth, vert ? kPi / 2 : 0, roof_rgb(c, bcol), 0.02f);
    c.add("building", bcol, "large", 1, bc);
  } else if (border == 2) {
    Paint grass{c.named("green", 0.05f)};
    grass.tex = 0.1f;
    c.region([&](Vec2 q) { return strip_sd(q, edge, sw); }, grass);
    int ntree = 0;
    for (int i = 0; i < 6; ++i) {
      const float along = (i + 0.5f) / 6 + c.rng.uniform(-0.04f, 0.04f), in = sw * c.rng.uniform(0.3f, 0.6f);
      const Vec2 tp = edge == 0 ? Vec2{in, along} : edge == 1 ? Vec2{1 - in, along}
                    : edge == 2 ? Vec2{along, in} : Vec2{along, 1 - in};
      c.tree(tp, c.rng.uniform(0.035f, 0.05f), c.named("dark green", 0.1f));
      ++ntree;
    }
    c.add("tree", "green", "", ntree, o);
  }
  const float fill = stalls ? static_cast<float>(cars) / stalls : 0;
  const std::string full = fill < 0.4f ? "mostly empty" : fill < 0.75f ? "half full" : "almost full";
  const std::string free_spots = fill < 0.4f ? "most spaces are free"
                               : fill < 0.75f ? "half the spaces are free" : "few spaces are free";
  const std::string orient = direction_words(c.theta), rows = orientation_adj(c.theta) + " rows";
  const std::string edge_s = kEdge[edge];
  const std::string pave = asphalt ? "dark asphalt" : "grey concrete";
  const std::string beside = border == 1 ? "a large " + bcol + " building along the " + edge_s + " edge"
                           : border == 2 ? "green grass and trees along the " + edge_s + " edge"
                                         : "no building or grass around it";
  // What sets the lot apart in a few words: the thing along its edge, or the slant of its rows.
  const std::string beside_short = border == 1 ? "a " + bcol + " building on the " + edge_s
                                 : border == 2 ? "trees on the " + edge_s : "nothing else around";
  const std::string with_short = border ? beside_short : "rows running " + orient;

  if (border) c.say("the " + full + " parking lot has " + beside_short);
  else c.say("the " + full + " parking lot with " + rows + " has nothing else around");
  c.say(std::string(fill < 0.4f ? "some cars" : "many cars") + " stand in " + (orientation_adj(c.theta) == "diagonal" ? "rows " + orient : rows) + " in the " + pave + " parking lot");
  if (border) c.say("the parking lot on " + pave + " has " + beside);
  else c.say("the " + full + " parking lot on " + pave + " has nothing around it");
  c.say("this is " + a_an(full) + " parking lot on " + pave + " with " + rows);
  if (border) c.say("white lines mark " + rows + " in the parking lot with " + beside_short);
  else c.say("white lines mark rows running " + orient + " in the " + full + " parking lot");
  c.say(free_spots + " in the parking lot with " + with_short);
  if (border == 1) {
    c.say("a large " + bcol + " building stands on the " + edge_s + " of the " + full + " parking lot");
  } else if (border == 2) {
    c.say("green grass with trees borders the " + full + " parking lot on the " + edge_s);
  } else {
    c.say("the " + full + " parking lot of " + pave + " with " + rows + " fills the whole image");
  }
}

void gen_mobile_home_park(Ctx& c) {
  const bool grassy = c.rng.chance(0.5);
  c.ground(grassy ? "light green" : "concrete", "grey", 6);
  const Vec2 d = c.dir(), n = c.nrm(), o{0.5f, 0.5f};
  const float hl = c.rng.uniform(0.09f, 0.12f) * c.s, hw = 0.032f * c.s, road = 0.04f * c.s;
  const float pitch = 2 * hl + road + 0.02f;
  // Each park has its own pair of home colours, the first one the most common.
  const std::vector<std::vector<std::string>> kPairs = {{"white", "grey"}, {"white", "tan"}, {"grey", "tan"}};
  std::vector<std::string> homes = c.rng.pick(kPairs);
  if (c.rng.chance(0.5)) std::swap(homes[0], homes[1]);
  std::vector<int> counts(2, 0);
  // An open spot somewhere in the park: a pond, a grove of trees or a large clubhouse.
  const int feature = c.rng.chance(0.25) ? 0 : c.rng.randint(1, 3);  // 0 none, 1 pond, 2 grove, 3 building
  const Vec2 fc{c.rng.uniform(0.22f, 0.78f), c.rng.uniform(0.22f, 0.78f)};
  const float fr = c.rng.uniform(0.11f, 0.14f);
  const float off = c.rng.uniform(0, 1);
  for (int r = -5; r <= 5; ++r) c.road(o + n * ((r + off) * pitch), c.theta, road, false, "dark grey");
  std::string fcol;
  int ntree = 0;
  if (feature == 1) {
    Paint grass{c.named("light green", 0.05f)};
    c.cv.draw(circle(fc, fr * 1.15f), grass);
    Paint water{c.named("blue", 0.05f)};
    water.tex = 0.04f;
    c.cv.draw(Shape{}.add(Ellipse{fc, fr, fr * 0.75f, c.rng.uniform(0, kPi)}), water);
    c.add("pond", "blue", "", 1, fc);
  } else if (feature == 2) {
    Paint grass{c.named("green", 0.05f)};
    grass.tex = 0.1f;
    c.cv.draw(circle(fc, fr * 1.1f), grass);
    for (int i = 0; i < 7; ++i) {
      const Vec2 tp = fc + unit(c.rng.uniform(0, 2 * kPi)) * (fr * std::sqrt(c.rng.uniform(0.f, 1.f)) * 0.8f);
      c.tree(tp, c.rng.uniform(0.03f, 0.04f), c.named("dark green", 0.1f));
      ++ntree;
    }
    c.add("tree", "green", "", ntree, fc);
  } else if (feature == 3) {
    fcol = c.rng.pick(std::vector<std::string>{"red", "brown", "blue"});
    c.cv.draw(circle(fc, fr * 1.15f), Paint{c.named("concrete", 0.04f)});
    c.building(fc, fr * 1.6f, fr * 1.1f, c.theta, roof_rgb(c, fcol), 0.015f);
    c.add("building", fcol, "large", 1, fc);
  }
  for (int r = -5; r <= 5; ++r) {
    const Vec2 rc = o + n * ((r + off) * pitch);
    for (int side = -1; side <= 1; side += 2) {
      for (int k = -12; k <= 12; ++k) {
        const Vec2 p = rc + n * (side * (road * 0.5f + hl * 0.5f + 0.006f)) + d * (k * (hw + 0.014f * c.s));
        if (p.x < -0.05f || p.x > 1.05f || p.y < -0.05f || p.y > 1.05f || c.rng.chance(0.1)) continue;
        if (feature) {
          const Vec2 r2 = p - fc;
          if (dot(r2, r2) < (fr * 1.2f + hl * 0.5f) * (fr * 1.2f + hl * 0.5f)) continue;  // keep the open spot free
        }
        const int ci = c.rng.chance(0.7) ? 0 : 1;
        Paint pp{c.named(homes[ci] == "grey" ? "light grey" : homes[ci] == "tan" ? "sand" : homes[ci], 0.05f)};
        c.cv.draw_shadowed(Shape{}.add(rect(p, hl, hw, c.theta + kPi / 2)), pp, c.shadow(0.006f));
        if (inside(p)) ++counts[ci];
      }
    }
  }
  c.add("mobile home", homes[0], "", counts[0], o);
  c.add("mobile home", homes[1], "", counts[1], o);
  c.add("road", "dark grey", "", 2, o);
  std::vector<std::string> pair = homes;
  sort_colors(pair);
  const std::string cs = join_and(pair);
  const std::string orient = direction_words(c.theta), roads = orientation_adj(c.theta) + " roads";
  const std::string ground = grassy ? "green grass" : "grey concrete";
  const std::string at = where(fc);
  const std::string spot = feature == 1 ? "a pond " + at
                         : feature == 2 ? "a grove of trees " + at
                         : feature == 3 ? "a " + fcol + " building " + at
                                        : "no open space";

  const std::string mix = "mostly " + homes[0] + " and some " + homes[1];

  c.say("rows of " + mix + " mobile homes run " + orient);
  c.say("the mobile home park with " + roads + " has " + spot);
  c.say("this mobile home park on " + ground + " has " + spot);
  c.say(cs + " mobile homes line up " + orient + " on " + ground);
  if (feature) c.say(mix + " mobile homes surround " + spot);
  else c.say(mix + " mobile homes fill the whole park on " + ground);
  c.say(mix + " mobile homes line " + roads + " on " + ground);
  if (feature == 1) c.say("a pond lies " + at + " of the mobile home park on " + ground);
  else if (feature == 2) c.say("dark green trees grow " + at + " of the mobile home park with " + roads);
  else if (feature == 3) c.say("a large " + fcol + " building stands " + at + " among " + cs + " mobile homes");
  else c.say("the " + cs + " mobile homes on " + ground + " leave no open space");
}

}  // namespace rscapret::synth

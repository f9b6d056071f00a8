// Natural scene types: farmland, forest, river, beach, bare land, meadow, chaparral, golf course.
// Captions state what varies between images and is visible at 64 px (colours of large regions, layout
// orientation, where a large feature lies, which side the sea is on, a road / pond / bridge or not,
// small counts of large objects), so that a caption points at its own image, not at the scene type.
#include <algorithm>
#include <cmath>

#include "synth/scene_ctx.h"

namespace rscapret::synth {

namespace {

// Distance from q to the nearest point of a densely sampled polyline.
float poly_dist(Vec2 q, const std::vector<Vec2>& pts) {
  float best = 1e9f;
  for (const Vec2& p : pts) best = std::min(best, dot(q - p, q - p));
  return std::sqrt(best);
}

// Where a line across the whole image lies: offset u from the centre along the unit normal n.
// "through the middle", or "near the top" / "near the lower left" for lines off the centre.
std::string line_place(Vec2 n, float u) {
  if (std::abs(u) < 0.12f) return "through the middle";
  return "near the " + side_word(u > 0 ? n : n * -1.f);
}

// The colours of `all` that are in `have`, in the fixed order of `all` (words follow what is shown,
// not the drawing order).
std::string ordered_colors(const std::vector<std::string>& all, const std::vector<std::string>& have) {
  std::vector<std::string> out;
  for (const auto& a : all)
    if (std::find(have.begin(), have.end(), a) != have.end()) out.push_back(a);
  return join_and(out);
}

// Where each of the points lies, without repeats: "in the upper left and on the right".
std::string where_all(const std::vector<Vec2>& ps) {
  std::vector<std::string> ws;
  for (const Vec2& q : ps)
    if (std::find(ws.begin(), ws.end(), where(q)) == ws.end()) ws.push_back(where(q));
  return join_and(ws);
}

// The same places without "in the" / "on the" / "at the", for longer lists: "upper left , right and top".
std::string spots_all(const std::vector<Vec2>& ps) {
  std::vector<std::string> ws;
  for (const Vec2& q : ps) {
    const std::string w = where(q).substr(where(q).find("the ") + 4);
    if (std::find(ws.begin(), ws.end(), w) == ws.end()) ws.push_back(w);
  }
  return join_and(ws);
}

// Words of a caption (space-separated tokens).
int word_count(const std::string& s) {
  int n = 0;
  for (size_t i = 0; i < s.size(); ++i) n += s[i] != ' ' && (i == 0 || s[i - 1] == ' ');
  return n;
}

// Says `a` when it fits kMaxCaptionWords, else the shorter `b` (long lists of places or diagonals).
void say_fit(Ctx& c, const std::string& a, const std::string& b) {
  c.say(word_count(a) <= kMaxCaptionWords ? a : b);
}

// A point in one of the nine cells of a 3x3 grid, each cell equally likely, so that where() gives each
// of its nine answers about equally often (uniform points land "in the middle" far more often).
Vec2 cell_point(Rng& rng, float spread = 0.07f) {
  const float xs[3] = {0.22f, 0.5f, 0.78f};
  const float x = xs[rng.randint(0, 2)] + rng.uniform(-spread, spread);
  return {x, xs[rng.randint(0, 2)] + rng.uniform(-spread, spread)};
}

// A soft irregular blob (clearing, bare patch, pond) of radius r at q.
void blob(Ctx& c, Vec2 q, float r, const Paint& p) {
  const float a = c.rng.uniform(0, kPi), k = c.rng.uniform(0.7f, 0.95f);
  Shape sh;
  sh.add(Ellipse{q, r, r * k, a});
  sh.add(Ellipse{q + unit(a + 1.3f) * (r * 0.4f), r * 0.7f, r * 0.6f, a + 0.8f});
  c.cv.draw(sh, p);
}

}  // namespace

void gen_farmland(Ctx& c) {
  c.ground("soil", "brown", 6);
  const Vec2 d = c.dir(), n = c.nrm(), o = {0.5f, 0.5f};
  // Large or small fields: a visible difference at 64 px.
  const bool large = c.rng.chance(0.5);
  const float fw = (large ? c.rng.uniform(0.3f, 0.38f) : c.rng.uniform(0.16f, 0.22f)) * c.s;
  const float fh = (large ? c.rng.uniform(0.2f, 0.26f) : c.rng.uniform(0.1f, 0.14f)) * c.s;
  const float gap = 0.014f * c.s;
  const std::vector<std::string> crops = {"green", "light green", "yellow", "brown"};
  std::vector<std::string> palette;
  const int ncol = c.rng.randint(2, 3);
  while (static_cast<int>(palette.size()) < ncol) {
    const std::string& k = c.rng.pick(crops);
    if (std::find(palette.begin(), palette.end(), k) == palette.end()) palette.push_back(k);
  }
  const float off = c.rng.uniform(0, 1);
  std::vector<int> used(palette.size(), 0);
  for (int i = -5; i <= 5; ++i) {
    for (int j = -6; j <= 6; ++j) {
      const Vec2 ctr = o + d * ((i + off) * fw) + n * ((j + off) * fh);
      if (std::abs(ctr.x - 0.5f) > 0.5f + fw || std::abs(ctr.y - 0.5f) > 0.5f + fw) continue;
      // The first colour of the palette dominates, so "mostly yellow" is visible.
      const int k = c.rng.chance(0.5) ? 0 : c.rng.randint(0, static_cast<int>(palette.size()) - 1);
      Paint p{c.named(palette[k] == "brown" ? "soil" : palette[k], 0.08f)};
      p.tex = 0.08f;
      p.stripe_amp = palette[k] == "brown" ? 0.05f : 0.1f;
      p.stripe_period = c.rng.uniform(0.012f, 0.02f);
      p.stripe_dir = c.rng.chance(0.5) ? d : n;
      c.cv.draw(Shape{}.add(rect(ctr, fw - gap, fh - gap, c.theta)), p);
      if (ctr.x > 0 && ctr.x < 1 && ctr.y > 0 && ctr.y < 1) ++used[k];
    }
  }
  std::vector<std::string> cols;
  size_t dom = 0;
  for (size_t k = 0; k < palette.size(); ++k) {
    if (!used[k]) continue;
    cols.push_back(palette[k]);
    c.add("field", palette[k], "", used[k], o);
    if (used[k] > used[dom]) dom = k;
  }
  const std::string cs = ordered_colors(crops, cols), main = palette[dom];
  // A road along the field boundaries, through the middle or nearer an edge.
  const bool road = c.rng.chance(0.45);
  const float ru = (c.rng.randint(-1, 1) + off - 0.5f) * fh;
  if (road) {
    c.road(o + n * ru, c.theta, 0.035f * c.s, false, "grey");
    c.add("road", "grey", "", 1, o + n * ru);
  }
  // A farmstead: one or two buildings with red or white roofs.
  int nbuild = 0;
  Vec2 bq{0.5f, 0.5f};
  const std::string roof = c.rng.chance(0.5) ? "red" : "white";
  if (c.rng.chance(0.4)) {
    bq = cell_point(c.rng);
    const int want = c.rng.randint(1, 2);
    for (int i = 0; i < want; ++i) {
      const Vec2 q = bq + d * ((i - (want - 1) * 0.5f) * 0.1f * c.s);
      if (road && line_dist(q, o + n * ru, d) < 0.07f * c.s) continue;
      c.building(q, 0.08f * c.s, 0.05f * c.s, c.theta, c.named(roof, 0.05f), 0.012f);
      ++nbuild;
    }
    if (nbuild) c.add("building", roof, "", nbuild, bq);
  }
  // Each caption states about two of: colours, main colour, field size, orientation, road, buildings.
  const std::string ori = direction_words(c.theta), size = large ? "large" : "small";
  const std::string rw = road ? "a road" : "no road";
  c.say("the farmland has " + cs + " fields arranged " + ori);
  c.say("the cropland is divided into " + size + " " + cs + " fields with " + rw);
  c.say("the farmland is mostly " + main + " with " + size + " fields running " + ori);
  c.say("mostly " + main + " fields lie " + ori + " in the cropland with " + rw);
  if (road) say_fit(c, "a grey road runs " + ori + " " + line_place(n, ru) + " of the " + main + " farmland",
                   "a grey road runs " + ori + " " + line_place(n, ru) + " of the farmland");
  else c.say("there is no road between the " + size + " " + cs + " fields of the farmland");
  if (nbuild) {
    const std::string bs = count_np(nbuild, roof, "building");
    c.say(bs + " " + is_are(nbuild) + " " + where(bq) + " of the " + main + " farmland");
    c.say("the farmland with " + size + " fields has " + bs + " " + where(bq));
  } else {
    c.say("there are no buildings in the " + cs + " farmland with " + size + " fields");
  }
  c.say("this is a farmland with " + size + " " + main + " fields and " + (nbuild ? "a farmstead" : "no farmstead"));
}

void gen_forest(Ctx& c) {
  c.ground("dark green", "soil", 8);
  const bool road = c.rng.chance(0.45), autumn = c.rng.chance(0.3);
  // Canopy tone of this image: mostly dark green or mostly lighter green trees.
  const bool dark = c.rng.chance(0.5);
  const Vec2 rp{c.rng.uniform(0.25f, 0.75f), c.rng.uniform(0.25f, 0.75f)};
  const float rw = 0.05f * c.s;
  if (road) {
    c.road(rp, c.theta, rw, false, "tan");
    c.add("road", "tan", "", 1, rp);
  }
  // An opening in the canopy: a clearing of brown soil or light green grass, or a pond.
  const float fu = c.rng.uniform(0, 1);
  const int feat = fu < 0.5f ? 1 : fu < 0.85f ? 2 : 0;  // 1 clearing, 2 pond, 0 none
  const std::string clear_col = c.rng.chance(0.5) ? "brown" : "light green";
  const float fr = c.rng.uniform(0.11f, 0.16f);
  Vec2 fq = cell_point(c.rng);
  if (road) {  // keep the opening off the road so both stay visible
    const float dl = line_dist(fq, rp, c.dir());
    if (dl < fr + rw) fq = fq + c.nrm() * ((dot(fq - rp, c.nrm()) >= 0 ? 1.f : -1.f) * (fr + rw - dl + 0.02f));
    fq = {std::clamp(fq.x, 0.12f, 0.88f), std::clamp(fq.y, 0.12f, 0.88f)};
  }
  if (feat == 1) {
    Paint p{c.named(clear_col == "brown" ? "soil" : "light green", 0.06f)};
    p.tex = 0.1f;
    blob(c, fq, fr, p);
  } else if (feat == 2) {
    Paint p{c.named("blue", 0.06f)};
    p.tex = 0.04f;
    p.tex_freq = 12;
    blob(c, fq, fr * 0.9f, p);
    c.add("pond", "blue", "", 1, fq);
  }
  const float sp = c.rng.uniform(0.045f, 0.06f) * c.s;
  int green = 0, dgreen = 0, yellow = 0;
  for (float y = -0.02f; y < 1.03f; y += sp) {
    for (float x = -0.02f; x < 1.03f; x += sp) {
      const Vec2 q{x + c.rng.uniform(-0.4f, 0.4f) * sp, y + c.rng.uniform(-0.4f, 0.4f) * sp};
      const float r = sp * c.rng.uniform(0.55f, 0.8f);
      if (road && line_dist(q, rp, c.dir()) < rw * 0.5f + r * 0.7f) continue;
      if (feat && std::sqrt(dot(q - fq, q - fq)) < fr * 0.9f + r * 0.7f) continue;
      const bool yel = autumn && c.rng.chance(0.18);
      const bool dg = !yel && c.rng.chance(dark ? 0.85 : 0.15);
      c.tree(q, r, c.named(yel ? "yellow" : (dg ? "dark green" : "green"), 0.12f));
      ++(yel ? yellow : (dg ? dgreen : green));
    }
  }
  c.add("tree", "dark green", "", dgreen, {0.5f, 0.5f});
  c.add("tree", "green", "", green, {0.5f, 0.5f});
  if (yellow) c.add("tree", "yellow", "", yellow, {0.5f, 0.5f});
  const std::string tone = dark ? "dark green" : "bright green", ori = direction_words(c.theta);
  const std::string place = line_place(c.nrm(), dot(rp - Vec2{0.5f, 0.5f}, c.nrm()));
  const std::string feat_np = feat == 1 ? "a " + clear_col + " clearing" : feat == 2 ? "a blue pond" : "";
  const std::string open = feat ? feat_np + " " + where(fq) : "no opening";
  const std::string rws = road ? "a tan road" : "no road";
  if (yellow >= 2) c.say("a " + tone + " forest with some yellow trees and " + open);
  else c.say("this is a dense " + tone + " forest with " + (road ? "a tan road running " + ori : open));
  c.say("the " + tone + " forest has " + open);
  c.say("it is a forest with " + open + " and " + rws);
  if (road) c.say("a tan road runs " + ori + " " + place + " of the forest");
  else c.say("there is no road in the forest with " + open);
  if (feat) {
    c.say(feat_np + " lies " + where(fq) + " of the " + tone + " forest");
    c.say(std::string("many ") + (dark ? "dark green" : "green") + " trees of the forest surround " + open);
  } else {
    c.say("the " + tone + " forest with " + (road ? "a tan road running " + ori : "no road") + " has no opening");
    c.say("many trees cover the whole " + tone + " forest with " + rws);
  }
  if (yellow >= 2) c.say("some yellow trees grow in the " + tone + " forest with " + open);
  else c.say("the " + tone + " forest with " + rws + " shows " + open);
}

void gen_river(Ctx& c) {
  const bool dry = c.rng.chance(0.3);
  c.ground(dry ? "light green" : "green", dry ? "tan" : "dark green", 5);
  const std::vector<std::string> waters = {"blue", "dark blue", "blue-green", "brown"};
  const std::string water = c.rng.pick(waters);
  const bool winding = c.rng.chance(0.6), bridge = c.rng.chance(0.4), trees = c.rng.chance(0.6);
  // Wide or narrow: about 11 px against 5 px at 64 px.
  const bool wide = c.rng.chance(0.5);
  const float amp = winding ? c.rng.uniform(0.06f, 0.12f) : 0.f, freq = c.rng.uniform(4.f, 8.f);
  const float ph = c.rng.uniform(0, 6.28f);
  const float w = (wide ? c.rng.uniform(0.16f, 0.2f) : c.rng.uniform(0.07f, 0.1f)) * c.s;
  const Vec2 d = c.dir(), n = c.nrm();
  // The river runs through the middle or nearer an edge.
  const float u = c.rng.chance(0.5) ? c.rng.uniform(-0.06f, 0.06f)
                                    : (c.rng.chance(0.5) ? 1.f : -1.f) * c.rng.uniform(0.17f, 0.24f);
  const Vec2 o = Vec2{0.5f, 0.5f} + n * u;
  std::vector<Vec2> pts;
  for (float t = -0.9f; t <= 0.9f; t += 0.02f) pts.push_back(o + d * t + n * (amp * std::sin(freq * t + ph)));
  Paint bank{c.named("sand", 0.05f)};
  bank.tex = 0.08f;
  c.cv.draw(Shape{}.add(Stroke{pts, w + 0.03f * c.s}), bank);
  Paint wp{c.named(water, 0.06f)};
  wp.tex = 0.05f;
  wp.tex_freq = 12;
  c.cv.draw(Shape{}.add(Stroke{pts, w}), wp);
  c.add("river", water, "", 1, o);
  int ntree = 0;
  if (trees) {
    for (int i = 0; i < 70; ++i) {
      const Vec2 q{c.rng.uniform(0, 1), c.rng.uniform(0, 1)};
      const float r = c.rng.uniform(0.018f, 0.03f) * c.s, dist = poly_dist(q, pts);
      if (dist < w * 0.5f + 0.02f * c.s + r || dist > w * 0.5f + 0.12f) continue;
      c.tree(q, r, c.named(c.rng.chance(0.5) ? "dark green" : "green", 0.1f));
      ++ntree;
    }
    if (ntree) c.add("tree", "green", "", ntree, o);
  }
  // The bridge crosses somewhere along the visible river, not always at its middle.
  Vec2 bp = o;
  if (bridge) {
    const float t = c.rng.uniform(-0.3f, 0.3f);
    bp = o + d * t + n * (amp * std::sin(freq * t + ph));
    c.cv.draw_shadowed(Shape{}.add(rect(bp, 0.05f * c.s, w + 0.09f * c.s, c.theta)), Paint{c.named("light grey")},
                       c.shadow(0.01f));
    c.add("bridge", "grey", "", 1, bp);
  }
  const std::string shape = winding ? "winding" : "straight", width = wide ? "wide" : "narrow";
  const std::string ori = direction_words(c.theta), place = line_place(n, u);
  const std::string land = dry ? "dry grass" : "green land";
  c.say("a " + width + " " + water + " river runs " + ori + " " + place);
  c.say("there is a " + shape + " " + water + " river " + (bridge ? "with a bridge " + where(bp) : "with no bridge"));
  c.say("a " + shape + " river flows " + ori + " through the " + land);
  c.say("the " + water + " water of the " + width + " river runs " + ori);
  c.say("this is a " + width + " " + shape + " river with " + (dry ? "sandy" : "green") + " banks " + place);
  c.say("a " + shape + " " + water + " river goes across the image " + ori);
  if (bridge) {
    c.say("a bridge crosses the " + width + " " + water + " river " + where(bp));
    c.say("a grey bridge " + where(bp) + " spans the " + shape + " river");
  } else {
    c.say("the " + width + " " + shape + " river runs " + place + " with no bridge");
  }
  if (ntree >= 5) c.say("many green trees grow along the " + width + " " + water + " river");
  else if (ntree == 0) c.say("there are no trees along the " + width + " " + water + " river");
}

void gen_beach(Ctx& c) {
  // The sea may lie on any side: n points towards it, d runs along the shore.
  const float sea_a = c.rng.uniform(0, 2 * kPi), shore_a = sea_a - kPi / 2;
  const Vec2 n = unit(sea_a), d = unit(shore_a);
  const Vec2 o{0.5f + c.rng.uniform(-0.12f, 0.12f), 0.5f + c.rng.uniform(-0.12f, 0.12f)};
  const std::string sand = c.rng.chance(0.5) ? "white" : "yellow";
  const std::string sea = c.rng.chance(0.5) ? "blue" : "blue-green";
  // Wide or narrow strip of sand: visible at 64 px.
  const bool wide = c.rng.chance(0.5);
  const float sand_w = (wide ? c.rng.uniform(0.28f, 0.36f) : c.rng.uniform(0.1f, 0.15f)) * c.s;
  const float wamp = c.rng.uniform(0.005f, 0.025f);
  const float wfreq = c.rng.uniform(15, 35), wph = c.rng.uniform(0, 6.28f);
  const bool trees = c.rng.chance(0.6), road = c.rng.chance(0.4);
  c.ground("green", "dark green", 6);
  auto shore = [=](Vec2 q) { return dot(q - o, n) - wamp * std::sin(wfreq * dot(q, d) + wph); };
  Paint sp{c.named(sand == "white" ? "sand" : "yellow", 0.04f)};
  sp.tex = 0.06f;
  sp.tex_freq = 30;
  c.region([=](Vec2 q) { return -(shore(q) + sand_w); }, sp);
  Paint wp{c.named(sea, 0.05f)};
  wp.tex = 0.05f;
  wp.tex_freq = 10;
  c.region([=](Vec2 q) { return -shore(q); }, wp);
  Paint deep{c.named("dark blue", 0.05f)};
  deep.alpha = 0.55f;
  c.region([=](Vec2 q) { return -(shore(q) - 0.25f); }, deep);
  Paint foam{c.named("white", 0.02f)};
  foam.alpha = 0.8f;
  c.region([=](Vec2 q) { return std::abs(shore(q) - 0.012f) - 0.006f; }, foam);
  c.add("sea", sea, "", 1, o + n * 0.3f);
  c.add("beach", sand, "", 1, o);
  // A road along the shore, just behind the sand.
  const Vec2 rp = o - n * (sand_w + 0.035f * c.s);
  if (road) {
    c.road(rp, shore_a, 0.035f * c.s, false, "grey");
    c.add("road", "grey", "", 1, rp);
  }
  int ntree = 0;
  if (trees) {
    for (int i = 0; i < 80; ++i) {
      const Vec2 q{c.rng.uniform(0, 1), c.rng.uniform(0, 1)};
      if (shore(q) > -sand_w - 0.04f) continue;
      if (road && line_dist(q, rp, d) < 0.05f * c.s) continue;
      c.tree(q, c.rng.uniform(0.02f, 0.035f) * c.s, c.named("dark green", 0.1f));
      ++ntree;
    }
    if (ntree) c.add("tree", "green", "", ntree, o - n * 0.3f);
  }
  const std::string side = side_word(n), land = side_word(n * -1.f), ori = direction_words(shore_a);
  const std::string width = wide ? "wide" : "narrow";
  c.say("this is a " + sand + " beach with the " + sea + " sea on the " + side);
  c.say("the sea is on the " + side + " side of the " + width + " " + sand + " beach");
  c.say("white waves wash the " + width + " " + sand + " beach on its " + side + " side");
  c.say("the " + sand + " beach on the " + land + " is next to the " + sea + " sea and " +
        (ntree >= 2 ? "green trees" : "grass"));
  c.say("a " + width + " " + sand + " beach lies along the " + sea + " sea on the " + side);
  c.say("the " + sea + " sea on the " + side + " meets the " + sand + " sand of the " + width + " beach");
  c.say("the " + width + " beach has " + (road ? "a grey road" : "no road") + " behind it on the " + land + " side");
  if (road) c.say("a grey road runs " + ori + " behind the " + width + " " + sand + " beach");
  else c.say("there is no road behind the " + sand + " beach on the " + land + " side");
  if (ntree >= 2) c.say("some green trees grow on the " + land + " behind the " + width + " " + sand + " beach");
  else c.say("only grass lies on the " + land + " behind the " + width + " " + sand + " beach");
}

void gen_bare_land(Ctx& c) {
  const std::string col = c.rng.chance(0.5) ? "brown" : "yellow";
  if (col == "brown") c.ground("soil", "tan", c.rng.uniform(4, 10), 0.06f);
  else c.ground("tan", "yellow", c.rng.uniform(4, 10), 0.06f);
  // A large darker or lighter patch of soil somewhere.
  const float pu = c.rng.uniform(0, 1);
  const int patch = pu < 0.45f ? 1 : pu < 0.85f ? 2 : 0;  // 1 dark, 2 pale, 0 none
  const Vec2 pq = cell_point(c.rng);
  if (patch) {
    Paint p{patch == 1 ? scale(c.named(col == "brown" ? "soil" : "tan"), 0.72f)
                       : mix(c.named(col == "brown" ? "tan" : "yellow"), c.named("white"), 0.3f)};
    p.tex = 0.08f;
    blob(c, pq, c.rng.uniform(0.12f, 0.17f), p);
  }
  // Faint tracks; wide enough to show as lines at 64 px.
  const int tracks = c.rng.chance(0.4) ? 0 : c.rng.randint(2, 4);
  for (int i = 0; i < tracks; ++i) {
    const Vec2 o{c.rng.uniform(0.1f, 0.9f), c.rng.uniform(0.1f, 0.9f)};
    const float a = c.theta + c.rng.uniform(-0.6f, 0.6f), bend = c.rng.uniform(-0.3f, 0.3f);
    std::vector<Vec2> pts;
    for (float t = -0.8f; t <= 0.8f; t += 0.05f) pts.push_back(o + unit(a + bend * t) * t);
    Paint p{scale(c.named("soil", 0.05f), 0.85f)};
    p.alpha = 0.6f;
    c.cv.draw(Shape{}.add(Stroke{pts, 0.014f * c.s}), p);
  }
  // A light grey dirt road across the land.
  const bool road = c.rng.chance(0.4);
  const float ra = c.theta + kPi / 2 * c.rng.randint(0, 1), ru = c.rng.uniform(-0.25f, 0.25f);
  const Vec2 rn = unit(ra + kPi / 2), rp = Vec2{0.5f, 0.5f} + rn * ru;
  if (road) {
    c.road(rp, ra, 0.04f * c.s, false, "light grey");
    c.add("road", "light grey", "", 1, rp);
  }
  // One or two small buildings standing together.
  int nbuild = 0;
  Vec2 bq{0.5f, 0.5f};
  const std::string roof = c.rng.chance(0.5) ? "white" : "grey";
  if (c.rng.chance(0.35)) {
    const int want = c.rng.randint(1, 2);
    bq = cell_point(c.rng);
    for (int i = 0; i < want; ++i) {
      const Vec2 q = bq + unit(ra) * ((i - (want - 1) * 0.5f) * 0.15f * c.s);
      if (road && line_dist(q, rp, unit(ra)) < 0.08f * c.s) continue;
      c.building(q, 0.11f * c.s, 0.07f * c.s, ra, c.named(roof == "white" ? "white" : "grey", 0.04f), 0.012f);
      ++nbuild;
    }
    if (nbuild) c.add("building", roof, "small", nbuild, bq);
  }
  c.add("soil", col, "", 1, {0.5f, 0.5f});
  if (tracks) c.add("track", "", "", tracks, {0.5f, 0.5f});
  const std::string ori = direction_words(ra), rplace = line_place(rn, ru);
  const std::string ps = patch == 1 ? "a dark patch " + where(pq) : patch == 2 ? "a pale patch " + where(pq)
                                                                     : "no patches";
  const std::string rw = road ? "a road" : "no road";
  const std::string ts = tracks ? "some tracks" : "no tracks";
  const std::string bs = nbuild ? count_np(nbuild, "small " + roof, "building") + " " + where(bq) : "no buildings";
  c.say("this is " + col + " bare land with " + ps);
  c.say("the " + col + " bare land has " + ts + " and " + ps);
  if (patch) c.say(std::string("a ") + (patch == 1 ? "dark" : "pale") + " patch lies " + where(pq) + " of the bare land with " + ts);
  else c.say("the " + col + " bare land has no patches and " + rw);
  if (road) {
    say_fit(c, "a dirt road runs " + ori + " " + rplace + " of the " + col + " bare land",
            "a dirt road runs " + ori + " " + rplace + " of the bare land");
    c.say("a road runs " + orientation_word(ra) + " across the bare land with " + ps);
  } else {
    c.say("no road crosses the bare land with " + ts + " and " + ps);
    c.say("the bare land shows only " + col + " soil and " + ps);
  }
  if (nbuild) {
    c.say("the " + col + " bare land has " + bs);
    c.say(bs + " " + is_are(nbuild) + " on the bare land with " + ts);
  } else {
    c.say("the " + col + " bare land has no buildings and " + ts);
    c.say("no buildings stand on the bare land with " + ps);
  }
}

void gen_meadow(Ctx& c) {
  const std::string col = c.rng.chance(0.6) ? "green" : "light green";
  c.ground(col, col == "green" ? "light green" : "yellow", c.rng.uniform(3, 7), 0.03f);
  c.add("grass", col, "", 1, {0.5f, 0.5f});
  // A tan path across the grass.
  const bool path = c.rng.chance(0.45);
  const float pa = c.theta, pu = c.rng.uniform(-0.25f, 0.25f);
  const Vec2 pn = unit(pa + kPi / 2), pp = Vec2{0.5f, 0.5f} + pn * pu;
  std::vector<Vec2> pts;
  if (path) {
    Paint p{c.named("tan", 0.05f)};
    p.tex = 0.08f;
    const float bend = c.rng.uniform(-0.25f, 0.25f);
    for (float t = -0.9f; t <= 0.9f; t += 0.02f) pts.push_back(pp + unit(pa + bend * t * t) * t);
    c.cv.draw(Shape{}.add(Stroke{pts, 0.04f * c.s}), p);
  }
  auto off_path = [&](Vec2 q) { return !path || poly_dist(q, pts) > 0.12f; };
  // A pond somewhere on the meadow.
  Vec2 pondq;
  bool pond = c.rng.chance(0.4);
  for (int t = 0; t < 20 && pond; ++t) {
    pondq = cell_point(c.rng, 0.04f);
    if (off_path(pondq)) break;
    if (t == 19) pond = false;
  }
  if (pond) {
    c.occupy(pondq, 0.11f * c.s);
    Paint p{c.named("blue", 0.06f)};
    p.tex = 0.04f;
    blob(c, pondq, 0.09f * c.s, p);
    c.add("pond", "blue", "", 1, pondq);
  }
  const int ntree = c.rng.chance(0.15) ? 0 : c.rng.randint(1, 4);
  std::vector<Vec2> tq;
  for (int i = 0; i < ntree; ++i) {
    // Trees near the centres of the 3x3 cells, so where() names their place clearly.
    Vec2 q;
    const float r = c.rng.uniform(0.04f, 0.055f) * c.s;
    bool ok = false;
    for (int t = 0; t < 20 && !ok; ++t) {
      q = cell_point(c.rng, 0.06f);
      ok = c.is_free(q, r + 0.03f) && off_path(q);
    }
    if (!ok) continue;
    c.occupy(q, r + 0.03f);
    c.tree(q, r, c.named("dark green", 0.1f));
    c.add("tree", "dark green", "", 1, q);
    tq.push_back(q);
  }
  const int placed = static_cast<int>(tq.size());
  const std::string ori = direction_words(pa);
  const std::string ts = count_np(placed, "", "tree"), dts = count_np(placed, "dark green", "tree");
  // "two trees on the left and at the top", "four trees at the top , left , middle and lower right".
  const std::string tw = placed == 0 ? ts : placed <= 2 ? ts + " " + where_all(tq) : ts + " at the " + spots_all(tq);
  const std::string pw = path ? "a tan path" : "no path";
  const std::string pos = pond ? "a blue pond " + where(pondq) : "no pond";
  c.say("the " + col + " meadow has " + pos + " and " + pw);
  say_fit(c, "the meadow has " + tw + " and " + pw, "the meadow has " + tw);
  say_fit(c, "this is a piece of " + col + " meadow with " + tw, "this is a piece of " + col + " meadow with " + ts + " and " + pw);
  c.say("the " + col + " meadow has " + pos + " and " + ts);
  if (path) c.say("a tan path crosses the " + col + " grassland " + ori + " " + line_place(pn, pu));
  else say_fit(c, "there is no path in the meadow with " + tw, "there is no path in the " + col + " meadow with " + pos);
  if (pond) c.say("a blue pond lies " + where(pondq) + " of the meadow with " + ts);
  else say_fit(c, "there is no pond on the grassland with " + tw, "there is no pond on the " + col + " grassland with " + ts);
  if (placed == 1) c.say("a dark green tree stands " + where(tq[0]) + " of the " + col + " meadow");
  else if (placed == 2) c.say(dts + " stand " + where_all(tq) + " of the meadow");
  else if (placed >= 3) c.say(tw + " of the meadow");
  else c.say("there are no trees on the " + col + " grassland with " + pos);
}

void gen_chaparral(Ctx& c) {
  const std::string soil = c.rng.chance(0.5) ? "tan" : "light grey";
  c.ground(soil, "tan", 5, 0.05f);
  // Sparse or dense shrubs: a visible difference in how much soil shows.
  const bool dense = c.rng.chance(0.5);
  const float dens = dense ? c.rng.uniform(0.65f, 0.8f) : c.rng.uniform(0.14f, 0.2f);
  // A dirt road and a bare patch without shrubs, each in some images.
  const bool road = c.rng.chance(0.5), bare = c.rng.chance(0.7);
  const float ru = c.rng.uniform(-0.25f, 0.25f);
  const Vec2 rp = Vec2{0.5f, 0.5f} + c.nrm() * ru;
  const Vec2 bq = cell_point(c.rng);
  const float br = c.rng.uniform(0.12f, 0.16f);
  if (road) {
    c.road(rp, c.theta, 0.04f * c.s, false, soil == "tan" ? "light grey" : "tan");
    c.add("road", soil == "tan" ? "light grey" : "tan", "", 1, rp);
  }
  if (bare) {
    Paint p{mix(c.named(soil), c.named("white"), 0.35f)};
    p.alpha = 0.85f;
    p.tex = 0.06f;
    blob(c, bq, br, p);
  }
  int n = 0;
  for (int i = 0; i < static_cast<int>(400 * dens); ++i) {
    const Vec2 q{c.rng.uniform(0, 1), c.rng.uniform(0, 1)};
    Paint p{c.named("grey-green", 0.12f)};
    p.tex = 0.2f;
    p.tex_freq = 120;
    const float r = c.rng.uniform(0.008f, 0.022f) * c.s;
    if (road && line_dist(q, rp, c.dir()) < 0.02f * c.s + r) continue;
    if (bare && std::sqrt(dot(q - bq, q - bq)) < br + r) continue;
    Shape sh = circle(q, r);
    sh.add(Ellipse{q + unit(c.rng.uniform(0, 6.28f)) * r * 0.7f, r * 0.8f, r * 0.6f, c.rng.uniform(0, 3)});
    c.cv.draw_shadowed(sh, p, c.shadow(r * 0.5f), 0.35f);
    ++n;
  }
  c.add("shrub", "grey-green", "", n, {0.5f, 0.5f});
  // In some images one to three dark green trees stand out among the shrubs.
  std::vector<Vec2> tq;
  const int want = c.rng.chance(0.45) ? 0 : c.rng.randint(1, 3);
  for (int i = 0; i < want; ++i) {
    const float r = c.rng.uniform(0.04f, 0.05f) * c.s;
    for (int t = 0; t < 20; ++t) {
      const Vec2 q = cell_point(c.rng, 0.06f);
      if (!c.is_free(q, r + 0.04f)) continue;
      if (road && line_dist(q, rp, c.dir()) < 0.04f * c.s + r) continue;
      if (bare && std::sqrt(dot(q - bq, q - bq)) < br + r) continue;
      c.occupy(q, r + 0.04f);
      c.tree(q, r, c.named("dark green", 0.1f));
      c.add("tree", "dark green", "", 1, q);
      tq.push_back(q);
      break;
    }
  }
  const int nt = static_cast<int>(tq.size());
  const std::string ts = count_np(nt, "", "tree");
  // "two trees in the upper left and on the right", "three trees at the top , left and middle".
  const std::string tw = nt == 0 ? ts : nt <= 2 ? ts + " " + where_all(tq) : ts + " at the " + spots_all(tq);
  const std::string ground = soil == "tan" ? "yellow" : "grey", ori = direction_words(c.theta);
  const std::string dw = dense ? "dense" : "sparse", ly = dense ? "densely" : "sparsely";
  const std::string rw = road ? "a road" : "no road";
  const std::string bs = bare ? "a bare patch " + where(bq) : "no bare patch";
  c.say("this is a " + dw + " chaparral on " + ground + " soil with " + bs);
  if (nt) say_fit(c, "grey-green shrubs grow " + ly + " in the chaparral with " + tw,
                  "grey-green shrubs grow " + ly + " in the chaparral with " + ts);
  else if (bare) c.say("grey-green shrubs grow " + ly + " around " + bs + " of the chaparral");
  else c.say("grey-green shrubs grow " + ly + " all over the " + ground + " chaparral");
  c.say("the chaparral has " + bs + " and " + (nt || !road ? ts : "a road running " + orientation_word(c.theta)));
  c.say("the " + dw + " chaparral with " + rw + " has " + bs);
  if (nt) say_fit(c, "it is a " + ground + " chaparral with " + tw, "it is a chaparral with " + tw);
  else c.say("it is a " + ground + " chaparral with no trees and " +
             (road ? "a road running " + orientation_word(c.theta) : "no road"));
  if (nt) c.say("the chaparral has " + (nt <= 2 ? count_np(nt, "dark green", "tree") + " " + where_all(tq) : tw));
  else c.say("there are no trees in the " + dw + " chaparral with " + bs);
  if (road) c.say("a dirt road runs " + ori + " " + line_place(c.nrm(), ru) + " of the " + dw + " chaparral");
  else c.say("there is no road in the " + ground + " chaparral with " + bs);
  if (bare) c.say("a bare patch of " + ground + " soil lies " + where(bq) + " of the " + dw + " chaparral");
  else c.say("shrubs cover the whole " + ground + " chaparral " + ly + " with " +
             (road ? "a road running " + orientation_word(c.theta) : "no road"));
}

void gen_golf_course(Ctx& c) {
  c.ground("light green", "green", 4, 0.03f);
  const Vec2 o{0.5f, 0.5f};
  std::vector<Vec2> fair;
  // A straight or a clearly curved fairway.
  const bool curved = c.rng.chance(0.5);
  const float bend = curved ? (c.rng.chance(0.5) ? 1.f : -1.f) * c.rng.uniform(0.5f, 0.75f) : c.rng.uniform(-0.08f, 0.08f);
  const float fw = c.rng.uniform(0.22f, 0.32f) * c.s;
  for (float t = -0.9f; t <= 0.9f; t += 0.05f) fair.push_back(o + unit(c.theta + bend * t) * t);
  Paint fp{c.named("light green", 0.04f)};
  fp.stripe_amp = 0.05f;
  fp.stripe_period = 0.06f;
  fp.stripe_dir = c.dir();
  c.cv.draw(Shape{}.add(Stroke{fair, fw}), fp);
  c.add("fairway", "light green", "", 1, o);
  Vec2 q, pq;
  // The pond is placed first, so its cell is always free.
  const bool pond = c.rng.chance(0.55);
  if (pond) {
    pq = cell_point(c.rng, 0.05f);
    c.occupy(pq, 0.1f * c.s);
  }
  if (pond) {
    c.cv.draw(Shape{}.add(Ellipse{pq, 0.1f * c.s, 0.07f * c.s, c.theta}), Paint{c.named("blue-green")});
    c.add("pond", "blue", "", 1, pq);
  }
  const std::string sand = c.rng.chance(0.5) ? "white" : "yellow";
  const int nb = c.rng.randint(1, 5);
  int bunkers = 0;
  for (int i = 0; i < nb; ++i) {
    const float r = c.rng.uniform(0.03f, 0.05f) * c.s;
    if (!c.place(r * 1.6f, 0.02f, q)) {
      if (bunkers > 0 || i + 1 < nb) continue;
      q = {c.rng.uniform(0.2f, 0.8f), c.rng.uniform(0.2f, 0.8f)};  // the course always has a bunker
    }
    const float a = c.rng.uniform(0, 3.14f);
    Shape sh;
    sh.add(Ellipse{q, r * 1.4f, r * 0.8f, a});
    sh.add(Ellipse{q + unit(a + 1.2f) * (r * 0.6f), r * 0.8f, r * 0.6f, a});
    c.cv.draw(sh, Paint{c.named(sand == "white" ? "sand" : "yellow", 0.03f)});
    c.add("sand bunker", sand, "", 1, q);
    ++bunkers;
  }
  // Trees: many around the fairway, or only a few.
  const int tries = c.rng.chance(0.5) ? 40 : 3;
  int ntree = 0;
  for (int i = 0; i < tries; ++i) {
    const float r = c.rng.uniform(0.02f, 0.035f) * c.s;
    if (!c.place(r, 0.0f, q, [&](Vec2 p) { return poly_dist(p, fair) > fw * 0.5f + r; }, 4)) continue;
    c.tree(q, r, c.named("dark green", 0.1f));
    ++ntree;
  }
  if (ntree) c.add("tree", "dark green", "", ntree, o);
  const std::string ori = direction_words(c.theta), fs = curved ? "curved" : "straight";
  const std::string bw = count_np(bunkers, sand, "sand bunker"), bn = count_np(bunkers, "", "bunker");
  const std::string bc = count_np(bunkers, sand, "bunker");
  const std::string ps = pond ? "a pond " + where(pq) : "no pond";
  const std::string ts = ntree >= 5 ? "many trees" : "few trees";
  const std::string ow = orientation_word(c.theta);
  c.say("the golf course has " + bw + " and " + ps);
  c.say("a golf course with " + bc + " and a fairway running " + ori);
  c.say("the golf course has a " + fs + " fairway running " + ow + " and " + ps);
  c.say("a " + fs + " fairway runs " + ori + " across the golf course with " + bn);
  c.say("this is a golf course with " + bw + " and " + ts);
  c.say(bc + " lie along a " + fs + " fairway in the golf course");
  if (pond) c.say("a pond lies " + where(pq) + " of the golf course with " + bn);
  else c.say("there is no pond in the golf course with " + bc + " and " + ts);
  if (ntree >= 5) c.say("many trees line the " + fs + " fairway of the golf course with " + ps);
  else c.say("the golf course has few trees , " + bn + " and " + ps);
}

}  // namespace rscapret::synth

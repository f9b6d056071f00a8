// Natural scene types: farmland, forest, river, beach, bare land, meadow, chaparral, golf course.
#include <algorithm>
#include <cmath>

#include "synth/scene_ctx.h"

namespace rscapret::synth {

namespace {

// Distance from q to the line through p with direction d (unit).
float line_dist(Vec2 q, Vec2 p, Vec2 d) {
  const Vec2 r = q - p;
  return std::abs(r.x * d.y - r.y * d.x);
}

}  // namespace

void gen_farmland(Ctx& c) {
  c.ground("soil", "brown", 6);
  const Vec2 d = c.dir(), n = c.nrm(), o = {0.5f, 0.5f};
  const float fw = c.rng.uniform(0.2f, 0.34f) * c.s, fh = c.rng.uniform(0.12f, 0.26f) * c.s;
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
  int fields = 0;
  for (int i = -5; i <= 5; ++i) {
    for (int j = -6; j <= 6; ++j) {
      const Vec2 ctr = o + d * ((i + off) * fw) + n * ((j + off) * fh);
      if (std::abs(ctr.x - 0.5f) > 0.5f + fw || std::abs(ctr.y - 0.5f) > 0.5f + fw) continue;
      const int k = c.rng.randint(0, static_cast<int>(palette.size()) - 1);
      Paint p{c.named(palette[k] == "brown" ? "soil" : palette[k], 0.08f)};
      p.tex = 0.08f;
      p.stripe_amp = palette[k] == "brown" ? 0.05f : 0.1f;
      p.stripe_period = c.rng.uniform(0.012f, 0.02f);
      p.stripe_dir = c.rng.chance(0.5) ? d : n;
      c.cv.draw(Shape{}.add(rect(ctr, fw - gap, fh - gap, c.theta)), p);
      if (ctr.x > 0 && ctr.x < 1 && ctr.y > 0 && ctr.y < 1) { ++used[k]; ++fields; }
    }
  }
  std::vector<std::string> cols;
  for (size_t k = 0; k < palette.size(); ++k) {
    if (!used[k]) continue;
    cols.push_back(palette[k]);
    c.add("field", palette[k], "", used[k], o);
  }
  const bool road = c.rng.chance(0.4);
  if (road) {
    c.road(o + n * ((0 + off - 0.5f) * fh), c.theta, 0.035f * c.s, false, "grey");
    c.add("road", "grey", "", 1, o);
  }
  const std::string cs = join_and(cols);
  c.say("there is a piece of farmland");
  c.say("it is a piece of cropland");
  c.say("many pieces of farmland with " + cs + " crops");
  c.say("the farmland is divided into many neat fields");
  c.say(cs + " fields are arranged neatly in the farmland");
  c.say("some fields of " + cs + " crops are in the cropland");
  c.say("this is a farmland with " + cs + " fields arranged " + orientation_word(c.theta));
  if (road) {
    c.say("a road passes through the farmland");
    c.say("a straight road goes across the " + cs + " farmland");
  }
}

void gen_forest(Ctx& c) {
  c.ground("dark green", "soil", 8);
  const bool road = c.rng.chance(0.35), autumn = c.rng.chance(0.3);
  const Vec2 rp{c.rng.uniform(0.3f, 0.7f), c.rng.uniform(0.3f, 0.7f)};
  const float rw = 0.045f * c.s;
  if (road) {
    c.road(rp, c.theta, rw, false, "tan");
    c.add("road", "tan", "", 1, rp);
  }
  const float sp = c.rng.uniform(0.045f, 0.06f) * c.s;
  int green = 0, yellow = 0;
  for (float y = -0.02f; y < 1.03f; y += sp) {
    for (float x = -0.02f; x < 1.03f; x += sp) {
      const Vec2 q{x + c.rng.uniform(-0.4f, 0.4f) * sp, y + c.rng.uniform(-0.4f, 0.4f) * sp};
      const float r = sp * c.rng.uniform(0.55f, 0.8f);
      if (road && line_dist(q, rp, c.dir()) < rw * 0.5f + r * 0.7f) continue;
      const bool yel = autumn && c.rng.chance(0.18);
      c.tree(q, r, c.named(yel ? "yellow" : (c.rng.chance(0.5) ? "dark green" : "green"), 0.12f));
      ++(yel ? yellow : green);
    }
  }
  c.add("tree", "green", "", green, {0.5f, 0.5f});
  if (yellow) c.add("tree", "yellow", "", yellow, {0.5f, 0.5f});
  c.say("many green trees are in the dense forest");
  c.say("this is a dense forest with dark green trees");
  c.say("the forest is full of trees");
  c.say("lots of trees grow closely in the forest");
  c.say("it is a piece of forest with green trees");
  c.say("there are many trees in the forest");
  if (yellow >= 2) {
    c.say("some yellow trees are mixed in the green forest");
    c.say("the forest has green trees and some yellow trees");
  }
  if (road) {
    c.say("a road passes through the forest");
    c.say("a path goes through the dense forest " + orientation_word(c.theta));
  }
}

void gen_river(Ctx& c) {
  const bool dry = c.rng.chance(0.3);
  c.ground(dry ? "light green" : "green", dry ? "tan" : "dark green", 5);
  const std::vector<std::string> waters = {"blue", "dark blue", "blue-green", "brown"};
  const std::string water = c.rng.pick(waters);
  const bool winding = c.rng.chance(0.6), bridge = c.rng.chance(0.35), trees = c.rng.chance(0.7);
  const float amp = winding ? c.rng.uniform(0.06f, 0.12f) : 0.f, freq = c.rng.uniform(4.f, 8.f);
  const float ph = c.rng.uniform(0, 6.28f), w = c.rng.uniform(0.09f, 0.17f) * c.s;
  const Vec2 o{0.5f + c.rng.uniform(-0.1f, 0.1f), 0.5f + c.rng.uniform(-0.1f, 0.1f)};
  const Vec2 d = c.dir(), n = c.nrm();
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
  auto river_dist = [&](Vec2 q) {
    float best = 1e9f;
    for (const Vec2& p : pts) best = std::min(best, dot(q - p, q - p));
    return std::sqrt(best);
  };
  int ntree = 0;
  if (trees) {
    for (int i = 0; i < 60; ++i) {
      const Vec2 q{c.rng.uniform(0, 1), c.rng.uniform(0, 1)};
      const float r = c.rng.uniform(0.018f, 0.03f) * c.s, dist = river_dist(q);
      if (dist < w * 0.5f + 0.02f * c.s + r || dist > w * 0.5f + 0.12f) continue;
      c.tree(q, r, c.named(c.rng.chance(0.5) ? "dark green" : "green", 0.1f));
      ++ntree;
    }
    if (ntree) c.add("tree", "green", "", ntree, o);
  }
  if (bridge) {
    const Vec2 p = o + n * (amp * std::sin(ph));
    c.cv.draw_shadowed(Shape{}.add(rect(p, 0.035f * c.s, w + 0.09f * c.s, c.theta)), Paint{c.named("light grey")},
                       c.shadow(0.01f));
    c.add("bridge", "grey", "", 1, p);
  }
  const std::string shape = winding ? "winding" : "straight";
  c.say("a " + shape + " river passes through the " + (dry ? "grass" : "green land"));
  c.say("a " + water + " river with " + (dry ? "sandy" : "green") + " banks flows through the area");
  c.say("a river goes across the image " + orientation_word(c.theta));
  c.say("there is a " + shape + " " + water + " river");
  c.say("the " + water + " water of the river runs " + orientation_word(c.theta));
  if (ntree >= 5) c.say("many green trees grow on both sides of the river");
  if (ntree >= 2) c.say("some trees are along the banks of the " + shape + " river");
  if (bridge) {
    c.say("a bridge crosses the " + water + " river");
    c.say("there is a bridge over the river");
  }
}

void gen_beach(Ctx& c) {
  const Vec2 n = c.nrm(), d = c.dir();  // n points towards the sea
  const Vec2 o{0.5f + c.rng.uniform(-0.12f, 0.12f), 0.5f + c.rng.uniform(-0.12f, 0.12f)};
  const std::string sand = c.rng.chance(0.5) ? "white" : "yellow";
  const std::string sea = c.rng.chance(0.5) ? "blue" : "blue-green";
  const float sand_w = c.rng.uniform(0.18f, 0.32f) * c.s, wamp = c.rng.uniform(0.005f, 0.025f);
  const float wfreq = c.rng.uniform(15, 35), wph = c.rng.uniform(0, 6.28f);
  const bool trees = c.rng.chance(0.6);
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
  int ntree = 0;
  if (trees) {
    for (int i = 0; i < 80; ++i) {
      const Vec2 q{c.rng.uniform(0, 1), c.rng.uniform(0, 1)};
      if (shore(q) > -sand_w - 0.04f) continue;
      c.tree(q, c.rng.uniform(0.02f, 0.035f) * c.s, c.named("dark green", 0.1f));
      ++ntree;
    }
    if (ntree) c.add("tree", "green", "", ntree, o - n * 0.3f);
  }
  const std::string side = side_word(n);
  c.say("this is a beach with " + sea + " sea and " + sand + " sand");
  c.say("the sea is on the " + side + " side of the beach");
  c.say("white waves wash the " + sand + " sand beach");
  c.say("the " + sand + " beach is next to the " + sea + " sea");
  c.say("a " + sand + " beach lies along the sea");
  c.say("the sand beach mixed with the " + sea + " waters");
  if (ntree >= 2) c.say("a " + sand + " beach lies between the sea and some green trees");
}

void gen_bare_land(Ctx& c) {
  const std::string col = c.rng.chance(0.5) ? "brown" : "yellow";
  if (col == "brown") c.ground("soil", "tan", c.rng.uniform(4, 10), 0.06f);
  else c.ground("tan", "yellow", c.rng.uniform(4, 10), 0.06f);
  const int tracks = c.rng.chance(0.3) ? 0 : c.rng.randint(2, 5);
  for (int i = 0; i < tracks; ++i) {
    const Vec2 o{c.rng.uniform(0.1f, 0.9f), c.rng.uniform(0.1f, 0.9f)};
    const float a = c.theta + c.rng.uniform(-0.6f, 0.6f), bend = c.rng.uniform(-0.3f, 0.3f);
    std::vector<Vec2> pts;
    for (float t = -0.8f; t <= 0.8f; t += 0.05f) pts.push_back(o + unit(a + bend * t) * t);
    Paint p{c.named("soil", 0.05f)};
    p.alpha = 0.55f;
    c.cv.draw(Shape{}.add(Stroke{pts, 0.008f * c.s}), p);
  }
  c.add("soil", col, "", 1, {0.5f, 0.5f});
  if (tracks) c.add("track", "", "", tracks, {0.5f, 0.5f});
  c.say("this is a piece of " + col + " bare land");
  c.say("it is a piece of bare land");
  c.say("there is nothing but " + col + " soil on the bare land");
  c.say("a piece of bare land with no trees");
  c.say("the bare land is covered by " + col + " soil");
  if (tracks) {
    c.say("some tracks are on the " + col + " bare land");
    c.say("there are some tracks on the bare land");
  } else {
    c.say("the bare land is empty and " + col);
  }
}

void gen_meadow(Ctx& c) {
  const std::string col = c.rng.chance(0.6) ? "green" : "light green";
  c.ground(col, col == "green" ? "light green" : "yellow", c.rng.uniform(3, 7), 0.03f);
  c.add("grass", col, "", 1, {0.5f, 0.5f});
  const int ntree = c.rng.randint(0, 3);
  int placed = 0;
  for (int i = 0; i < ntree; ++i) {
    Vec2 q;
    const float r = c.rng.uniform(0.025f, 0.04f) * c.s;
    if (!c.place(r + 0.03f, 0.02f, q)) continue;
    c.tree(q, r, c.named("dark green", 0.1f));
    c.add("tree", "dark green", "", 1, q);
    ++placed;
  }
  c.say("this is a piece of " + col + " meadow");
  c.say("it is a large piece of grassland");
  c.say("the meadow is covered by " + col + " grass");
  c.say("a piece of " + col + " grassland");
  c.say("there is a large meadow with " + col + " grass");
  if (placed == 0) {
    c.say("there are no trees in the meadow");
  } else {
    c.say("there " + is_are(placed) + " " + count_np(placed, "", "tree") + " in the meadow");
    c.say(count_np(placed, "dark green", "tree") + " " + is_are(placed) + " in the " + col + " grassland");
  }
}

void gen_chaparral(Ctx& c) {
  const std::string soil = c.rng.chance(0.5) ? "tan" : "light grey";
  c.ground(soil, "tan", 5, 0.05f);
  const float dens = c.rng.uniform(0.3f, 0.6f);
  int n = 0;
  for (int i = 0; i < static_cast<int>(400 * dens); ++i) {
    const Vec2 q{c.rng.uniform(0, 1), c.rng.uniform(0, 1)};
    Paint p{c.named("grey-green", 0.12f)};
    p.tex = 0.2f;
    p.tex_freq = 120;
    const float r = c.rng.uniform(0.008f, 0.022f) * c.s;
    Shape sh = circle(q, r);
    sh.add(Ellipse{q + unit(c.rng.uniform(0, 6.28f)) * r * 0.7f, r * 0.8f, r * 0.6f, c.rng.uniform(0, 3)});
    c.cv.draw_shadowed(sh, p, c.shadow(r * 0.5f), 0.35f);
    ++n;
  }
  c.add("shrub", "grey-green", "", n, {0.5f, 0.5f});
  const std::string ground = soil == "tan" ? "yellow" : "grey";
  c.say("this is a chaparral");
  c.say("there are many grey-green shrubs scattered in the chaparral");
  c.say("the chaparral has " + ground + " soil and some small plants");
  c.say("many plants are scattered on the " + ground + " ground of the chaparral");
  c.say("it is a chaparral with sparse shrubs");
  c.say("some grey plants are scattered on the ground of the chaparral");
}

void gen_golf_course(Ctx& c) {
  c.ground("light green", "green", 4, 0.03f);
  const Vec2 o{0.5f, 0.5f};
  std::vector<Vec2> fair;
  const float bend = c.rng.uniform(-0.5f, 0.5f), fw = c.rng.uniform(0.22f, 0.32f) * c.s;
  for (float t = -0.9f; t <= 0.9f; t += 0.05f) fair.push_back(o + unit(c.theta + bend * t) * t);
  Paint fp{c.named("light green", 0.04f)};
  fp.stripe_amp = 0.05f;
  fp.stripe_period = 0.06f;
  fp.stripe_dir = c.dir();
  c.cv.draw(Shape{}.add(Stroke{fair, fw}), fp);
  c.add("fairway", "light green", "", 1, o);
  Vec2 q;
  const bool pond = c.rng.chance(0.4) && c.place(0.1f * c.s, 0.02f, q);
  if (pond) {
    c.cv.draw(Shape{}.add(Ellipse{q, 0.1f * c.s, 0.07f * c.s, c.theta}), Paint{c.named("blue-green")});
    c.add("pond", "blue", "", 1, q);
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
  int ntree = 0;
  for (int i = 0; i < 40; ++i) {
    const float r = c.rng.uniform(0.02f, 0.035f) * c.s;
    if (!c.place(r, 0.0f, q, [&](Vec2 p) {
          float best = 1e9f;
          for (const Vec2& f : fair) best = std::min(best, dot(p - f, p - f));
          return std::sqrt(best) > fw * 0.5f + r;
        }, 4))
      continue;
    c.tree(q, r, c.named("dark green", 0.1f));
    ++ntree;
  }
  if (ntree) c.add("tree", "dark green", "", ntree, o);
  const std::string nb_np = count_np(bunkers, sand, "sand bunker");
  if (ntree >= 2) c.say("this is a part of a golf course with green turf and some trees");
  else c.say("this is a part of a golf course with green turf");
  c.say("there " + is_are(bunkers) + " " + count_np(bunkers, "", "bunker") + " in the golf course");
  c.say(nb_np + " " + is_are(bunkers) + " on the green golf course");
  c.say("the golf course has green turf and " + count_np(bunkers, sand, "bunker"));
  if (ntree >= 2) c.say("there are turfs and " + count_np(bunkers, "", "bunker") + " and trees in the golf course");
  if (pond) c.say("a pond is in the golf course");
  if (ntree >= 5) c.say("many trees are around the green fairway of the golf course");
}

}  // namespace rscapret::synth

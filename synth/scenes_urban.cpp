// Built-up scene types: dense and sparse residential, intersection, freeway, parking lot,
// mobile home park.
#include <algorithm>
#include <cmath>

#include "synth/scene_ctx.h"

namespace rscapret::synth {

namespace {

float line_dist(Vec2 q, Vec2 p, Vec2 d) {
  const Vec2 r = q - p;
  return std::abs(r.x * d.y - r.y * d.x);
}

// Two or three roof colours for one neighbourhood.
std::vector<std::string> roof_palette(Ctx& c, int n) {
  const std::vector<std::string> all = {"red", "grey", "white", "brown", "blue", "orange"};
  std::vector<std::string> out;
  while (static_cast<int>(out.size()) < n) {
    const std::string& k = c.rng.pick(all);
    if (std::find(out.begin(), out.end(), k) == out.end()) out.push_back(k);
  }
  return out;
}

Rgb roof_rgb(Ctx& c, const std::string& name) {
  return c.named(name == "grey" ? "grey" : name == "white" ? "light grey" : name, 0.06f);
}

void count_by_color(Ctx& c, const std::string& kind, const std::vector<std::string>& names,
                    const std::vector<int>& counts) {
  for (size_t i = 0; i < names.size(); ++i)
    if (counts[i]) c.add(kind, names[i], "", counts[i], {0.5f, 0.5f});
}

std::vector<std::string> used_names(const std::vector<std::string>& names, const std::vector<int>& counts) {
  std::vector<std::string> out;
  for (size_t i = 0; i < names.size(); ++i)
    if (counts[i]) out.push_back(names[i]);
  return out;
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
  int ntree = 0;
  for (int i = -4; i <= 4; ++i) {
    for (int j = -5; j <= 5; ++j) {
      const Vec2 bc = o + d * ((i + off) * bw) + n * ((j + off) * bh);
      if (std::abs(bc.x - 0.5f) > 0.5f + bw || std::abs(bc.y - 0.5f) > 0.5f + bw) continue;
      c.cv.draw(Shape{}.add(rect(bc, bw - road, bh - road, c.theta)), Paint{c.named("concrete", 0.05f)});
      const int cols = c.rng.randint(3, 4);
      const float hw = (bw - road) / cols, hh = (bh - road) / 2;
      for (int a = 0; a < cols; ++a) {
        for (int b = 0; b < 2; ++b) {
          const Vec2 hc = bc + d * ((a + 0.5f) * hw - (bw - road) / 2) + n * ((b + 0.5f) * hh - (bh - road) / 2);
          if (c.rng.chance(0.1)) {
            c.tree(hc, hh * 0.35f, c.named("green", 0.1f));
            if (hc.x > 0 && hc.x < 1 && hc.y > 0 && hc.y < 1) ++ntree;
            continue;
          }
          const int k = c.rng.randint(0, static_cast<int>(roofs.size()) - 1);
          c.building(hc, hw * 0.82f, hh * 0.8f, c.theta, roof_rgb(c, roofs[k]), 0.012f * c.s);
          if (hc.x > 0 && hc.x < 1 && hc.y > 0 && hc.y < 1) ++counts[k];
        }
      }
    }
  }
  count_by_color(c, "building", roofs, counts);
  c.add("road", "dark grey", "", 2, o);
  if (ntree) c.add("tree", "green", "", ntree, o);
  const std::string cs = join_and(used_names(roofs, counts));
  c.say("many buildings are arranged densely in the dense residential area");
  c.say("lots of buildings with " + cs + " roofs are in the dense residential area");
  c.say("the dense residential area is divided by roads into blocks");
  c.say("buildings with " + cs + " roofs are crowded in the dense residential area");
  c.say("some roads go through the dense residential area");
  c.say("this is a dense residential area with many buildings");
  if (ntree >= 2) c.say("a few trees are among the buildings in the dense residential area");
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
  const int want = c.rng.randint(1, 6);
  int houses = 0, pools = 0;
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
  c.say(hs + " " + is_are(houses) + " in the sparse residential area");
  c.say("there " + is_are(houses) + " " + hs + " with " + cs + " roofs beside a road in the sparse residential area");
  c.say("a road goes through the sparse residential area");
  c.say("this is a sparse residential area with " + hs + " and a road");
  c.say("the sparse residential area has " + hs + " with " + cs + " roofs");
  if (ntree >= 5) c.say("many green trees are around the houses in the sparse residential area");
  else if (ntree >= 2) c.say("some trees are around the houses in the sparse residential area");
  if (pools) c.say("there " + is_are(pools) + " " + count_np(pools, "", "swimming pool") + " in the sparse residential area");
}

void gen_intersection(Ctx& c) {
  const bool urban = c.rng.chance(0.5);
  if (urban) c.ground("concrete", "light grey", 6);
  else c.ground("green", "light green", 5);
  const Vec2 o{0.5f + c.rng.uniform(-0.1f, 0.1f), 0.5f + c.rng.uniform(-0.1f, 0.1f)};
  const float a1 = c.theta, a2 = c.theta + kPi / 2 + c.rng.uniform(-0.25f, 0.25f);
  const float w = c.rng.uniform(0.1f, 0.14f) * c.s;
  c.road(o, a1, w, true);
  c.road(o, a2, w, true);
  Paint asph{c.named("asphalt", 0.03f)};
  c.cv.draw(circle(o, w * 0.55f), asph);  // clears the dashes inside the crossing
  c.add("road", "dark grey", "", 2, o);
  // Buildings or trees in the corners.
  int ntree = 0, nbuild = 0;
  for (int q = 0; q < 4; ++q) {
    const Vec2 dir = unit(a1 + kPi / 4 + q * kPi / 2);
    const Vec2 cc = o + dir * c.rng.uniform(0.2f, 0.3f);
    if (urban && c.rng.chance(0.7)) {
      c.building(cc, 0.14f * c.s, 0.1f * c.s, a1, c.named(c.rng.chance(0.5) ? "light grey" : "brown"), 0.015f * c.s);
      if (cc.x > 0 && cc.x < 1 && cc.y > 0 && cc.y < 1) ++nbuild;
    } else if (!urban) {
      for (int k = 0; k < 3; ++k) {
        const Vec2 tp = cc + Vec2{c.rng.uniform(-0.06f, 0.06f), c.rng.uniform(-0.06f, 0.06f)};
        c.tree(tp, c.rng.uniform(0.02f, 0.03f) * c.s, c.named("dark green", 0.1f));
        if (tp.x > 0 && tp.x < 1 && tp.y > 0 && tp.y < 1) ++ntree;
      }
    }
  }
  if (nbuild) c.add("building", "", "", nbuild, o);
  if (ntree) c.add("tree", "green", "", ntree, o);
  const int want = c.rng.randint(0, 6);
  int cars = 0;
  const std::vector<std::string> cc = {"white", "black", "red", "blue", "grey"};
  for (int i = 0; i < want; ++i) {
    const bool first = c.rng.chance(0.5);
    const float a = first ? a1 : a2, t = c.rng.uniform(0.12f, 0.45f) * (c.rng.chance(0.5) ? 1 : -1);
    const float lane = w * 0.25f * (c.rng.chance(0.5) ? 1 : -1);
    const Vec2 p = o + unit(a) * t + unit(a + kPi / 2) * lane;
    if (p.x < 0.03f || p.x > 0.97f || p.y < 0.03f || p.y > 0.97f || !c.is_free(p, 0.025f * c.s)) continue;
    c.occupy(p, 0.025f * c.s);
    const std::string& col = c.rng.pick(cc);
    c.car(p, a, col);
    c.add("car", col, "", 1, p);
    ++cars;
  }
  c.say("two roads cross each other at the intersection");
  c.say("this is an intersection with white lane markings");
  c.say("it is a crossroads of two roads");
  c.say("two roads intersect at the crossroads");
  if (cars == 0) c.say("there are no cars at the intersection");
  else c.say("there " + is_are(cars) + " " + count_np(cars, "", "car") + " on the roads of the intersection");
  if (ntree >= 2) c.say("the intersection is surrounded by green trees");
  if (nbuild >= 2) c.say("some buildings are at the corners of the intersection");
  if (urban && nbuild == 0) c.say("the intersection is surrounded by grey ground");
}

void gen_freeway(Ctx& c) {
  const bool green = c.rng.chance(0.6);
  if (green) c.ground("green", "light green", 5);
  else c.ground("tan", "sand", 5);
  const Vec2 o{0.5f + c.rng.uniform(-0.1f, 0.1f), 0.5f + c.rng.uniform(-0.1f, 0.1f)};
  const Vec2 n = c.nrm(), d = c.dir();
  const float cw = c.rng.uniform(0.1f, 0.13f) * c.s, med = c.rng.uniform(0.03f, 0.06f) * c.s;
  const Vec2 r1 = o + n * ((cw + med) * 0.5f), r2 = o - n * ((cw + med) * 0.5f);
  c.road(r1, c.theta, cw, true);
  c.road(r2, c.theta, cw, true);
  c.add("road", "dark grey", "", 2, o);
  const int want = c.rng.randint(2, 10);
  const std::vector<std::string> cc = {"white", "black", "red", "blue", "grey"};
  int cars = 0;
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
  int ntree = 0;
  for (int i = 0; i < 30; ++i) {
    const Vec2 q{c.rng.uniform(0, 1), c.rng.uniform(0, 1)};
    if (line_dist(q, o, d) < cw + med * 0.5f + 0.05f) continue;
    c.tree(q, c.rng.uniform(0.02f, 0.03f) * c.s, c.named("dark green", 0.1f));
    ++ntree;
  }
  if (ntree) c.add("tree", "green", "", ntree, o);
  const std::string ground = green ? "green grass" : "sandy ground";
  c.say("a freeway with a median runs " + orientation_word(c.theta) + " through the " + ground);
  c.say("two parallel roads form a freeway");
  c.say("the freeway passes through the " + ground);
  c.say("there are two straight roads of the freeway");
  if (cars > 0 && cars < 5) c.say("there " + is_are(cars) + " " + count_np(cars, "", "car") + " on the freeway");
  if (cars >= 5) c.say("many cars are running on the freeway");
  c.say("there " + is_are(cars) + " " + count_np(cars, "", "car") + " on the two roads of the freeway");
  if (ntree >= 2) c.say("some trees are on both sides of the freeway");
}

void gen_parking_lot(Ctx& c) {
  c.ground("asphalt", "dark grey", 8);
  const Vec2 d = c.dir(), n = c.nrm(), o{0.5f, 0.5f};
  const float L = 0.07f * c.s, W = 0.036f * c.s, aisle = 0.07f * c.s;
  const float occ = c.rng.uniform(0.35f, 0.97f);
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
        const bool inside = p.x > 0.02f && p.x < 0.98f && p.y > 0.02f && p.y < 0.98f;
        if (inside) ++stalls;
        if (!c.rng.chance(occ)) continue;
        const int ci = c.rng.randint(0, static_cast<int>(cc.size()) - 1);
        c.car(p, c.theta + kPi / 2 + (side > 0 ? kPi : 0), cc[ci]);
        if (inside) ++counts[ci];
      }
    }
  }
  count_by_color(c, "car", cc, counts);
  int cars = 0;
  for (int k : counts) cars += k;
  const bool full = cars > 0.8f * stalls;
  c.say("many cars are parked neatly in the parking lot");
  c.say(std::string("it is a parking lot with many cars parked neatly and ") +
        (full ? "few parking spots are free" : "some parking spots are free"));
  c.say("lots of cars of different colours are parked in the parking lot");
  c.say(full ? "the parking lot is almost full" : "the parking lot is partly empty");
  c.say("white lines divide the parking lot into many spaces");
  c.say("cars are parked in lines in the parking lot");
}

void gen_mobile_home_park(Ctx& c) {
  c.ground(c.rng.chance(0.5) ? "light green" : "concrete", "grey", 6);
  const Vec2 d = c.dir(), n = c.nrm(), o{0.5f, 0.5f};
  const float hl = c.rng.uniform(0.09f, 0.12f) * c.s, hw = 0.032f * c.s, road = 0.04f * c.s;
  const float pitch = 2 * hl + road + 0.02f;
  const auto roofs = std::vector<std::string>{"white", "light grey"};
  std::vector<int> counts(2, 0);
  const float off = c.rng.uniform(0, 1);
  for (int r = -5; r <= 5; ++r) {
    const Vec2 rc = o + n * ((r + off) * pitch);
    c.road(rc, c.theta, road, false, "dark grey");
    for (int side = -1; side <= 1; side += 2) {
      for (int k = -12; k <= 12; ++k) {
        const Vec2 p = rc + n * (side * (road * 0.5f + hl * 0.5f + 0.006f)) + d * (k * (hw + 0.014f * c.s));
        if (p.x < -0.05f || p.x > 1.05f || p.y < -0.05f || p.y > 1.05f || c.rng.chance(0.1)) continue;
        const int ci = c.rng.chance(0.6) ? 0 : 1;
        Paint pp{c.named(roofs[ci], 0.05f)};
        c.cv.draw_shadowed(Shape{}.add(rect(p, hl, hw, c.theta + kPi / 2)), pp, c.shadow(0.006f));
        if (p.x > 0 && p.x < 1 && p.y > 0 && p.y < 1) ++counts[ci];
      }
    }
  }
  c.add("mobile home", "white", "", counts[0], o);
  c.add("mobile home", "grey", "", counts[1], o);
  c.add("road", "dark grey", "", 2, o);
  c.say("many mobile homes are arranged in lines in the mobile home park");
  c.say("some roads go through the mobile home park");
  c.say("white and grey mobile homes are lined up in the mobile home park");
  c.say("this is a mobile home park with many mobile homes");
  c.say("lots of mobile homes are parked neatly along the roads");
  c.say("the mobile home park has rows of mobile homes " + orientation_word(c.theta + kPi / 2));
}

}  // namespace rscapret::synth

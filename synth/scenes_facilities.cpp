// Facility scene types with countable objects: airport, storage tanks, harbor, tennis courts,
// baseball fields.
#include <algorithm>
#include <cmath>
#include <map>

#include "synth/scene_ctx.h"

namespace rscapret::synth {

namespace {

float line_dist(Vec2 q, Vec2 p, Vec2 d) {
  const Vec2 r = q - p;
  return std::abs(r.x * d.y - r.y * d.x);
}

// "two large white airplanes and a small grey airplane": groups objects of one kind by (size, colour).
// Each group's count is exact, so the phrase is true whatever the mix.
std::string describe(const std::vector<Object>& objs, const std::string& kind, bool with_size, bool with_color) {
  std::vector<std::pair<std::string, int>> groups;
  for (const auto& o : objs) {
    if (o.kind != kind) continue;
    std::string adj = (with_size ? o.size : std::string());
    if (with_color) adj += (adj.empty() ? "" : " ") + o.color;
    auto it = std::find_if(groups.begin(), groups.end(), [&](const auto& g) { return g.first == adj; });
    if (it == groups.end()) groups.push_back({adj, o.count});
    else it->second += o.count;
  }
  std::vector<std::string> parts;
  for (const auto& [adj, n] : groups) parts.push_back(count_np(n, adj, kind));
  return join_and(parts);
}

}  // namespace

void gen_airport(Ctx& c) {
  c.ground("grey", "concrete", 6, 0.03f);
  const bool runway = c.rng.chance(0.5);
  const Vec2 d = c.dir(), n = c.nrm();
  Vec2 rp{0.5f, 0.5f};
  float rw = 0;
  if (runway) {
    rp = Vec2{0.5f, 0.5f} + n * c.rng.uniform(-0.35f, 0.35f);
    rw = 0.12f * c.s;
    c.road(rp, c.theta, rw, true, "dark grey");
    c.add("runway", "dark grey", "", 1, rp);
  }
  const int want = c.rng.randint(1, 4);
  const std::string color = c.rng.chance(0.75) ? "white" : "grey";
  int planes = 0;
  for (int i = 0; i < want; ++i) {
    const bool large = c.rng.chance(0.5);
    const float span = (large ? c.rng.uniform(0.3f, 0.36f) : c.rng.uniform(0.17f, 0.21f)) * c.s;
    Vec2 p;
    if (!c.place(span * 0.5f, 0.01f, p, [&](Vec2 q) { return !runway || line_dist(q, rp, d) > rw * 0.5f + span * 0.5f; }))
      continue;
    const float a = c.theta + (c.rng.chance(0.5) ? 0 : kPi) + c.rng.uniform(-0.3f, 0.3f) + (c.rng.chance(0.3) ? kPi / 2 : 0);
    const Vec2 f = unit(a), s = unit(a + kPi / 2);
    Shape plane;
    plane.add(rect(p, span * 0.95f, span * 0.11f, a));
    plane.add(Ellipse{p + f * (span * 0.45f), span * 0.08f, span * 0.055f, a});
    plane.add(ConvexPoly{{p + f * (span * 0.12f) + s * (span * 0.05f), p + f * (-span * 0.12f) + s * (span * 0.5f),
                          p + f * (-span * 0.2f) + s * (span * 0.5f), p + f * (-span * 0.05f) + s * (span * 0.05f)}});
    plane.add(ConvexPoly{{p + f * (span * 0.12f) - s * (span * 0.05f), p + f * (-span * 0.12f) - s * (span * 0.5f),
                          p + f * (-span * 0.2f) - s * (span * 0.5f), p + f * (-span * 0.05f) - s * (span * 0.05f)}});
    plane.add(ConvexPoly{{p - f * (span * 0.36f) + s * (span * 0.02f), p - f * (span * 0.46f) + s * (span * 0.17f),
                          p - f * (span * 0.49f) + s * (span * 0.17f), p - f * (span * 0.46f) - s * (span * 0.17f),
                          p - f * (span * 0.43f) - s * (span * 0.17f), p - f * (span * 0.36f) - s * (span * 0.02f)}});
    Paint pp{c.named(color == "white" ? "white" : "light grey", 0.03f)};
    pp.dome = 0.08f;
    pp.dome_c = p;
    pp.dome_r = span * 0.5f;
    pp.sun = c.sun;
    c.cv.draw_shadowed(plane, pp, c.shadow(0.02f * c.s), 0.4f);
    c.objs.push_back(Object{"airplane", color, large ? "large" : "small", 1, p.x, p.y});
    ++planes;
  }
  if (planes == 0) {  // never happens with an empty apron, but keep captions true
    const Vec2 p{0.5f, 0.5f};
    c.cv.draw_shadowed(Shape{}.add(rect(p, 0.2f, 0.025f, c.theta)).add(rect(p, 0.03f, 0.2f, c.theta)),
                       Paint{c.named("white")}, c.shadow(0.02f));
    c.objs.push_back(Object{"airplane", "white", "small", 1, p.x, p.y});
    planes = 1;
  }
  const std::string all = describe(c.objs, "airplane", true, true);
  c.say(all + " " + is_are(planes) + " parked at the airport");
  c.say("there " + is_are(planes) + " " + describe(c.objs, "airplane", false, true) + " at the airport");
  c.say("there " + is_are(planes) + " " + count_np(planes, "", "airplane") + " in the airport");
  c.say(describe(c.objs, "airplane", true, false) + " " + is_are(planes) + " stopped at the airport");
  c.say("the airport has " + count_np(planes, "", "airplane") + " on the " + (runway ? "apron beside a runway" : "grey apron"));
  if (planes == 1) {
    const Object& o = c.objs.back();
    c.say("a " + o.color + " airplane is parked " + where({o.x, o.y}) + " of the airport");
  }
  if (runway) c.say("a runway with white markings is next to " + count_np(planes, "", "airplane"));
}

void gen_storage_tanks(Ctx& c) {
  c.ground(c.rng.chance(0.5) ? "concrete" : "tan", "light grey", 6);
  const bool road = c.rng.chance(0.7);
  const Vec2 d = c.dir();
  const Vec2 rp = Vec2{0.5f, 0.5f} + c.nrm() * c.rng.uniform(-0.3f, 0.3f);
  const float rw = 0.05f * c.s;
  if (road) {
    c.road(rp, c.theta, rw, false, "dark grey");
    c.add("road", "dark grey", "", 1, rp);
  }
  const bool large = c.rng.chance(0.5);
  const int want = large ? c.rng.randint(1, 4) : c.rng.randint(2, 8);
  const bool two_colors = c.rng.chance(0.3);
  int tanks = 0;
  std::vector<Vec2> at;
  for (int i = 0; i < want; ++i) {
    const float r = (large ? c.rng.uniform(0.08f, 0.11f) : c.rng.uniform(0.04f, 0.055f)) * c.s;
    Vec2 p;
    // Next to the road: within a band beside it, so "next to a road" is true of every tank.
    if (!c.place(r + 0.01f, 0.01f, p, [&](Vec2 q) {
          const float ld = line_dist(q, rp, d);
          return !road || (ld > rw * 0.5f + r + 0.01f && ld < rw * 0.5f + r + 0.2f);
        }, 120))
      continue;
    const std::string col = (two_colors && c.rng.chance(0.5)) ? "grey" : "white";
    Paint body{c.named(col == "white" ? "white" : "grey", 0.03f)};
    body.dome = 0.12f;
    body.dome_c = p;
    body.dome_r = r;
    body.sun = c.sun;
    c.cv.draw_shadowed(circle(p, r), body, c.shadow(r * 0.6f), 0.5f);
    Paint rim{scale(body.color, 0.85f)};
    rim.alpha = 0.7f;
    c.cv.draw(circle(p, r * 0.82f), rim);
    Paint top{body.color};
    c.cv.draw(circle(p, r * 0.7f), top);
    c.objs.push_back(Object{"storage tank", col, large ? "large" : "small", 1, p.x, p.y});
    at.push_back(p);
    ++tanks;
  }
  if (tanks == 0) {
    const Vec2 p = road ? rp + c.nrm() * (rw * 0.5f + 0.08f) : Vec2{0.5f, 0.5f};
    c.cv.draw_shadowed(circle(p, 0.06f), Paint{c.named("white")}, c.shadow(0.03f));
    c.objs.push_back(Object{"storage tank", "white", large ? "large" : "small", 1, p.x, p.y});
    at.push_back(p);
    tanks = 1;
  }
  Vec2 mean{0, 0};
  for (Vec2 p : at) mean = mean + p * (1.f / at.size());
  const std::string colored = describe(c.objs, "storage tank", false, true);
  const std::string sized = describe(c.objs, "storage tank", true, false);
  if (road) {
    c.say(colored + " " + is_are(tanks) + " next to a road");
    c.say("there " + is_are(tanks) + " " + sized + " beside a road");
  }
  c.say("there " + is_are(tanks) + " " + colored + " on the ground");
  c.say(sized + " " + is_are(tanks) + " " + where(mean));
  c.say(count_np(tanks, "round", "storage tank") + " " + is_are(tanks) + " on the ground");
  c.say("this is an area with " + count_np(tanks, "", "storage tank"));
  c.say("there " + is_are(tanks) + " " + count_np(tanks, "", "storage tank") + " " + where(mean));
}

void gen_harbor(Ctx& c) {
  const Vec2 n = c.nrm(), d = c.dir();  // n points to the water
  const Vec2 o = Vec2{0.5f, 0.5f} - n * c.rng.uniform(0.1f, 0.25f);
  c.ground("concrete", "light grey", 6);
  const std::string water = c.rng.chance(0.5) ? "dark blue" : "blue-green";
  Paint wp{c.named(water, 0.05f)};
  wp.tex = 0.05f;
  wp.tex_freq = 10;
  c.region([=](Vec2 q) { return -dot(q - o, n); }, wp);
  c.add("water", water, "", 1, o + n * 0.3f);
  const int piers = c.rng.randint(1, 3);
  const float pl = c.rng.uniform(0.45f, 0.7f), pw = 0.03f * c.s;
  std::vector<Vec2> roots;
  for (int i = 0; i < piers; ++i) {
    const float t = (piers == 1) ? c.rng.uniform(-0.1f, 0.1f) : -0.3f + 0.6f * i / (piers - 1);
    const Vec2 r = o + d * t;
    c.cv.draw_shadowed(Shape{}.add(rect(r + n * (pl * 0.5f), pw, pl, c.theta)), Paint{c.named("light grey")},
                       c.shadow(0.006f));
    roots.push_back(r);
  }
  c.add("pier", "grey", "", piers, o);
  const int want = c.rng.randint(2, 12);
  const bool all_white = c.rng.chance(0.6);
  int boats = 0;
  for (int i = 0; i < want; ++i) {
    const Vec2 r = roots[c.rng.randint(0, piers - 1)];
    const float bl = c.rng.uniform(0.06f, 0.09f) * c.s, bw = bl * 0.33f;
    const float side = c.rng.chance(0.5) ? 1.f : -1.f;
    const Vec2 p = r + n * c.rng.uniform(0.05f, pl - 0.04f) + d * (side * (pw * 0.5f + bl * 0.5f + 0.004f));
    if (p.x < 0.04f || p.x > 0.96f || p.y < 0.04f || p.y > 0.96f || !c.is_free(p, bw * 0.8f)) continue;
    c.occupy(p, bw * 0.8f);
    const float a = c.theta + (side > 0 ? 0 : kPi);
    const Vec2 f = unit(a), s = unit(a + kPi / 2);
    Shape hull;
    hull.add(ConvexPoly{{p - f * (bl * 0.5f) - s * (bw * 0.5f), p + f * (bl * 0.2f) - s * (bw * 0.5f),
                         p + f * (bl * 0.5f), p + f * (bl * 0.2f) + s * (bw * 0.5f), p - f * (bl * 0.5f) + s * (bw * 0.5f)}});
    const std::string col = all_white ? "white" : (c.rng.chance(0.6) ? "white" : "blue");
    c.cv.draw_shadowed(hull, Paint{c.named(col == "white" ? "white" : "blue", 0.03f)}, c.shadow(0.004f), 0.4f);
    c.objs.push_back(Object{"boat", col, "", 1, p.x, p.y});
    ++boats;
  }
  if (boats == 0) {
    const Vec2 p = roots[0] + n * 0.12f + d * (pw * 0.5f + 0.04f);
    c.cv.draw(Shape{}.add(rect(p, 0.07f, 0.024f, c.theta)), Paint{c.named("white")});
    c.objs.push_back(Object{"boat", "white", "", 1, p.x, p.y});
    boats = 1;
  }
  const std::string bs = boats >= 7 ? std::string("many boats") : count_np(boats, "", "boat");
  const std::string cb = boats >= 7 ? "lots of boats" : describe(c.objs, "boat", false, true);
  c.say(bs + " " + is_are(boats) + " docked at the harbor");
  c.say(cb + " " + is_are(boats) + " moored along the " + plural("pier", piers) + " in the harbor");
  c.say(count_np(piers, "", "pier") + " " + (piers == 1 ? "extends" : "extend") + " into the " + water + " water of the harbor");
  c.say("there " + is_are(boats) + " " + bs + " in the harbor and the water is " + water);
  c.say("the harbor has " + count_np(piers, "", "pier") + " and " + bs);
  c.say("the " + water + " water of the harbor is on the " + side_word(n) + " side");
}

void gen_tennis_court(Ctx& c) {
  const bool park = c.rng.chance(0.6);
  if (park) c.ground("green", "light green", 5);
  else c.ground("concrete", "light grey", 6);
  const std::vector<std::string> cols = {"green", "blue", "red"};
  const std::string col = c.rng.pick(cols);
  const int k = c.rng.randint(1, 4);
  const Vec2 d = c.dir(), n = c.nrm();
  const float L = c.rng.uniform(0.3f, 0.38f) * c.s, W = L * 0.5f;
  const Vec2 o{0.5f + c.rng.uniform(-0.06f, 0.06f), 0.5f + c.rng.uniform(-0.06f, 0.06f)};
  // k courts side by side, across the long axis; shrink to fit the image.
  float pitch = W + 0.01f;
  const float total = k * pitch;
  const float fit = std::min(1.f, 0.85f / std::max(total, L));
  const float l = L * fit, w = W * fit;
  pitch *= fit;
  Paint fence{c.named("dark green", 0.05f)};
  c.cv.draw(Shape{}.add(rect(o, l + 0.03f, k * pitch + 0.03f, c.theta)), fence);
  int placed = 0;
  for (int i = 0; i < k; ++i) {
    const Vec2 p = o + n * ((i - (k - 1) * 0.5f) * pitch);
    Paint base{c.named(col, 0.04f)};
    c.cv.draw(Shape{}.add(rect(p, l, w, c.theta)), base);
    Paint inner{scale(base.color, col == "red" ? 1.15f : 0.8f)};
    c.cv.draw(Shape{}.add(rect(p, l * 0.72f, w * 0.62f, c.theta)), inner);
    Paint line{c.named("white", 0.02f)};
    line.alpha = 0.9f;
    const float lw = std::max(0.004f, 0.006f * c.s);
    const float hl = l * 0.36f, hw = w * 0.31f;
    Shape lines;
    for (float sgn : {-1.f, 1.f}) {
      lines.add(rect(p + d * (sgn * hl), lw, 2 * hw, c.theta));
      lines.add(rect(p + n * (sgn * hw), 2 * hl, lw, c.theta));
      lines.add(rect(p + d * (sgn * hl * 0.55f), lw, 2 * hw, c.theta));
    }
    lines.add(rect(p, hl * 1.1f, lw, c.theta));
    c.cv.draw(lines, line);
    c.cv.draw(Shape{}.add(rect(p, lw * 1.2f, 2 * hw + 0.01f, c.theta)), Paint{rgb8(30, 30, 30)});
    c.objs.push_back(Object{"tennis court", col, "", 1, p.x, p.y});
    ++placed;
  }
  c.occupy(o, std::max(l, k * pitch) * 0.6f);
  int ntree = 0;
  if (park) {
    for (int i = 0; i < 40; ++i) {
      const float r = c.rng.uniform(0.02f, 0.035f) * c.s;
      Vec2 q;
      if (!c.place(r, 0, q, nullptr, 3)) continue;
      c.tree(q, r, c.named("dark green", 0.1f));
      ++ntree;
    }
    if (ntree) c.add("tree", "dark green", "", ntree, o);
  }
  const std::string np = count_np(placed, col, "tennis court");
  if (ntree >= 2) c.say(np + " " + is_are(placed) + " surrounded by green trees");
  else c.say(np + " " + is_are(placed) + " on the grey ground");
  c.say("there " + is_are(placed) + " " + count_np(placed, "", "tennis court") + " here");
  c.say(np + " with white lines " + is_are(placed) + " " + where(o));
  c.say("this is an area with " + np);
  if (placed > 1) c.say(np + " are arranged side by side");
  else c.say("a " + col + " tennis court is surrounded by a dark green fence");
  c.say("there " + is_are(placed) + " " + count_np(placed, "", "tennis court") + " with " + col + " ground and white lines");
}

void gen_baseball_field(Ctx& c) {
  c.ground("green", "light green", 5);
  const int k = c.rng.chance(0.7) ? 1 : 2;
  int placed = 0;
  for (int i = 0; i < k; ++i) {
    const float R = (k == 1 ? c.rng.uniform(0.42f, 0.55f) : c.rng.uniform(0.3f, 0.36f)) * c.s;
    const float a = c.theta * 2 + i * kPi;  // direction from home plate to the outfield
    const Vec2 f = unit(a);
    // One field: home plate below the centre. Two: back to back, outfields pointing apart.
    const Vec2 h = Vec2{0.5f, 0.5f} + f * (k == 1 ? -R * 0.45f : 0.02f);
    // Infield dirt: a 90-degree fan from home plate.
    ConvexPoly fan{{h}};
    for (int j = 0; j <= 12; ++j) fan.pts.push_back(h + unit(a - kPi / 4 + kPi / 2 * j / 12) * (R * 0.62f));
    Paint dirt{c.named("brown", 0.05f)};
    dirt.tex = 0.08f;
    c.cv.draw(Shape{}.add(fan), dirt);
    const float bs = R * 0.3f;  // base path
    c.cv.draw(Shape{}.add(rect(h + f * (bs * 0.7071f), bs * 0.78f, bs * 0.78f, a + kPi / 4)),
              Paint{c.named("green", 0.04f)});
    Paint white{c.named("white", 0.02f)};
    const float lw = std::max(0.004f, 0.005f * c.s);
    c.cv.draw(Shape{}.add(Stroke{{h, h + unit(a - kPi / 4) * R}, lw}).add(Stroke{{h, h + unit(a + kPi / 4) * R}, lw}), white);
    for (int b = 0; b < 4; ++b) {
      const Vec2 bp = h + (b == 0 ? Vec2{0, 0} : b == 1 ? unit(a - kPi / 4) * bs
                                 : b == 2 ? f * (bs * 1.414f) : unit(a + kPi / 4) * bs);
      c.cv.draw(Shape{}.add(rect(bp, 0.012f * c.s, 0.012f * c.s, a + kPi / 4)), white);
    }
    c.cv.draw(circle(h + f * (bs * 0.7071f), 0.012f * c.s), Paint{c.named("brown")});
    c.objs.push_back(Object{"baseball field", "brown", "", 1, h.x, h.y});
    ++placed;
  }
  int ntree = 0;
  for (int i = 0; i < 30; ++i) {
    const Vec2 q{c.rng.uniform(0, 1), c.rng.uniform(0, 1)};
    if (std::min({q.x, q.y, 1 - q.x, 1 - q.y}) > 0.08f) continue;  // only along the edges
    c.tree(q, c.rng.uniform(0.02f, 0.035f) * c.s, c.named("dark green", 0.1f));
    ++ntree;
  }
  if (ntree) c.add("tree", "dark green", "", ntree, {0.5f, 0.5f});
  const std::string np = count_np(placed, "", "baseball field");
  c.say(np + " with brown " + plural("infield", placed) + " " + is_are(placed) + " on the green grass");
  c.say("there " + is_are(placed) + " " + count_np(placed, "", "baseball diamond") + " here");
  c.say("this is " + np + " with white lines");
  c.say(np + " " + is_are(placed) + " surrounded by green grass");
  if (ntree >= 2) c.say(np + " " + is_are(placed) + " surrounded by some trees");
  c.say("it is " + count_np(placed, "", "baseball diamond") + " with green grass and brown sand");
}

}  // namespace rscapret::synth

// Facility scene types with countable objects: airport, storage tanks, harbor, tennis courts,
// baseball fields. Captions name what tells one image of a type from another at 64 px: the colour
// of large things, where they are, which way the layout runs, and whether a road or building is
// there; counts only for a few large objects.
#include <algorithm>
#include <cmath>
#include <map>

#include "synth/scene_ctx.h"

namespace rscapret::synth {

namespace {

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

// Axis-aligned box of some points.
struct Box {
  Vec2 lo{1e9f, 1e9f}, hi{-1e9f, -1e9f};
  void add(Vec2 p) {
    lo = {std::min(lo.x, p.x), std::min(lo.y, p.y)};
    hi = {std::max(hi.x, p.x), std::max(hi.y, p.y)};
  }
};

// A straight road along one image edge that the main layout (box b) leaves free, so it is a large,
// easy-to-see extra that never crosses the facility. Returns the edge ("left", "top", ...) or ""
// when no edge has room; rp, ra: a point of the road and its angle.
std::string edge_road(Ctx& c, const Box& b, Vec2& rp, float& ra, float width) {
  const float need = 0.07f + width * 0.5f + 0.03f;
  std::vector<std::string> free;
  if (b.lo.x > need) free.push_back("left");
  if (1 - b.hi.x > need) free.push_back("right");
  if (b.lo.y > need) free.push_back("top");
  if (1 - b.hi.y > need) free.push_back("bottom");
  if (free.empty()) return "";
  const std::string e = c.rng.pick(free);
  rp = e == "left" ? Vec2{0.07f, 0.5f} : e == "right" ? Vec2{0.93f, 0.5f} : e == "top" ? Vec2{0.5f, 0.07f} : Vec2{0.5f, 0.93f};
  ra = (e == "left" || e == "right") ? kPi / 2 : 0;
  c.road(rp, ra, width, false, "dark grey");
  c.add("road", "dark grey", "", 1, rp);
  return e;
}

}  // namespace

void gen_airport(Ctx& c) {
  c.ground("grey", "concrete", 6, 0.03f);
  const bool runway = c.rng.chance(0.6);
  const Vec2 d = c.dir(), n = c.nrm();
  Vec2 rp{0.5f, 0.5f};
  float rw = 0;
  if (runway) {
    rp = Vec2{0.5f, 0.5f} + n * c.rng.uniform(-0.35f, 0.35f);
    rw = 0.12f * c.s;
    c.road(rp, c.theta, rw, true, "dark grey");
    c.add("runway", "dark grey", "", 1, rp);
  }
  // A terminal building in half the images: a large block whose roof colour and place vary.
  const auto off_runway = [&](Vec2 q, float r) { return !runway || line_dist(q, rp, d) > rw * 0.5f + r + 0.02f; };
  bool terminal = c.rng.chance(0.5);
  std::string tcol;
  Vec2 tp;
  if (terminal) {
    tcol = c.rng.pick(std::vector<std::string>{"white", "dark grey", "brown", "blue"});
    const float tw = 0.34f * c.s, th = 0.11f * c.s;
    terminal = c.place(tw * 0.5f, 0.0f, tp, [&](Vec2 q) { return off_runway(q, tw * 0.5f); }, 120);
    if (terminal) {
      c.building(tp, tw, th, c.theta, c.named(tcol, 0.04f), 0.02f);
      c.add("building", tcol, "large", 1, tp);
    }
  }
  const int want = c.rng.randint(1, 4);
  const std::string color = c.rng.chance(0.75) ? "white" : "grey";
  int planes = 0;
  float big_span = 0;
  Vec2 big{0.5f, 0.5f};
  for (int i = 0; i < want; ++i) {
    const bool large = c.rng.chance(0.5);
    const float span = (large ? c.rng.uniform(0.3f, 0.36f) : c.rng.uniform(0.17f, 0.21f)) * c.s;
    Vec2 p;
    if (!c.place(span * 0.5f, 0.01f, p, [&](Vec2 q) { return off_runway(q, span * 0.5f - 0.02f); })) continue;
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
    if (span > big_span) big_span = span, big = p;
    ++planes;
  }
  if (planes == 0) {  // rare (crowded by runway and terminal); keep captions true
    Vec2 p{0.5f, 0.5f};
    if (!c.place(0.1f, 0.01f, p, [&](Vec2 q) { return off_runway(q, 0.08f); }, 200)) p = Vec2{0.5f, 0.5f};
    c.cv.draw_shadowed(Shape{}.add(rect(p, 0.2f, 0.025f, c.theta)).add(rect(p, 0.03f, 0.2f, c.theta)),
                       Paint{c.named("white")}, c.shadow(0.02f));
    c.objs.push_back(Object{"airplane", "white", "small", 1, p.x, p.y});
    big = p;
    planes = 1;
  }
  const std::string ori = orientation_word(c.theta), oadj = orientation_adj(c.theta);
  const std::string np = count_np(planes, "", "airplane");
  const std::string full = describe(c.objs, "airplane", true, true);
  const std::string term = terminal ? "a " + tcol + " terminal" : "";
  c.say(full + " parked at the airport " + (runway ? "by a " + oadj + " runway" : std::string("with no runway")));
  c.say(describe(c.objs, "airplane", false, true) + " at the airport " +
        (terminal ? "near " + term + " " + where(tp) : std::string("with no buildings")));
  if (runway) c.say("a runway runs " + ori + " " + where(rp) + " of the airport with " + np);
  else c.say("the airport apron has " + np + " and no runway" + (terminal ? " but " + term : " or buildings"));
  c.say("the largest airplane is " + where(big) + " of the airport" +
        (runway ? " with a " + oadj + " runway" : std::string(" with no runway")));
  std::vector<std::string> parts{np};
  if (terminal) parts.push_back(term);
  if (runway) parts.push_back("a " + oadj + " runway");
  c.say("the airport has " + join_and(parts) + (parts.size() == 1 ? " on an empty apron" : ""));
  if (terminal) c.say(term + " stands " + where(tp) + " of the airport with " + np);
  else c.say("an airport with " + describe(c.objs, "airplane", true, false) + " and no buildings");
  if (planes == 1) {
    const Object& o = c.objs.back();
    c.say("a " + o.size + " " + o.color + " airplane is parked " + where({o.x, o.y}) + " of the airport");
  } else {
    c.say(np + " " + is_are(planes) + " parked " + (terminal ? "near " + term : std::string("on the grey apron")) +
          (runway ? " by a " + oadj + " runway" : std::string("")));
  }
}

void gen_storage_tanks(Ctx& c) {
  const bool concrete = c.rng.chance(0.5);
  c.ground(concrete ? "concrete" : "tan", "light grey", 6);
  const std::string gw = concrete ? "grey concrete" : "tan ground";
  const bool road = c.rng.chance(0.7);
  const Vec2 d = c.dir(), n = c.nrm();
  const Vec2 rp = Vec2{0.5f, 0.5f} + n * c.rng.uniform(-0.3f, 0.3f);
  const float rw = 0.05f * c.s;
  if (road) {
    c.road(rp, c.theta, rw, false, "dark grey");
    c.add("road", "dark grey", "", 1, rp);
  }
  const bool large = c.rng.chance(0.5);
  // Small tanks are still ~6 px across at 64 px; at most six so a count stays readable.
  const int want = large ? c.rng.randint(1, 4) : c.rng.randint(2, 6);
  const bool two_colors = c.rng.chance(0.3);
  // The tanks form one group around a random centre (beside the road when there is one), so
  // where the group is differs between images and is easy to see.
  Vec2 cc{c.rng.uniform(0.25f, 0.75f), c.rng.uniform(0.25f, 0.75f)};
  if (road) {
    cc = rp + n * ((c.rng.chance(0.5) ? 1.f : -1.f) * (rw * 0.5f + 0.15f)) + d * c.rng.uniform(-0.2f, 0.2f);
    cc = {std::clamp(cc.x, 0.22f, 0.78f), std::clamp(cc.y, 0.22f, 0.78f)};
  }
  const float cr = large ? 0.32f : 0.24f;
  int tanks = 0;
  std::vector<Vec2> at;
  for (int i = 0; i < want; ++i) {
    const float r = (large ? c.rng.uniform(0.08f, 0.11f) : c.rng.uniform(0.04f, 0.055f)) * c.s;
    Vec2 p;
    // Next to the road: within a band beside it, so "next to a road" is true of every tank.
    if (!c.place(r + 0.01f, 0.01f, p, [&](Vec2 q) {
          const float ld = line_dist(q, rp, d);
          if (dot(q - cc, q - cc) > cr * cr) return false;
          return !road || (ld > rw * 0.5f + r + 0.01f && ld < rw * 0.5f + r + 0.2f);
        }, 200))
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
    const Vec2 p = road ? rp + n * (rw * 0.5f + 0.08f) : Vec2{0.5f, 0.5f};
    c.cv.draw_shadowed(circle(p, 0.06f), Paint{c.named("white")}, c.shadow(0.03f));
    c.objs.push_back(Object{"storage tank", "white", large ? "large" : "small", 1, p.x, p.y});
    at.push_back(p);
    tanks = 1;
  }
  Vec2 mean{0, 0};
  for (Vec2 p : at) mean = mean + p * (1.f / at.size());
  // Which side of the road the tanks stand on ("" when on both sides).
  int above = 0;
  for (Vec2 p : at) above += dot(p - rp, n) > 0;
  const std::string tside = above == tanks ? side_word(n) : above == 0 ? side_word(n * -1.f) : "";
  const std::string ori = orientation_word(c.theta), oadj = orientation_adj(c.theta);
  const std::string colored = describe(c.objs, "storage tank", false, true);
  const std::string sized = describe(c.objs, "storage tank", true, false);
  const std::string full = describe(c.objs, "storage tank", true, true);
  const std::string np = count_np(tanks, "", "storage tank");
  float spread = 0;
  for (Vec2 p : at) spread = std::max(spread, std::sqrt(dot(p - mean, p - mean)));
  const std::string place = spread < 0.25f ? where(mean) : "spread over the site";
  if (road) c.say(colored + " " + is_are(tanks) + " next to a " + oadj + " road");
  else c.say(colored + " " + (tanks == 1 ? "stands" : "stand") + " on " + gw);
  c.say("there " + is_are(tanks) + " " + sized + " " + place + " on " + gw);
  if (road && !tside.empty())
    c.say(sized + " " + is_are(tanks) + " on the " + tside + " side of a road running " + ori);
  else if (road)
    c.say(sized + " " + is_are(tanks) + " on both sides of a road running " + ori);
  else
    c.say("this is an area with " + sized + " and no road");
  c.say(count_np(tanks, "round", "storage tank") + " " + is_are(tanks) + " " + place +
        (road ? " near a road" : std::string(" on open ground")));
  c.say(full + " on " + gw);
  c.say("there " + is_are(tanks) + " " + np + " " + place + (road ? " and a road running " + ori : std::string(" and no road")));
  if (tanks == 1) {
    const Object& o = c.objs.back();
    c.say("a " + o.size + " " + o.color + " storage tank stands " + where({o.x, o.y}) + " on " + gw);
  } else {
    c.say(std::string("the ") + (large ? "large" : "small") + " storage tanks are " + place +
          (road ? " beside a " + oadj + " road" : std::string(" on ") + gw));
  }
}

void gen_harbor(Ctx& c) {
  // n points to the water; flipping it half the time puts the water on any side, not only the left.
  const Vec2 n = c.nrm() * (c.rng.chance(0.5) ? 1.f : -1.f), d = c.dir();
  const Vec2 o = Vec2{0.5f, 0.5f} - n * c.rng.uniform(0.1f, 0.25f);
  c.ground("concrete", "light grey", 6);
  const std::string water = c.rng.chance(0.5) ? "dark blue" : "blue-green";
  Paint wp{c.named(water, 0.05f)};
  wp.tex = 0.05f;
  wp.tex_freq = 10;
  c.region([=](Vec2 q) { return -dot(q - o, n); }, wp);
  c.add("water", water, "", 1, o + n * 0.3f);
  // On the land: a road along the shore and/or a few warehouses, each in about half the images,
  // so the quay side differs between images too.
  const bool road = c.rng.chance(0.5);
  const float rw = 0.045f * c.s;
  const Vec2 rp = o - n * 0.07f;
  if (road) {
    c.road(rp, c.theta, rw, false, "dark grey");
    c.add("road", "dark grey", "", 1, rp);
  }
  int nb = 0;
  std::string bcol;
  Vec2 bmean{0, 0};
  if (c.rng.chance(0.5)) {
    bcol = c.rng.pick(std::vector<std::string>{"red", "white", "dark grey", "blue"});
    const int want = c.rng.randint(1, 3);
    const float bw = 0.16f * c.s, bh = 0.09f * c.s;
    const float keep = (road ? 0.07f + rw * 0.5f : 0.0f) + bw * 0.5f + 0.02f;  // behind the road
    for (int i = 0; i < want; ++i) {
      Vec2 p;
      if (!c.place(bw * 0.5f, 0.0f, p, [&](Vec2 q) { return dot(q - o, n) < -keep; }, 150)) continue;
      c.building(p, bw, bh, c.theta, c.named(bcol, 0.04f), 0.015f);
      bmean = bmean + p;
      ++nb;
    }
    if (nb) {
      bmean = bmean * (1.f / nb);
      c.add("building", bcol, "", nb, bmean);
    }
  }
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
  int boats = 0, blue = 0;
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
    blue += col == "blue";
    ++boats;
  }
  if (boats == 0) {
    const Vec2 p = roots[0] + n * 0.12f + d * (pw * 0.5f + 0.04f);
    c.cv.draw(Shape{}.add(rect(p, 0.07f, 0.024f, c.theta)), Paint{c.named("white")});
    c.objs.push_back(Object{"boat", "white", "", 1, p.x, p.y});
    boats = 1;
  }
  // Boats are small: say "many" or "a few", never an exact count above one.
  const std::string bs = boats >= 5 ? "many boats" : boats >= 2 ? "a few boats" : "a boat";
  const std::string ws = side_word(n), land = side_word(n * -1.f);
  const std::string pori = orientation_word(c.theta + kPi / 2), sori = orientation_word(c.theta);
  const std::string pn = count_np(piers, "", "pier");
  const std::string rd = road ? "a road on the shore" : "no road on the shore";
  // What stands on the land: "a road and red buildings", "bare concrete", ...
  const std::string bld = nb ? count_np(nb, bcol, "building") : "";
  const std::string landdesc = road && nb ? "a road and " + bld : road ? "a road" : nb ? bld : "bare concrete";
  c.say(pn + " " + (piers == 1 ? "extends " : "extend ") + pori + " into the " + water + " harbor on the " + ws);
  c.say("the harbor has " + water + " water on the " + ws + " side and " + pn);
  c.say(bs + " at " + pn + " of the harbor beside " + landdesc);
  if (road) c.say("a road runs " + sori + " along the " + land + " shore of the harbor with " + pn);
  else c.say("the " + water + " harbor has no road on the " + land + " shore and " + pn);
  if (nb) c.say(bld + " " + (nb == 1 ? "stands" : "stand") + " on the harbor shore " + where(bmean));
  else c.say("the harbor has no buildings on the " + land + " shore and " + bs);
  if (blue) c.say("the harbor has " + (blue >= 2 ? std::string("some blue boats") : std::string("a blue boat")) + " and " +
                  water + " water on the " + ws);
  else c.say("the " + water + " harbor has " + pn + " and " + (boats >= 5 ? "many white boats" : boats >= 2 ? "a few white boats" : "a white boat"));
  c.say(bs + " in the " + water + " harbor with " + pn + (road ? " and a road" : " and no road"));
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
  // k courts side by side, across the long axis; shrink to fit the image.
  float pitch = W + 0.01f;
  const float total = k * pitch;
  const float fit = std::min(1.f, 0.85f / std::max(total, L));
  const float l = L * fit, w = W * fit;
  pitch *= fit;
  // The block of courts sits anywhere it fits, so where it is differs between images.
  const float el = l + 0.03f, ew = k * pitch + 0.03f;
  const float hx = 0.5f * (std::abs(d.x) * el + std::abs(n.x) * ew);
  const float hy = 0.5f * (std::abs(d.y) * el + std::abs(n.y) * ew);
  const float mx = std::max(0.f, 0.48f - hx), my = std::max(0.f, 0.48f - hy);
  const Vec2 o{0.5f + c.rng.uniform(-mx, mx), 0.5f + c.rng.uniform(-my, my)};
  Paint fence{c.named("dark green", 0.05f)};
  c.cv.draw(Shape{}.add(rect(o, el, ew, c.theta)), fence);
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
  c.occupy(o, std::max(el, ew) * 0.55f);
  // A road along a free image edge in half the images.
  Box box;
  box.add(o - Vec2{hx, hy});
  box.add(o + Vec2{hx, hy});
  Vec2 rp;
  float ra = 0;
  const float rw = 0.06f * c.s;
  const std::string redge = c.rng.chance(0.5) ? edge_road(c, box, rp, ra, rw) : "";
  int ntree = 0;
  if (park) {
    for (int i = 0; i < 40; ++i) {
      const float r = c.rng.uniform(0.02f, 0.035f) * c.s;
      Vec2 q;
      if (!c.place(r, 0, q, [&](Vec2 t) { return redge.empty() || line_dist(t, rp, unit(ra)) > rw * 0.5f + r; }, 3))
        continue;
      c.tree(q, r, c.named("dark green", 0.1f));
      ++ntree;
    }
    if (ntree) c.add("tree", "dark green", "", ntree, o);
  }
  const std::string np = count_np(placed, col, "tennis court");
  // One court: its long axis. Two: a near square block, so the courts' long sides. Three or four:
  // the row they form, which is what stands out.
  const std::string ori = placed == 1 ? "running " + orientation_word(c.theta)
                          : placed == 2 ? "with long sides running " + orientation_word(c.theta)
                                        : "in a row running " + orientation_word(c.theta + kPi / 2);
  const std::string place = where(o);
  const std::string ground = !park ? "on grey concrete" : ntree >= 2 ? "among green trees" : "on green grass";
  c.say(np + " " + is_are(placed) + " " + place + " " + ground);
  c.say(np + " " + ori + (redge.empty() ? "" : " next to a road on the " + redge));
  c.say("there " + is_are(placed) + " " + np + " with white lines " + place);
  c.say("this is an area with " + np + (redge.empty() ? " and no road" : " and a road along the " + redge + " side"));
  if (placed > 1) c.say(np + " are lined up side by side " + place);
  else c.say("a dark green fence surrounds a " + col + " tennis court " + place);
  c.say(count_np(placed, "", "tennis court") + " with " + col + " ground " + (park ? "in a park" : "on concrete") + " " + ori);
  c.say(count_np(placed, "", "tennis court") + " " + place + (park ? " of a park" : " of a concrete lot") +
        (redge.empty() ? " with no road" : " with a road on the " + redge));
}

void gen_baseball_field(Ctx& c) {
  c.ground("green", "light green", 5);
  const int k = c.rng.chance(0.7) ? 1 : 2;
  // Infield dirt is reddish brown or tan; the two read apart even at 64 px.
  const std::string dirt_col = c.rng.chance(0.6) ? "brown" : "tan";
  struct Field { Vec2 h; float R, a; };
  std::vector<Field> fields;
  Box box;  // of the dirt fans, which must stay inside the image
  for (int i = 0; i < k; ++i) {
    const float R = (k == 1 ? c.rng.uniform(0.42f, 0.55f) : c.rng.uniform(0.3f, 0.36f)) * c.s;
    const float a = c.theta * 2 + i * kPi;  // direction from home plate to the outfield
    const Vec2 f = unit(a);
    // One field: home plate below the centre. Two: back to back, outfields pointing apart.
    const Vec2 h = Vec2{0.5f, 0.5f} + f * (k == 1 ? -R * 0.45f : 0.02f);
    fields.push_back({h, R, a});
    box.add(h);
    for (int j = 0; j <= 12; ++j) box.add(h + unit(a - kPi / 4 + kPi / 2 * j / 12) * (R * 0.62f));
  }
  // Shift the whole layout by a random amount that keeps the dirt inside, so its place varies.
  const float m = 0.04f;
  const auto shift = [&](float lo, float hi) {
    const float a = m - lo, b = 1 - m - hi;
    return a < b ? c.rng.uniform(a, b) : 0.5f * (a + b);
  };
  const Vec2 sh{shift(box.lo.x, box.hi.x), shift(box.lo.y, box.hi.y)};
  box.lo = box.lo + sh;
  box.hi = box.hi + sh;
  Vec2 dirt_c{0, 0};
  for (auto& fd : fields) {
    fd.h = fd.h + sh;
    const Vec2 h = fd.h, f = unit(fd.a);
    const float R = fd.R, a = fd.a;
    // Infield dirt: a 90-degree fan from home plate.
    ConvexPoly fan{{h}};
    for (int j = 0; j <= 12; ++j) fan.pts.push_back(h + unit(a - kPi / 4 + kPi / 2 * j / 12) * (R * 0.62f));
    Paint dirt{c.named(dirt_col, 0.05f)};
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
    c.cv.draw(circle(h + f * (bs * 0.7071f), 0.012f * c.s), Paint{c.named(dirt_col)});
    c.objs.push_back(Object{"baseball field", dirt_col, "", 1, h.x, h.y});
    dirt_c = dirt_c + (h + f * (R * 0.35f)) * (1.f / k);
  }
  // A road along a free edge in half the images; trees along the edges in most.
  Vec2 rp;
  float ra = 0;
  const float rw = 0.06f * c.s;
  const std::string redge = c.rng.chance(0.5) ? edge_road(c, box, rp, ra, rw) : "";
  int ntree = 0;
  if (c.rng.chance(0.7)) {
    for (int i = 0; i < 30; ++i) {
      const Vec2 q{c.rng.uniform(0, 1), c.rng.uniform(0, 1)};
      const float r = c.rng.uniform(0.02f, 0.035f) * c.s;
      if (std::min({q.x, q.y, 1 - q.x, 1 - q.y}) > 0.08f) continue;  // only along the edges
      if (!redge.empty() && line_dist(q, rp, unit(ra)) < rw * 0.5f + r) continue;
      c.tree(q, r, c.named("dark green", 0.1f));
      ++ntree;
    }
  }
  if (ntree) c.add("tree", "dark green", "", ntree, {0.5f, 0.5f});
  const Vec2 f0 = unit(fields[0].a);
  const std::string faces = k == 1 ? "the " + side_word(f0) : "the " + side_word(f0) + " and the " + side_word(f0 * -1.f);
  const std::string np = count_np(k, "", "baseball field"), dn = count_np(k, "", "baseball diamond");
  const std::string infield = k == 1 ? "a " + dirt_col + " infield" : dirt_col + " infields";
  const std::string place = where(dirt_c);
  const std::string trees = ntree >= 2 ? "trees around" : ntree == 1 ? "one tree" : "no trees";
  const std::string rd = redge.empty() ? "no road" : "a road on the " + redge;
  if (k == 1) c.say("a baseball field with " + infield + " faces " + faces + " with " + trees);
  else c.say("two baseball fields back to back face " + faces + " with " + trees);
  if (k == 1) c.say("the baseball field with " + infield + " has its home plate " + where(fields[0].h));
  else c.say("two baseball diamonds with " + infield + " meet " + where(fields[0].h) + " with " + rd);
  if (k == 1) c.say("a baseball field " + place + " whose outfield faces " + faces);
  else c.say("two baseball fields " + place + " facing " + faces);
  if (!redge.empty())
    c.say("a road runs along the " + redge + " side of the " + plural("baseball field", k) + " with " + trees);
  else c.say(np + " facing " + faces + " " + (k == 1 ? "has " : "have ") + trees + " and no road");
  c.say(np + " with " + infield + " " + place + (redge.empty() ? " on open grass" : " beside a road"));
  c.say(dn + " facing " + faces + " " + (redge.empty() ? std::string("with no road") : "by a road on the " + redge));
  c.say("the " + dirt_col + " " + (k == 1 ? "infield of the baseball diamond is " : "infields of the baseball diamonds are ") + place +
        " with " + trees);
}

}  // namespace rscapret::synth

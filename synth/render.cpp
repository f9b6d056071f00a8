#include "synth/render.h"

#include <algorithm>
#include <cmath>

#include "synth/rng.h"

namespace rscapret::synth {

Vec2 unit(float a) { return {std::cos(a), std::sin(a)}; }
Rgb rgb8(int r, int g, int b) { return {r / 255.f, g / 255.f, b / 255.f}; }
Rgb mix(Rgb a, Rgb b, float t) { return {a.r + (b.r - a.r) * t, a.g + (b.g - a.g) * t, a.b + (b.b - a.b) * t}; }
Rgb scale(Rgb c, float s) { return {c.r * s, c.g * s, c.b * s}; }

namespace {

float lattice(uint64_t key, int x, int y) {
  const uint64_t h = hash3(key, static_cast<uint32_t>(x), static_cast<uint32_t>(y));
  return static_cast<float>(h >> 40) * (1.0f / 16777216.0f);
}
float smooth(float t) { return t * t * (3 - 2 * t); }
float clamp01(float v) { return v < 0 ? 0 : (v > 1 ? 1 : v); }

// Signed distances in normalised units (negative inside).
float sd_poly(const ConvexPoly& p, Vec2 q) {
  const size_t n = p.pts.size();
  float area = 0;
  for (size_t i = 0; i < n; ++i) {
    const Vec2 a = p.pts[i], b = p.pts[(i + 1) % n];
    area += a.x * b.y - b.x * a.y;
  }
  const float sgn = area >= 0 ? 1.f : -1.f;
  float d = -1e9f;
  for (size_t i = 0; i < n; ++i) {
    const Vec2 a = p.pts[i], b = p.pts[(i + 1) % n];
    Vec2 e = b - a;
    const float len = std::sqrt(dot(e, e)) + 1e-12f;
    // Outward normal of a counter-clockwise (in math orientation) polygon is (e.y, -e.x).
    const Vec2 nrm{sgn * e.y / len, -sgn * e.x / len};
    d = std::max(d, dot(nrm, q - a));
  }
  return d;
}
float sd_ellipse(const Ellipse& e, Vec2 q) {
  const Vec2 d = q - e.c;
  const float c = std::cos(e.angle), s = std::sin(e.angle);
  const float u = (d.x * c + d.y * s) / e.rx, v = (-d.x * s + d.y * c) / e.ry;
  return (std::sqrt(u * u + v * v) - 1) * std::min(e.rx, e.ry);
}
float sd_stroke(const Stroke& s, Vec2 q) {
  float best = 1e9f;
  for (size_t i = 0; i + 1 < s.pts.size(); ++i) {
    const Vec2 a = s.pts[i], ab = s.pts[i + 1] - a;
    const float t = clamp01(dot(q - a, ab) / (dot(ab, ab) + 1e-12f));
    const Vec2 d = q - (a + ab * t);
    best = std::min(best, dot(d, d));
  }
  return std::sqrt(best) - s.width * 0.5f;
}

struct Box {
  float x0 = 1e9f, y0 = 1e9f, x1 = -1e9f, y1 = -1e9f;
  void add(Vec2 p, float pad) {
    x0 = std::min(x0, p.x - pad); y0 = std::min(y0, p.y - pad);
    x1 = std::max(x1, p.x + pad); y1 = std::max(y1, p.y + pad);
  }
};

Box bounds(const Shape& s) {
  Box b;
  for (const auto& p : s.polys) for (Vec2 v : p.pts) b.add(v, 0);
  for (const auto& e : s.ellipses) b.add(e.c, std::max(e.rx, e.ry));
  for (const auto& st : s.strokes) for (Vec2 v : st.pts) b.add(v, st.width * 0.5f);
  return b;
}

}  // namespace

float Noise::value(float x, float y) const {
  const float fx = std::floor(x), fy = std::floor(y);
  const int ix = static_cast<int>(fx), iy = static_cast<int>(fy);
  const float tx = smooth(x - fx), ty = smooth(y - fy);
  const float a = lattice(key, ix, iy), b = lattice(key, ix + 1, iy);
  const float c = lattice(key, ix, iy + 1), d = lattice(key, ix + 1, iy + 1);
  return (a + (b - a) * tx) + ((c + (d - c) * tx) - (a + (b - a) * tx)) * ty;
}

float Noise::fbm(float x, float y, int octaves) const {
  float sum = 0, amp = 0.5f, norm = 0;
  for (int o = 0; o < octaves; ++o) {
    sum += amp * Noise{key + 977u * o}.value(x, y);
    norm += amp;
    x *= 2.03f; y *= 2.03f; amp *= 0.5f;
  }
  return sum / norm;
}

Shape Shape::translated(Vec2 d) const {
  Shape s = *this;
  for (auto& p : s.polys) for (Vec2& v : p.pts) v = v + d;
  for (auto& e : s.ellipses) e.c = e.c + d;
  for (auto& st : s.strokes) for (Vec2& v : st.pts) v = v + d;
  return s;
}

ConvexPoly rect(Vec2 c, float w, float h, float angle) {
  const Vec2 u = unit(angle) * (w * 0.5f), v = Vec2{-unit(angle).y, unit(angle).x} * (h * 0.5f);
  return {{c - u - v, c + u - v, c + u + v, c - u + v}};
}

Shape circle(Vec2 c, float r) { return Shape{}.add(Ellipse{c, r, r, 0}); }

Canvas::Canvas(int size, uint64_t noise_key) : n_(size), noise_{noise_key}, px_(size_t(size) * size * 3, 0.f) {}

Rgb Canvas::at(int x, int y) const {
  const float* p = &px_[(size_t(y) * n_ + x) * 3];
  return {p[0], p[1], p[2]};
}

void Canvas::fill_noise(Rgb a, Rgb b, float freq, int octaves, float grain) {
  const float inv = 1.f / n_;
  for (int y = 0; y < n_; ++y) {
    for (int x = 0; x < n_; ++x) {
      const float u = (x + 0.5f) * inv, v = (y + 0.5f) * inv;
      const float t = noise_.fbm(u * freq, v * freq, octaves);
      const float g = 1 + grain * (2 * lattice(noise_.key ^ 0x5151, x, y) - 1);
      Rgb c = scale(mix(a, b, clamp01((t - 0.5f) * 1.8f + 0.5f)), g);
      float* p = &px_[(size_t(y) * n_ + x) * 3];
      p[0] = c.r; p[1] = c.g; p[2] = c.b;
    }
  }
}

void Canvas::shade(int x0, int y0, int x1, int y1, const std::function<float(Vec2)>& sd, const Paint& p) {
  const float inv = 1.f / n_;
  const Noise tex{noise_.key ^ 0xA5A5A5ull};
  for (int y = y0; y <= y1; ++y) {
    for (int x = x0; x <= x1; ++x) {
      const Vec2 q{(x + 0.5f) * inv, (y + 0.5f) * inv};
      const float cov = clamp01(0.5f - sd(q) * n_) * p.alpha;
      if (cov <= 0) continue;
      float k = 1;
      if (p.tex > 0) k += p.tex * (2 * tex.fbm(q.x * p.tex_freq, q.y * p.tex_freq, 2) - 1);
      if (p.stripe_amp > 0)
        k += p.stripe_amp * std::sin(6.2831853f * dot(q, p.stripe_dir) / p.stripe_period);
      if (p.dome > 0) k += p.dome * std::max(-1.f, std::min(1.f, dot(q - p.dome_c, p.sun) / p.dome_r));
      const Rgb c = scale(p.color, k);
      float* px = &px_[(size_t(y) * n_ + x) * 3];
      px[0] += (c.r - px[0]) * cov;
      px[1] += (c.g - px[1]) * cov;
      px[2] += (c.b - px[2]) * cov;
    }
  }
}

void Canvas::draw(const Shape& s, const Paint& p) {
  const Box b = bounds(s);
  const int x0 = std::max(0, static_cast<int>(std::floor(b.x0 * n_)) - 1);
  const int y0 = std::max(0, static_cast<int>(std::floor(b.y0 * n_)) - 1);
  const int x1 = std::min(n_ - 1, static_cast<int>(std::ceil(b.x1 * n_)) + 1);
  const int y1 = std::min(n_ - 1, static_cast<int>(std::ceil(b.y1 * n_)) + 1);
  if (x0 > x1 || y0 > y1) return;
  shade(x0, y0, x1, y1, [&s](Vec2 q) {
    float sd = 1e9f;
    for (const auto& poly : s.polys) sd = std::min(sd, sd_poly(poly, q));
    for (const auto& e : s.ellipses) sd = std::min(sd, sd_ellipse(e, q));
    for (const auto& st : s.strokes) sd = std::min(sd, sd_stroke(st, q));
    return sd;
  }, p);
}

void Canvas::draw_sdf(const std::function<float(Vec2)>& sd, const Paint& p) {
  shade(0, 0, n_ - 1, n_ - 1, sd, p);
}

void Canvas::draw_shadowed(const Shape& s, const Paint& p, Vec2 off, float shadow_alpha) {
  Paint sh;
  sh.color = {0.05f, 0.06f, 0.08f};
  sh.alpha = shadow_alpha;
  draw(s.translated(off), sh);
  draw(s, p);
}

std::vector<uint8_t> Canvas::finish(float gain, float contrast, Rgb cast, float grain, uint64_t key) const {
  std::vector<uint8_t> out(px_.size());
  const float cm[3] = {cast.r, cast.g, cast.b};
  for (int y = 0; y < n_; ++y) {
    for (int x = 0; x < n_; ++x) {
      const float g = grain * (2 * lattice(key, x, y) - 1);
      for (int ch = 0; ch < 3; ++ch) {
        const size_t i = (size_t(y) * n_ + x) * 3 + ch;
        float v = ((px_[i] - 0.45f) * contrast + 0.45f) * gain * cm[ch] + g;
        out[i] = static_cast<uint8_t>(std::lround(clamp01(v) * 255.f));
      }
    }
  }
  return out;
}

}  // namespace rscapret::synth

// A small anti-aliased rasterizer for the synthetic aerial world. Coordinates are normalised to the
// image: (0,0) top-left, (1,1) bottom-right, so a scene looks the same at 64 or 256 px. Shapes are
// unions of convex polygons, ellipses and thick polylines; coverage comes from a signed distance
// (in pixels) so edges are smooth at every size.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

namespace rscapret::synth {

struct Vec2 {
  float x = 0, y = 0;
};
inline Vec2 operator+(Vec2 a, Vec2 b) { return {a.x + b.x, a.y + b.y}; }
inline Vec2 operator-(Vec2 a, Vec2 b) { return {a.x - b.x, a.y - b.y}; }
inline Vec2 operator*(Vec2 a, float s) { return {a.x * s, a.y * s}; }
inline float dot(Vec2 a, Vec2 b) { return a.x * b.x + a.y * b.y; }
Vec2 unit(float angle);  // (cos, sin)

struct Rgb {
  float r = 0, g = 0, b = 0;  // 0..1
};
Rgb rgb8(int r, int g, int b);
Rgb mix(Rgb a, Rgb b, float t);
Rgb scale(Rgb c, float s);

// Value noise with smooth interpolation; fbm sums octaves. Output in [0, 1].
struct Noise {
  uint64_t key = 0;
  float value(float x, float y) const;
  float fbm(float x, float y, int octaves) const;
};

struct ConvexPoly {
  std::vector<Vec2> pts;
};
struct Ellipse {
  Vec2 c;
  float rx = 0, ry = 0, angle = 0;
};
struct Stroke {  // polyline with round joins
  std::vector<Vec2> pts;
  float width = 0;
};

struct Shape {
  std::vector<ConvexPoly> polys;
  std::vector<Ellipse> ellipses;
  std::vector<Stroke> strokes;
  Shape& add(ConvexPoly p) { polys.push_back(std::move(p)); return *this; }
  Shape& add(Ellipse e) { ellipses.push_back(e); return *this; }
  Shape& add(Stroke s) { strokes.push_back(std::move(s)); return *this; }
  Shape translated(Vec2 d) const;
};

// Rectangle of size (w along `angle`, h across) centred at c.
ConvexPoly rect(Vec2 c, float w, float h, float angle);
Shape circle(Vec2 c, float r);

struct Paint {
  Paint() = default;
  Paint(Rgb c) : color(c) {}  // NOLINT: implicit, so Paint{rgb} reads like a colour
  Rgb color;
  float alpha = 1;
  float tex = 0;           // relative brightness noise amplitude
  float tex_freq = 24;     // noise cells per image width
  float stripe_amp = 0;    // crop rows, lane texture
  float stripe_period = 0.02f;
  Vec2 stripe_dir{1, 0};   // stripes vary along this direction
  float dome = 0;          // tree crowns and tanks: lit on the sun side
  Vec2 dome_c;
  float dome_r = 1;
  Vec2 sun{-0.7f, -0.7f};  // direction towards the sun in image coordinates
};

class Canvas {
 public:
  Canvas(int size, uint64_t noise_key);
  int size() const { return n_; }
  // Fills every pixel: colour a..b by fbm noise at `freq` cells per image, plus fine grain.
  void fill_noise(Rgb a, Rgb b, float freq, int octaves, float grain);
  void draw(const Shape& s, const Paint& p);
  // Any region given by a signed distance (normalised units, negative inside), over the whole image.
  void draw_sdf(const std::function<float(Vec2)>& sd, const Paint& p);
  // Shadow (dark, translucent) offset away from the sun, then the shape itself.
  void draw_shadowed(const Shape& s, const Paint& p, Vec2 shadow_offset, float shadow_alpha = 0.45f);
  // Brightness/contrast/colour cast, then grain, then 8-bit RGB (row-major, 3 bytes per pixel).
  std::vector<uint8_t> finish(float gain, float contrast, Rgb cast, float grain, uint64_t grain_key) const;
  Rgb at(int x, int y) const;

 private:
  void shade(int x0, int y0, int x1, int y1, const std::function<float(Vec2)>& sd, const Paint& p);
  int n_;
  Noise noise_;
  std::vector<float> px_;  // n*n*3
};

}  // namespace rscapret::synth

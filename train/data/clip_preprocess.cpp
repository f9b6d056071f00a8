#include "train/data/clip_preprocess.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "tensor/error.h"

namespace rscapret::data {

namespace {

// Pillow's fixed point for 8-bit images: 32 bits - 8 (pixel) - 2 (headroom for negative lobes).
constexpr int kPrecisionBits = 32 - 8 - 2;

// Keys' cubic convolution kernel with a = -0.5 (Pillow's bicubic_filter), support 2.
double bicubic_kernel(double x) {
  constexpr double a = -0.5;
  if (x < 0.0) x = -x;
  if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1.0;
  if (x < 2.0) return (((x - 5.0) * x + 8.0) * x - 4.0) * a;
  return 0.0;
}

// Per output pixel: the first input index, the number of taps, and `ksize` fixed-point weights.
struct Taps {
  int ksize = 0;
  std::vector<int> first, count;
  std::vector<int32_t> weights;  // (out_size, ksize)
};

// Pillow's precompute_coeffs + normalize_coeffs_8bpc for the box [0, in_size), in the same
// double-precision operations, so that every weight rounds to the same integer.
Taps compute_taps(int in_size, int out_size) {
  const double scale = double(in_size) / out_size;
  const double filterscale = std::max(scale, 1.0);  // downscaling widens the kernel: antialiasing
  const double support = 2.0 * filterscale;
  Taps t;
  t.ksize = int(std::ceil(support)) * 2 + 1;
  t.first.resize(out_size);
  t.count.resize(out_size);
  t.weights.assign(size_t(out_size) * t.ksize, 0);
  std::vector<double> k(t.ksize);
  const double ss = 1.0 / filterscale;
  for (int xx = 0; xx < out_size; ++xx) {
    const double center = (xx + 0.5) * scale;
    int xmin = int(center - support + 0.5);  // C truncation, as Pillow
    if (xmin < 0) xmin = 0;
    int xmax = int(center + support + 0.5);
    if (xmax > in_size) xmax = in_size;
    xmax -= xmin;
    double ww = 0.0;
    for (int x = 0; x < xmax; ++x) {
      k[x] = bicubic_kernel((double(x + xmin) - center + 0.5) * ss);
      ww += k[x];
    }
    for (int x = 0; x < xmax; ++x) {
      if (ww != 0.0) k[x] /= ww;
      const double v = k[x] * double(1 << kPrecisionBits);
      t.weights[size_t(xx) * t.ksize + x] = v < 0 ? int32_t(-0.5 + v) : int32_t(0.5 + v);
    }
    t.first[xx] = xmin;
    t.count[xx] = xmax;
  }
  return t;
}

inline uint8_t clip8(int32_t v) { return uint8_t(std::clamp(v >> kPrecisionBits, 0, 255)); }

}  // namespace

Image resize_bicubic(const Image& in, int out_w, int out_h) {
  RS_CHECK(out_w > 0 && out_h > 0, ValueError, "resize_bicubic", "bad output size ", out_w, "x", out_h);
  RS_CHECK(!in.empty(), ValueError, "resize_bicubic", "empty image");
  if (out_w == in.width && out_h == in.height) return in;  // PIL returns a copy, no resampling
  const Taps th = compute_taps(in.width, out_w);
  const Taps tv = compute_taps(in.height, out_h);
  constexpr int32_t kHalf = 1 << (kPrecisionBits - 1);

  // Horizontal pass over the rows the vertical pass reads: [y_first, y_last).
  const int y_first = tv.first[0];
  const int y_last = tv.first[out_h - 1] + tv.count[out_h - 1];
  const bool need_h = out_w != in.width;
  const bool need_v = out_h != in.height;
  Image tmp;
  const Image* src = &in;
  int src_y0 = 0;
  if (need_h) {
    tmp = Image(out_w, y_last - y_first);
    for (int y = y_first; y < y_last; ++y) {
      const uint8_t* irow = in.row(y);
      uint8_t* orow = tmp.row(y - y_first);
      for (int xx = 0; xx < out_w; ++xx) {
        const int32_t* k = &th.weights[size_t(xx) * th.ksize];
        const uint8_t* p = irow + size_t(th.first[xx]) * 3;
        int32_t s0 = kHalf, s1 = kHalf, s2 = kHalf;
        for (int x = 0; x < th.count[xx]; ++x) {
          s0 += p[3 * x + 0] * k[x];
          s1 += p[3 * x + 1] * k[x];
          s2 += p[3 * x + 2] * k[x];
        }
        orow[3 * xx + 0] = clip8(s0);
        orow[3 * xx + 1] = clip8(s1);
        orow[3 * xx + 2] = clip8(s2);
      }
    }
    src = &tmp;
    src_y0 = y_first;
  }
  if (!need_v) return need_h ? tmp : in;

  Image out(out_w, out_h);
  const size_t row_len = size_t(out_w) * 3;
  // Tap-outer, pixel-inner: contiguous int32 accumulators the compiler vectorises. Integer sums
  // are exact, so the order does not change the result.
  std::vector<int32_t> acc(row_len);
  for (int yy = 0; yy < out_h; ++yy) {
    const int32_t* k = &tv.weights[size_t(yy) * tv.ksize];
    const int y0 = tv.first[yy] - src_y0;
    std::fill(acc.begin(), acc.end(), kHalf);
    for (int y = 0; y < tv.count[yy]; ++y) {
      const uint8_t* srow = src->row(y0 + y);
      const int32_t w = k[y];
      int32_t* a = acc.data();
      for (size_t i = 0; i < row_len; ++i) a[i] += int32_t(srow[i]) * w;
    }
    uint8_t* orow = out.row(yy);
    for (size_t i = 0; i < row_len; ++i) orow[i] = clip8(acc[i]);
  }
  return out;
}

std::array<int, 2> shorter_side_size(int w, int h, int size) {
  RS_CHECK(w > 0 && h > 0 && size > 0, ValueError, "shorter_side_size", "bad sizes ", w, "x", h, " -> ", size);
  const int shorter = std::min(w, h), longer = std::max(w, h);
  // Python: int(size * long / short); the product is exact, the division rounds once, int truncates.
  const int new_long = int(double(int64_t(size) * longer) / double(shorter));
  return w <= h ? std::array<int, 2>{size, new_long} : std::array<int, 2>{new_long, size};
}

Image center_crop(const Image& in, int out_w, int out_h) {
  RS_CHECK(out_w <= in.width && out_h <= in.height && out_w > 0 && out_h > 0, ValueError, "center_crop",
           "cannot crop ", out_w, "x", out_h, " from ", in.width, "x", in.height);
  // Python's round() rounds halves to even; std::nearbyint does too in the default rounding mode.
  const int left = int(std::nearbyint((in.width - out_w) / 2.0));
  const int top = int(std::nearbyint((in.height - out_h) / 2.0));
  if (left == 0 && top == 0 && out_w == in.width && out_h == in.height) return in;
  Image out(out_w, out_h);
  for (int y = 0; y < out_h; ++y)
    std::memcpy(out.row(y), in.row(top + y) + size_t(left) * 3, size_t(out_w) * 3);
  return out;
}

Image clip_resize_crop(const Image& in, const ClipPreprocessOptions& opt) {
  const auto [w, h] = shorter_side_size(in.width, in.height, opt.size);
  return center_crop(resize_bicubic(in, w, h), opt.size, opt.size);
}

void normalize_into(const Image& img, const ClipPreprocessOptions& opt, float* dst) {
  const size_t plane = size_t(img.width) * img.height;
  for (int c = 0; c < 3; ++c) {
    // A 256-entry table with the exact float32 operations of ToTensor (x / 255) and Normalize
    // ((x - mean) / std): the same bits as computing them per pixel.
    float lut[256];
    for (int v = 0; v < 256; ++v) {
      const float x = float(v) / 255.0f;
      lut[v] = (x - opt.mean[c]) / opt.std[c];
    }
    float* out = dst + c * plane;
    const uint8_t* in = img.pixels.data() + c;
    for (size_t i = 0; i < plane; ++i) out[i] = lut[in[3 * i]];
  }
}

void clip_preprocess_into(const Image& in, const ClipPreprocessOptions& opt, float* dst) {
  const Image img = clip_resize_crop(in, opt);
  normalize_into(img, opt, dst);
}

Tensor clip_preprocess(const Image& in, const ClipPreprocessOptions& opt) {
  Tensor t = Tensor::empty({3, opt.size, opt.size}, DType::f32);  // (C, H, W)
  clip_preprocess_into(in, opt, t.data<float>());
  return t;
}

Tensor stack_images(const std::vector<Tensor>& images) {
  RS_CHECK(!images.empty(), ShapeError, "stack_images", "no images");
  const Shape shape = images[0].shape();
  RS_CHECK(shape.size() == 3, ShapeError, "stack_images", "expected [C,H,W] tensors, got ",
           format_shape(shape));
  Shape out_shape = {int64_t(images.size())};
  out_shape.insert(out_shape.end(), shape.begin(), shape.end());
  Tensor out = Tensor::empty(out_shape, DType::f32);  // (B, C, H, W)
  const int64_t n = shape_numel(shape);
  for (size_t b = 0; b < images.size(); ++b) {
    RS_CHECK(images[b].shape() == shape, ShapeError, "stack_images", "image ", b, " has shape ",
             format_shape(images[b].shape()), ", image 0 ", format_shape(shape));
    const Tensor src = images[b].to(DType::f32).to(Device::cpu()).contiguous();
    std::memcpy(out.data<float>() + int64_t(b) * n, src.data<float>(), size_t(n) * sizeof(float));
  }
  return out;
}

}  // namespace rscapret::data

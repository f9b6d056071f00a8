// CLIP's 224-px image preprocessing (openai/CLIP `_transform`, the HF CLIPImageProcessor does the
// same): shorter side to 224 with PIL's bicubic resampling, centre crop 224 x 224, RGB, /255,
// normalise with CLIP's mean and std. Output: f32 [3, 224, 224] (C, H, W).
//
// The resampler reproduces Pillow's (Resample.c): cubic convolution with a = -0.5, a support of 2
// scaled by the downscale factor (antialiasing), coefficients in 22-bit fixed point, a horizontal
// pass (rounded to uint8) then a vertical pass. Measured against PIL 9.4 on 4 real RS images (UCM
// and Sydney TIFF, RSICD JPEG): the uint8 images and the float tensors are identical when JPEG goes
// through libjpeg-turbo; with stb_image's JPEG decoder up to 6 levels differ (see image.h and
// tests/data/test_clip_preprocess.cpp, which prints the differences).
//
// Differences from CLIP's PIL path on inputs the caption datasets do not contain: PIL resizes a
// palette image with nearest neighbour and an RGBA image with premultiplied alpha; here the image is
// RGB before resizing (decode_image expands palettes and drops alpha).
#pragma once

#include <array>
#include <vector>

#include "tensor/tensor.h"
#include "train/data/image.h"

namespace rscapret::data {

struct ClipPreprocessOptions {
  int size = 224;  // shorter side after the resize, and the square crop
  std::array<float, 3> mean = {0.48145466f, 0.4578275f, 0.40821073f};
  std::array<float, 3> std = {0.26862954f, 0.26130258f, 0.27577711f};
};

// Pillow-exact bicubic resize (Image.resize(size, BICUBIC)); returns a copy when the size is unchanged.
Image resize_bicubic(const Image& in, int out_width, int out_height);

// torchvision Resize(size) output size: the shorter side becomes `size`, the longer
// int(size * long / short) (truncated, as torchvision computes it).
std::array<int, 2> shorter_side_size(int width, int height, int size);

// torchvision CenterCrop: offsets round((in - out) / 2) with Python's round-half-to-even.
// The image must be at least out_width x out_height.
Image center_crop(const Image& in, int out_width, int out_height);

// Resize + centre crop: the uint8 image the network sees, (size, size, 3).
Image clip_resize_crop(const Image& in, const ClipPreprocessOptions& opt = {});

// (x / 255 - mean[c]) / std[c] in float32, as ToTensor + Normalize compute it, from an (H, W, 3)
// image into dst (C, H, W): 3 * H * W floats.
void normalize_into(const Image& img, const ClipPreprocessOptions& opt, float* dst);

// The whole preprocessing into dst (3 * size * size floats).
void clip_preprocess_into(const Image& in, const ClipPreprocessOptions& opt, float* dst);
// f32 [3, size, size].
Tensor clip_preprocess(const Image& in, const ClipPreprocessOptions& opt = {});

// [3, H, W] tensors of one shape -> f32 [B, 3, H, W] (ShapeError when shapes differ or none given).
Tensor stack_images(const std::vector<Tensor>& images);

}  // namespace rscapret::data

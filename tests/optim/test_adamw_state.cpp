// AdamW state save/load: round trip, and every kind of bad state refused with a clear error and
// without changing the optimizer. Bit-exact resume of a training run: test_training_step.cpp.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include "nn/optim/adamw.h"
#include "tensor/rng.h"
#include "tensor/safetensors.h"

namespace rscapret::nn {
namespace {

namespace fs = std::filesystem;

// Expects `fn` to throw E with `needle` in its message.
template <typename E, typename Fn>
void expect_error(Fn&& fn, const std::string& needle) {
  try {
    fn();
    ADD_FAILURE() << "no error; expected one mentioning '" << needle << "'";
  } catch (const E& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  }
}

Tensor leaf(Tensor t) {
  t.set_requires_grad(true);
  return t;
}

struct Fixture {
  Generator g{4};
  Tensor w = leaf(g.normal({3, 5})), b = leaf(g.normal({5}));
  AdamW opt{{ParamGroup{{{"w", w}}, {}}, ParamGroup{{{"b", b}}, AdamWOptions{1e-3, 0.9, 0.95, 1e-8, 0.0}}}};
  Fixture() {
    for (int i = 0; i < 2; ++i) {
      w.set_grad(g.normal({3, 5}));
      b.set_grad(g.normal({5}));
      opt.step();
    }
  }
  // A fresh optimizer over the same parameters.
  AdamW fresh() const { return AdamW({ParamGroup{{{"w", w}}, {}}, ParamGroup{{{"b", b}}, {}}}); }
};

fs::path temp(const std::string& name) { return fs::temp_directory_path() / ("rscapret_optim_" + name); }

TEST(AdamWState, SaveLoadRoundTrip) {
  Fixture f;
  const auto path = temp("state.safetensors");
  f.opt.save(path.string());
  const SafetensorsFile file(path);
  EXPECT_EQ(file.metadata().at("optimizer"), "adamw");
  EXPECT_NE(file.metadata().at("groups").find("\"beta2\":0.95"), std::string::npos) << file.metadata().at("groups");

  AdamW other = f.fresh();
  other.load(path.string());
  EXPECT_EQ(other.steps_taken(), 2);
  const auto want = f.opt.state(), got = other.state();
  ASSERT_EQ(got.size(), want.size());
  for (const auto& [key, t] : want) {
    EXPECT_EQ(got.at(key).dtype(), t.dtype()) << key;
    EXPECT_EQ(got.at(key).to_vector<double>(), t.to_vector<double>()) << key;
  }
  // The loaded moments are the optimizer's own writable copies, not views of the mapping.
  fs::remove(path);
  f.w.set_grad(Tensor::zeros({3, 5}));
  f.b.set_grad(Tensor::zeros({5}));
  EXPECT_NO_THROW(other.step());
}

TEST(AdamWState, MismatchedStateIsRefusedClearlyAndChangesNothing) {
  Fixture f;
  AdamW other = f.fresh();
  const auto good = f.opt.state();
  auto check = [&](std::map<std::string, Tensor> bad, const std::string& needle) {
    expect_error<FormatError>([&] { other.load_state(bad); }, needle);
    EXPECT_EQ(other.steps_taken(), 0);
    EXPECT_EQ(other.state().at("step.w").item(), 0.0);
  };
  auto bad = good;
  bad["exp_avg.w"] = Tensor::zeros({5, 3});
  check(bad, "exp_avg.w");
  bad = good;
  bad["exp_avg_sq.b"] = Tensor::zeros({5}, DType::f64);
  check(bad, "exp_avg_sq.b");
  bad = good;
  bad.erase("exp_avg.b");
  check(bad, "entries");
  bad = good;
  bad.erase("exp_avg.b");
  bad["exp_avg.c"] = Tensor::zeros({5});  // another parameter's name
  check(bad, "no 'exp_avg.b'");
  bad = good;
  bad["step.w"] = Tensor::scalar(2.0, DType::f32);
  check(bad, "step.w");
  bad = good;
  bad["step"] = Tensor::scalar(-1.0, DType::i64);
  check(bad, "negative");
  bad = good;
  Tensor v = good.at("exp_avg_sq.w").clone();
  v.data<float>()[7] = -1.0f;
  bad["exp_avg_sq.w"] = v;
  check(bad, "damaged");
  v.data<float>()[7] = NAN;
  check(bad, "NaN");
  // A different model's optimizer.
  Tensor x = Tensor::zeros({4});
  x.set_requires_grad(true);
  AdamW mismatch({ParamGroup{{{"x", x}}, {}}});
  expect_error<FormatError>([&] { mismatch.load_state(good); }, "entries");
}

TEST(AdamWState, CorruptOrForeignFilesAreRefused) {
  Fixture f;
  AdamW other = f.fresh();
  const auto path = temp("corrupt.safetensors");
  f.opt.save(path.string());
  const auto size = fs::file_size(path);

  fs::resize_file(path, size - 3);  // truncated: the data section no longer matches the header
  EXPECT_THROW(other.load(path.string()), FormatError);
  {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << "this is not a safetensors file at all";
  }
  EXPECT_THROW(other.load(path.string()), FormatError);
  // A valid safetensors file that is not an optimizer state (model weights, say).
  save_safetensors(path, {{"w", Tensor::zeros({3, 5})}});
  expect_error<FormatError>([&] { other.load(path.string()); }, "not an AdamW state");
  fs::remove(path);
  EXPECT_ANY_THROW(other.load(path.string()));  // missing file
  EXPECT_EQ(other.steps_taken(), 0);
}

}  // namespace
}  // namespace rscapret::nn

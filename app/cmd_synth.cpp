// rscapret synth --out DIR [--count N] [--size 64..256] [--seed S] [--split 0.8,0.1,0.1] [--threads T]
// Writes the synthetic aerial world: DIR/images/NNNNNN.png and DIR/dataset_synth.json (Karpathy
// format plus ground-truth "scene" and "objects"). Same seed, same bytes, whatever the thread count.
#include <cstdio>
#include <memory>
#include <string>

#include "app/commands.h"
#include "synth/dataset.h"

namespace rscapret::app {

void add_synth_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("synth", "generate the synthetic aerial captioning dataset (PNG + Karpathy JSON)");
  struct Opts {
    synth::SynthOptions synth;
    std::string split = "0.8,0.1,0.1";
  };
  auto o = std::make_shared<Opts>();
  cmd->add_option("--out", o->synth.out, "output directory (created if missing)")->required();
  cmd->add_option("--count", o->synth.count, "number of images (default 2000)");
  cmd->add_option("--size", o->synth.size, "image side in pixels, 64..256 (default 128)");
  cmd->add_option("--seed", o->synth.seed, "random seed (default 0)");
  cmd->add_option("--split", o->split, "train,val,test fractions summing to 1 (default 0.8,0.1,0.1)");
  cmd->add_option("--threads", o->synth.threads, "worker threads (default: all cores); output does not depend on it");
  cmd->callback([o] {
    o->synth.split = synth::parse_split(o->split);
    const auto r = synth::write_dataset(o->synth);
    std::fprintf(stderr, "rscapret synth: %lld images (%lld train, %lld val, %lld test) at %d px in %.2f s -> %s\n",
                 static_cast<long long>(r.images), static_cast<long long>(r.per_split[0]),
                 static_cast<long long>(r.per_split[1]), static_cast<long long>(r.per_split[2]), o->synth.size,
                 r.seconds, o->synth.out.c_str());
  });
}

}  // namespace rscapret::app

// `rscapret train <stage> ...`: the parent of the training subcommands (bridge here; clip and lm
// may join it). Each stage registers itself on the parent from its own file.
#include "app/commands.h"

namespace rscapret::app {

void add_train_bridge_command(CLI::App& train);  // app/cmd_train_bridge.cpp
void add_train_lm_command(CLI::App& train);      // app/cmd_train_lm.cpp
void add_train_clip_command(CLI::App& train);    // app/cmd_train_clip.cpp
void add_train_tokenizer_command(CLI::App& train);  // app/cmd_train_tokenizer.cpp

void add_train_command(CLI::App& app) {
  auto* train = app.add_subcommand("train", "train a model stage (bridge: the RS-CapRet step)");
  train->require_subcommand(1);
  add_train_bridge_command(*train);
  add_train_lm_command(*train);
  add_train_clip_command(*train);
  add_train_tokenizer_command(*train);
}

}  // namespace rscapret::app

// One function per subcommand, each in its own file: it declares its options on the CLI11
// subcommand it is given and returns the callback that runs it.
#pragma once

#include <CLI/CLI.hpp>

namespace rscapret::app {

void add_demo_command(CLI::App& app);
void add_selftest_command(CLI::App& app);
void add_tokenize_command(CLI::App& app);
void add_score_command(CLI::App& app);
void add_forward_command(CLI::App& app);
void add_train_command(CLI::App& app);
void add_caption_command(CLI::App& app);
void add_index_command(CLI::App& app);
void add_retrieve_command(CLI::App& app);
void add_synth_command(CLI::App& app);
void add_pack_command(CLI::App& app);
void add_eval_command(CLI::App& app);
void add_chat_command(CLI::App& app);
void add_quantize_command(CLI::App& app);

}  // namespace rscapret::app

// rscapret: the command-line program. Each subcommand lives in its own file (see commands.h).
#include <cstdio>
#include <exception>

#include "app/commands.h"
#include "tensor/error.h"

int main(int argc, char** argv) {
  CLI::App app{"rscapret: remote-sensing captioning and text-to-image retrieval (RS-CapRet)"};
  app.require_subcommand(1);
  rscapret::app::add_demo_command(app);
  rscapret::app::add_selftest_command(app);
  rscapret::app::add_tokenize_command(app);
  rscapret::app::add_score_command(app);
  rscapret::app::add_forward_command(app);
  rscapret::app::add_train_command(app);
  rscapret::app::add_caption_command(app);
  rscapret::app::add_index_command(app);
  rscapret::app::add_retrieve_command(app);
  rscapret::app::add_synth_command(app);
  rscapret::app::add_pack_command(app);
  rscapret::app::add_eval_command(app);
  rscapret::app::add_chat_command(app);
  rscapret::app::add_quantize_command(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const rscapret::Error& e) {
    std::fprintf(stderr, "rscapret: error: %s\n", e.what());
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "rscapret: unexpected error: %s\n", e.what());
    return 2;
  }
  return 0;
}

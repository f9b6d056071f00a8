// Runs a shell command (or the built `rscapret` program) from a test: exit status and the merged
// stdout + stderr. One copy for every CLI test.
#pragma once

#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <memory>
#include <string>
#include <utility>

namespace rscapret::testing {

inline std::pair<int, std::string> run_shell(const std::string& cmd) {
  std::unique_ptr<FILE, int (*)(FILE*)> pipe(popen((cmd + " 2>&1").c_str(), "r"), pclose);
  std::string out;
  std::array<char, 4096> buf;
  while (fgets(buf.data(), int(buf.size()), pipe.get())) out += buf.data();
  const int status = pclose(pipe.release());
  return {WEXITSTATUS(status), out};
}

// `rscapret ARGS` from this build (RSCAPRET_BINARY_DIR/app/rscapret).
inline std::pair<int, std::string> run_rscapret(const std::string& args) {
  return run_shell(std::string(RSCAPRET_BINARY_DIR) + "/app/rscapret " + args);
}

}  // namespace rscapret::testing

// The hostile mix of bench/checks.sh: one plugin per behaviour (HOSTILE_BEHAVIOUR), each with a
// check of its own id (HOSTILE_CHECK_ID, in plugin HOSTILE_PLUGIN_ID). Each misbehaves on the
// declarations whose product.model is its poison ("poison-<behaviour>") and passes the others,
// except "slow", which takes 50 ms on every declaration, and "fork", which tries to start a
// process sleeping for a minute on every poison declaration.
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <vector>

#include "iotreg/check.hpp"

namespace {

constexpr std::string_view kBehaviour = HOSTILE_BEHAVIOUR;

struct Hostile {
  static constexpr const char* id = HOSTILE_CHECK_ID;
  static constexpr const char* title = "Misbehaves on its poison declaration";
  static constexpr const char* requirement = "Benchmark";
  static constexpr const char* version = "1.0.0";

  static iotreg::Finding run(const iotreg::CheckInput& input) {
    const std::string model(input.declaration().text("product.model").value_or(""));
    if (kBehaviour == "slow") {
      ::usleep(50'000);
      return iotreg::Finding::pass("judged slowly");
    }
    if (kBehaviour == "fork") {
      if (model.rfind("poison-", 0) == 0 && ::fork() == 0) {
        ::sleep(60);
        ::_exit(0);
      }
      return iotreg::Finding::pass("did not fork");
    }
    if (model != "poison-" + std::string(kBehaviour)) return iotreg::Finding::pass("passed");
    if (kBehaviour == "crash") {
      volatile int* nowhere = nullptr;
      *nowhere = 1;
    } else if (kBehaviour == "hang") {
      for (volatile bool forever = true; forever;) {
      }
    } else if (kBehaviour == "abort") {
      std::abort();
    } else if (kBehaviour == "throw") {
      throw std::runtime_error("poisoned");
    } else if (kBehaviour == "exit") {
      std::exit(3);
    } else if (kBehaviour == "huge") {
      const std::string noise(64u << 20, 'x');
      std::fwrite(noise.data(), 1, noise.size(), stdout);
      std::fwrite(noise.data(), 1, noise.size(), stderr);
      return iotreg::Finding::pass(noise);
    } else if (kBehaviour == "allocate") {
      static std::vector<char*> kept;
      for (;;) kept.push_back(new char[1u << 20]);
    }
    return iotreg::Finding::pass("passed");
  }
};

}  // namespace

IOTREG_PLUGIN(HOSTILE_PLUGIN_ID, "1.0.0", "Benchmark: a hostile check", Hostile)

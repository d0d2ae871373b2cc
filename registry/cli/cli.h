// The `iotreg` command line (DESIGN.md §5): global options, subcommands and exit statuses.
//
// run() parses the arguments, opens the registry and dispatches; every expected failure is
// reported on stderr and turned into an exit status, never an exception. Not reentrant:
// it is the body of main().
#pragma once

#include <string>

namespace iotreg::cli {

enum ExitStatus : int {
  kExitSuccess = 0,
  kExitRejectedOrNotFound = 1,  // the command ran, but records were rejected or a thing is missing
  kExitUsage = 2,               // bad usage or configuration; nothing was changed
};

int run(int argc, char** argv);

}  // namespace iotreg::cli

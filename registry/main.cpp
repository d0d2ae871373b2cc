#include "registry/cli/cli.h"

int main(int argc, char** argv) { return iotreg::cli::run(argc, argv); }

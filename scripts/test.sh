#!/usr/bin/env bash
# Runs every test: installs what is missing, builds with warnings as errors, runs ctest.
# Usage: scripts/test.sh [ctest arguments...]
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh
build_dir=${IOTREG_BUILD_DIR:-build}
cmake -S . -B "$build_dir" -DIOTREG_WERROR=ON -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$build_dir" -j2
cd "$build_dir"
ctest -j2 --output-on-failure "$@"

#!/usr/bin/env bash
# Installs the Debian 12 packages that building and testing iotreg needs, and nothing else.
# Idempotent and quick when everything is present: apt is only called for what is missing.
# Usage: scripts/setup.sh [extra-package ...]
set -euo pipefail

packages=(
  build-essential cmake pkg-config python3   # toolchain; python3 generates test data
  libsqlite3-dev sqlite3 liblz4-dev           # storage
  libpq-dev                                   # storage: the PostgreSQL backend's client library
  postgresql                                  # tests: a throwaway PostgreSQL server per run
  nlohmann-json3-dev libyaml-cpp-dev libre2-dev libvalijson-dev  # importers and validation
  libcli11-dev                                # command line
  libpoco-dev libboost-dev libboost-filesystem-dev  # HTTP/JSON utilities and plugin loading
  libqrencode-dev                             # QR codes on product labels
  libxlsxwriter-dev                           # XLSX exports and the declaration template
  libseccomp-dev                              # the system call filter of check workers
  libhowardhinnant-date-dev tzdata            # the server's date in its time zone
  doctest-dev                                 # tests
  zbar-tools librsvg2-bin                     # tests: decode the label's QR code
  python3-hypothesis python3-yaml             # tests: the property-based test of text parameters
  python3-openpyxl                            # tests: read XLSX exports back, write messy workbooks
  chromium                                    # tests: the web UI in a real browser
  "$@"
)

# Node.js runs the browser tests (playwright-core) and the OpenAPI tests (Prism, fast-check); a
# machine may already have it from elsewhere.
if ! command -v npm >/dev/null 2>&1; then
  packages+=(nodejs npm)
fi

missing=()
for package in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q '^install ok installed$'; then
    missing+=("$package")
  fi
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

echo "setup: installing ${missing[*]}" >&2
sudo_cmd=()
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then
    sudo_cmd=(sudo)
  else
    echo "setup: need root (or sudo) to install: ${missing[*]}" >&2
    exit 1
  fi
fi
export DEBIAN_FRONTEND=noninteractive
"${sudo_cmd[@]}" apt-get update -qq
"${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null

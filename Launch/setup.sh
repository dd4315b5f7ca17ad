#!/usr/bin/env bash
# Installs the system packages vae-dist needs (Debian 12) and builds the release binary.
#
#   Launch/setup.sh            install packages if missing, then swift build -c release
#   Launch/setup.sh --deps     install packages only
#
# Needs: Swift 6 on PATH. Packages: pkg-config (SwiftPM reads the openblas / ompi-c .pc files through it),
# libopenblas-dev, libopenmpi-dev, openmpi-bin, libpng-dev (image grids, PNG pictures), zlib1g-dev (.gz data),
# libturbojpeg0-dev (JPEG pictures), curl and unzip
# (Launch/fetch-mnist.sh). No Python: the tests make their own (Launch/python-env.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
packages=(pkg-config libopenblas-dev libopenmpi-dev openmpi-bin libpng-dev zlib1g-dev libturbojpeg0-dev curl unzip)
missing=()
for p in "${packages[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update && apt-get install -y "${missing[@]}"
  else
    echo "missing packages: ${missing[*]} — run: sudo apt-get install -y ${missing[*]}" >&2; exit 1
  fi
fi
[ "${1:-}" = "--deps" ] && exit 0
swift build -c release

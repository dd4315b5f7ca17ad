#!/usr/bin/env bash
# Installs the system packages vae-dist needs (Debian 12) and builds the release binary.
#
#   Launch/setup.sh            install packages if missing, then swift build -c release
#   Launch/setup.sh --deps     install packages only
#
# Needs: Swift 6 on PATH. Packages: pkg-config (SwiftPM reads the openblas / ompi-c .pc files through it),
# libopenblas-dev, libopenmpi-dev, openmpi-bin, libpng-dev (image grids), zlib1g-dev (.gz data).
set -euo pipefail
cd "$(dirname "$0")/.."
packages=(pkg-config libopenblas-dev libopenmpi-dev openmpi-bin libpng-dev zlib1g-dev)
missing=()
for p in "${packages[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update && apt-get install -y "${missing[@]}"
  else
    echo "missing packages: ${missing[*]} — run: sudo apt-get install -y ${missing[*]}" >&2; exit 1
  fi
fi
# Python's safetensors and tensorboard (PyPI), for the interop and event-file tests; numpy comes with the machine's Python.
python3 -c "import safetensors, numpy" 2>/dev/null || python3 -m pip install --quiet "safetensors==0.8.0" numpy
python3 -c "import tensorboard" 2>/dev/null || python3 -m pip install --quiet "tensorboard==2.21.0"
[ "${1:-}" = "--deps" ] && exit 0
swift build -c release

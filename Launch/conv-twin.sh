#!/usr/bin/env bash
# Trains a conv configuration (default Config/mnist-conv.json) with vae-dist and its PyTorch twin with the same
# settings (Launch/train-conv-twin.py) and prints both test losses per epoch side by side. PyTorch in a throwaway
# venv (PyPI, or TORCH_WHEEL=path). Not part of CI (minutes).
#
#   Launch/conv-twin.sh [CONFIG]                    (needs Data/mnist: Launch/fetch-mnist.sh)
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
bin=${VAE_DIST_BIN:-$here/.build/release/vae-dist}
config=${1:-$here/Config/mnist-conv.json}
data=$here/Data/mnist
[ -f "$data/train-images-idx3-ubyte" ] || { echo "error: no MNIST in $data; run Launch/fetch-mnist.sh first" >&2; exit 1; }
[ -x "$bin" ] || { echo "error: no $bin; build it first: swift build -c release" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
python3 -m venv "$work/venv"
"$work/venv/bin/pip" install --quiet --disable-pip-version-check ${TORCH_WHEEL:-torch} numpy >&2
start=$(date +%s.%N)
"$bin" train --config "$config" --data "$data" --run-dir "$work/run" -q
echo "vae-dist: $(echo "$(date +%s.%N) - $start" | bc) s" >&2
# vae-dist's trained model, exported, in the twin (load_state_dict(strict=True)).
last=$(ls "$work/run"/checkpoint-step-*.safetensors | tail -1)
"$bin" export "$last" --out "$work/export.safetensors" >&2
"$work/venv/bin/python" "$here/Launch/train-conv-twin.py" "$config" "$data" --export "$work/export.safetensors"
"$work/venv/bin/python" "$here/Launch/train-conv-twin.py" "$config" "$data" > "$work/twin"
python3 - "$work/run/metrics.jsonl" "$work/twin" <<'PY'
import json, sys
ours = [json.loads(l) for l in open(sys.argv[1]) if '"type":"epoch"' in l.replace(" ", "")]
theirs = [l.split() for l in open(sys.argv[2])]
print("epoch  vae-dist  PyTorch twin  difference")
for o, t in zip(ours, theirs):
    a, b = o["test_loss"], float(t[3])
    print(f"{o['epoch']:>5}  {a:8.2f}  {b:12.2f}  {100 * (a - b) / b:+.2f} %")
print(f"PyTorch twin wall time {theirs[-1][5]} s")
PY

#!/usr/bin/env bash
# A training step of a conv VAE (default Config/mnist-conv.json) in vae-dist and in PyTorch eager (its twin,
# Tests/python/vae_twin.py; convolutions on oneDNN), at one thread and at all cores, in one run, batch 128:
# vae-dist's `bench` (which also splits its step into the GEMMs at the measured sgemm rate and the rest: im2col,
# col2im, activations) and Launch/bench-conv-pytorch.py, alternating. PyTorch in a throwaway venv (PyPI, or
# TORCH_WHEEL=path). Not part of CI.
#
#   Launch/bench-conv.sh [CONFIG] [STEPS]          (defaults: Config/mnist-conv.json, 60)
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
bin=${VAE_DIST_BIN:-$here/.build/release/vae-dist}
config=${1:-$here/Config/mnist-conv.json}
steps=${2:-60}
cores=$(nproc)
[ -x "$bin" ] || { echo "error: no $bin; build it first: swift build -c release" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
python3 -m venv "$work/venv"
"$work/venv/bin/pip" install --quiet --disable-pip-version-check ${TORCH_WHEEL:-torch} numpy >&2
for threads in 1 "$cores"; do
  # vae-dist at all cores: threads as ranks (its default), one BLAS thread each, the same global batch of 128.
  if [ "$threads" = 1 ]; then flags=(--threads 1 --blas-threads 1); else flags=(--threads "$threads"); fi
  ours=$("$bin" bench --config "$config" "${flags[@]}" --set training.batch_size=128 --steps "$steps" --json | grep '^{')
  theirs=$(OMP_NUM_THREADS=$threads "$work/venv/bin/python" "$here/Launch/bench-conv-pytorch.py" "$config" "$steps" "$threads" 128)
  python3 - "$threads" "$ours" "$theirs" <<'PY'
import json, sys
threads, ours, theirs = sys.argv[1], json.loads(sys.argv[2]), float(sys.argv[3].split()[1])
rate = ours["samples_per_second_total"]
phases = {k[:-3]: ours[k] for k in ("gemm_ms", "elementwise_ms", "optimizer_ms", "all-reduce_ms", "data_ms")}
total = sum(phases.values()) or 1
print(f"{threads} thread(s): vae-dist {rate:,.0f} samples/s, PyTorch {theirs:,.0f}: {rate / theirs:.2f}x; vae-dist's step: "
      + ", ".join(f"{k} {v / total:.0%}" for k, v in phases.items()) + " (elementwise: im2col, col2im, activations)")
PY
done

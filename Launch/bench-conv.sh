#!/usr/bin/env bash
# A training step of a conv VAE (default Config/mnist-conv.json) in vae-dist and in PyTorch eager (its twin,
# Tests/python/vae_twin.py; convolutions on oneDNN), at one thread and at all cores, global batch 128, in one run:
# vae-dist's `bench` (which also splits its step into the GEMMs at the measured sgemm rate and the rest: im2col,
# col2im, activations) and Launch/bench-conv-pytorch.py, alternating ROUNDS times (default 3; this 2-core machine's
# multi-thread rates wander by ±20 %), then the median and best of each and the ratio of the medians. PyTorch in a
# throwaway venv (PyPI, or TORCH_WHEEL=path). Not part of CI.
#
#   Launch/bench-conv.sh [CONFIG] [STEPS]          (defaults: Config/mnist-conv.json, 100)
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
bin=${VAE_DIST_BIN:-$here/.build/release/vae-dist}
config=${1:-$here/Config/mnist-conv.json}
steps=${2:-100}
rounds=${ROUNDS:-3}
cores=$(nproc)
[ -x "$bin" ] || { echo "error: no $bin; build it first: swift build -c release" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
python3 -m venv "$work/venv"
"$work/venv/bin/pip" install --quiet --disable-pip-version-check ${TORCH_WHEEL:-torch} numpy >&2
for round in $(seq "$rounds"); do
  for threads in 1 "$cores"; do
    # vae-dist at all cores: threads as ranks (its default), one BLAS thread each, the same global batch of 128.
    if [ "$threads" = 1 ]; then flags=(--threads 1 --blas-threads 1); else flags=(--threads "$threads"); fi
    echo "vae-dist $threads $("$bin" bench --config "$config" "${flags[@]}" --set training.batch_size=128 --steps "$steps" --json | grep '^{')" >> "$work/results"
    echo "pytorch $threads $(OMP_NUM_THREADS=$threads "$work/venv/bin/python" "$here/Launch/bench-conv-pytorch.py" "$config" "$steps" "$threads" 128)" >> "$work/results"
  done
done
python3 - "$work/results" <<'PY'
import json, statistics, sys
rows = {}
for line in open(sys.argv[1]):
    who, threads, rest = line.split(" ", 2)
    if who == "vae-dist":
        d = json.loads(rest)
        phases = {k[:-3]: d[k] for k in ("gemm_ms", "elementwise_ms", "optimizer_ms", "all-reduce_ms", "data_ms")}
        rows.setdefault((threads, who), []).append((d["samples_per_second_total"], phases))
    else:
        rows.setdefault((threads, who), []).append((float(rest.split()[1]), None))
for threads in sorted({t for t, _ in rows}, key=int):
    ours, theirs = [r for r, _ in rows[(threads, "vae-dist")]], [r for r, _ in rows[(threads, "pytorch")]]
    phases = rows[(threads, "vae-dist")][-1][1]
    total = sum(phases.values()) or 1
    print(f"{threads} thread(s): vae-dist median {statistics.median(ours):,.0f} (best {max(ours):,.0f}) samples/s, "
          f"PyTorch median {statistics.median(theirs):,.0f} (best {max(theirs):,.0f}): "
          f"{statistics.median(ours) / statistics.median(theirs):.2f}x; vae-dist's step: "
          + ", ".join(f"{k} {v / total:.0%}" for k, v in phases.items()) + " (elementwise: im2col, col2im, activations)")
PY

#!/usr/bin/env bash
# vae-dist against PyTorch eager, end to end, at one thread, in one script run: a whole `vae-dist train` process
# (start-up, data, 3,000 steps, every epoch's test pass, image grids, TensorBoard, checkpoints) timed from launch
# to exit, against PyTorch's training loop alone for the same model, batch, optimizer and step count (the data
# already a tensor, no test pass: the kindest measure of PyTorch), and like for like against a whole PyTorch
# process (launch to exit) that also runs the example's test pass at each epoch end. Also the step-only rate of
# `vae-dist bench`, so the whole process's overhead shows. PyTorch comes from PyPI into a throwaway virtual environment (removed on
# exit); TORCH_WHEEL=path installs a local wheel instead. Not part of CI (downloads, minutes).
#
#   Launch/bench-pytorch.sh [STEPS]                 (default 3000; needs Data/mnist: Launch/fetch-mnist.sh)
#   TORCH_WHEEL=/path/torch-….whl ROUNDS=2 Launch/bench-pytorch.sh
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
bin=${VAE_DIST_BIN:-$here/.build/release/vae-dist}
steps=${1:-3000}
rounds=${ROUNDS:-1}
data=$here/Data/mnist
[ -f "$data/train-images-idx3-ubyte" ] || { echo "error: no MNIST in $data; run Launch/fetch-mnist.sh first" >&2; exit 1; }
[ -x "$bin" ] || { echo "error: no $bin; build it first: swift build -c release" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
python3 -m venv "$work/venv"
"$work/venv/bin/pip" install --quiet --disable-pip-version-check ${TORCH_WHEEL:-torch} >&2
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
for round in $(seq "$rounds"); do
  # The two alternate, so a slow spell of the machine hits both.
  "$work/venv/bin/python" "$here/Launch/bench-pytorch.py" "$data" "$steps" 1 | sed 's/^/pytorch /' >> "$work/results"
  # Like for like: PyTorch as a whole process too (launch to exit, import included) with the example's test pass
  # at each epoch end.
  start=$(date +%s.%N)
  "$work/venv/bin/python" "$here/Launch/bench-pytorch.py" "$data" "$steps" 1 --test-passes > /dev/null
  end=$(date +%s.%N)
  echo "pytorch-whole $(echo "$end - $start" | bc)" >> "$work/results"
  rm -rf "$work/run"
  start=$(date +%s.%N)
  "$bin" train --data "$data" --max-steps "$steps" --blas-threads 1 --run-dir "$work/run" -q
  end=$(date +%s.%N)
  echo "vae-dist-train $(echo "$end - $start" | bc) $(grep -o '"test_loss":[0-9.]*' "$work/run/metrics.jsonl" | tail -1 | cut -d: -f2)" >> "$work/results"
  echo "vae-dist-bench $("$bin" bench --json --blas-threads 1 --steps 600 | grep '^{')" >> "$work/results"
done
python3 - "$work/results" "$steps" <<'PY'
import json, sys
steps = int(sys.argv[2])
samples = sum(min(128, 60000 - 128 * (s % 469)) for s in range(steps))  # the epoch's last batch is 96 rows
torch, whole, train, bench = [], [], [], []
for line in open(sys.argv[1]):
    name, rest = line.split(" ", 1)
    if name == "pytorch": torch.append(json.loads(rest))
    elif name == "pytorch-whole": whole.append(samples / float(rest))
    elif name == "vae-dist-train":
        seconds, loss = rest.split()
        train.append((samples / float(seconds), float(seconds), float(loss)))
    else: bench.append(json.loads(rest)["samples_per_second_total"])
for i, (t, w, (rate, seconds, loss), b) in enumerate(zip(torch, whole, train, bench), 1):
    print(f"round {i}: PyTorch {t['torch']} eager, 1 thread, training loop: {t['loop_samples_per_second']:.0f} samples/s "
          f"(whole process {t['process_samples_per_second']:.0f})")
    print(f"         vae-dist train, whole process, {steps} steps: {seconds:.1f} s = {rate:.0f} samples/s (test loss {loss:.4f}); "
          f"vae-dist bench step-only {b:.0f}")
    print(f"         PyTorch as a whole process with the example's test passes: {w:.0f} samples/s")
    print(f"         whole vae-dist process / PyTorch loop: {rate / t['loop_samples_per_second']:.2f}x; "
          f"/ whole PyTorch process: {rate / w:.2f}x; whole process / step-only: {rate / b:.3f}")
PY

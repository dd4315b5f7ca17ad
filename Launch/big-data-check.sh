#!/usr/bin/env bash
# A float32 data set larger than a rank's share of memory, under mpirun -n 2: what a start and a step cost when
# the data is memory-mapped, against the same model on MNIST and on in-memory data. One run prints every figure.
#
#   Launch/big-data-check.sh [FOLDER] [GB]        (defaults Data/big, 8; needs GB + 1 GB of disk and numpy)
#
# Makes FOLDER/train.npy: float32 [N, 784] uniform in [0, 1), N = ⌈GB·2³⁰ / 3136⌉ (kept between runs), and
# FOLDER/small/train.npy.gz: its first 60,000 rows gzip-compressed, which vae-dist inflates into memory (the
# in-memory twin). Then, all with the same 784–400–20–400–784 Gaussian model, batch 128, one BLAS thread per rank:
#   1. one process on the big file: the first start hashes it and caches the fingerprint (train.npy.sha256);
#   2. the file is read into the page cache (cat);
#   3. mpirun -n 2 on the big file, on the in-memory twin and on MNIST, STEPS steps each (default 1500): each
#      rank's peak RssAnon (/proc/PID/status, sampled every 0.2 s), launch → first step (the first progress line
#      with --log-every 1, timestamped as it arrives), and the median samples/s over the progress windows after
#      the first (metrics.jsonl).
set -euo pipefail
cd "$(dirname "$0")/.."
folder=${1:-Data/big}
gb=${2:-8}
steps=${STEPS:-1500}
bin=.build/release/vae-dist
[ -x "$bin" ] || swift build -c release >/dev/null
mkdir -p "$folder/small"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

if [ ! -f "$folder/train.npy" ]; then
  echo "== generating $folder/train.npy ($gb GB)"
  python3 - "$folder" "$gb" <<'PY'
import math, sys
import numpy as np
folder, gb = sys.argv[1], float(sys.argv[2])
n = math.ceil(gb * 2**30 / (784 * 4))
out = np.lib.format.open_memmap(f"{folder}/train.npy.part", mode="w+", dtype="<f4", shape=(n, 784))
rng = np.random.default_rng(1)
chunk = 65536
for start in range(0, n, chunk):
    out[start:start + chunk] = rng.random((min(chunk, n - start), 784), dtype=np.float32)
out.flush()
del out
import os
os.rename(f"{folder}/train.npy.part", f"{folder}/train.npy")
PY
fi
if [ ! -f "$folder/small/train.npy.gz" ]; then
  python3 - "$folder" <<'PY'
import gzip, sys
import numpy as np
folder = sys.argv[1]
small = np.array(np.load(f"{folder}/train.npy", mmap_mode="r")[:60000])
with gzip.open(f"{folder}/small/train.npy.gz", "wb", compresslevel=1) as f:
    np.save(f, small)
PY
fi
size=$(stat -c %s "$folder/train.npy")
echo "data: $folder/train.npy, $size bytes ($(( size / 3136 )) samples × 784 float32)"

model=(--likelihood gaussian --batch-size 128 --blas-threads 1)

echo "== 1. first start, one process (hashes the file once)"
rm -f "$folder/train.npy.sha256"
t0=$(date +%s.%N)
"$bin" --data "$folder/train.npy" "${model[@]}" --max-steps 1 --run-dir "$work/first" >/dev/null
t1=$(date +%s.%N)
echo "first start + 1 step: $(echo "$t1 - $t0" | bc) s; cached: $(tail -1 "$folder/train.npy.sha256" | cut -c1-16)…"

echo "== 2. into the page cache"
cat "$folder/train.npy" >/dev/null
grep -E "^(MemTotal|Cached)" /proc/meminfo | tr -s ' '

# run NAME DATA: mpirun -n 2, peak RssAnon per rank, launch → first step, median samples/s.
run() {
  local name=$1 data=$2 dir="$work/$1"
  local start; start=$(date +%s.%N)
  Launch/mpirun.sh -n 2 -- "$PWD/$bin" --data "$data" "${model[@]}" --max-steps 2 --log-every 1 \
    --run-dir "$dir-start" 2>&1 | while IFS= read -r line; do echo "$(date +%s.%N) $line"; done >"$dir-start.log"
  local first; first=$(grep -m1 "Train Epoch" "$dir-start.log" | cut -d' ' -f1)
  Launch/mpirun.sh -n 2 -- "$PWD/$bin" --data "$data" "${model[@]}" --max-steps "$steps" --log-every 25 \
    --run-dir "$dir" >"$dir.log" 2>&1 &
  local launcher=$! peak0=0 peak1=0
  while kill -0 "$launcher" 2>/dev/null; do
    local i=0
    for pid in $(pgrep -f "^$PWD/$bin --data $data" | sort -n); do
      local rss; rss=$(awk '/^RssAnon/ {print $2}' "/proc/$pid/status" 2>/dev/null || echo 0)
      if [ "$i" = 0 ]; then [ "${rss:-0}" -gt "$peak0" ] && peak0=$rss; else [ "${rss:-0}" -gt "$peak1" ] && peak1=$rss; fi
      i=$((i + 1))
    done
    sleep 0.2
  done
  wait "$launcher"
  local rate; rate=$(python3 - "$dir/metrics.jsonl" <<'PY'
import json, statistics, sys
rates = [r["samples_per_second"] for r in map(json.loads, open(sys.argv[1])) if r.get("type") == "step"]
print(f"{statistics.median(rates[1:]):.0f}")
PY
)
  printf "%-10s RssAnon rank0 %6d kB rank1 %6d kB   launch→first step %5.2f s   %6s samples/s (%s steps/s)\n" \
    "$name" "$peak0" "$peak1" "$(echo "$first - $start" | bc)" "$rate" "$(echo "scale=1; $rate / 128" | bc)"
  echo "$name $peak0 $peak1 $rate" >>"$work/figures"
}

echo "== 3. mpirun -n 2, $steps steps each"
run big "$folder/train.npy"
run in-memory "$folder/small/train.npy.gz"
[ -f Data/mnist/train-images-idx3-ubyte ] && run mnist Data/mnist
python3 - "$work/figures" <<'PY'
import sys
f = {l.split()[0]: list(map(float, l.split()[1:])) for l in open(sys.argv[1])}
big, mem = f["big"], f["in-memory"]
print(f"big / in-memory steps/s: {big[2] / mem[2]:.3f}")
if "mnist" in f:
    m = f["mnist"]
    print(f"RssAnon big − MNIST: rank0 {(big[0] - m[0]) / 1024:+.1f} MB, rank1 {(big[1] - m[1]) / 1024:+.1f} MB")
PY

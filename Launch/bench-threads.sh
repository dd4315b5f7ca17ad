#!/usr/bin/env bash
# Every core in one process: `vae-dist bench` (128 rows per thread or rank, one BLAS thread each) as one process
# with 1 BLAS thread, with T BLAS threads, with --threads T, under mpirun -n T, and as one MPI rank with --threads T
# (hybrid), in one script run, and the ratio --threads T / mpirun -n T. With VAE_DIST_BASE_BIN (an older vae-dist), also the default 10-epoch MNIST run's
# wall time and test loss: the base binary and this one, each as it runs by default (this one: threads, one per core).
#
#   Launch/bench-threads.sh [T]          (default: the cores available)
#   VAE_DIST_BIN=path VAE_DIST_BASE_BIN=path BENCH_ARGS="--steps 600" Launch/bench-threads.sh 2
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
bin=${VAE_DIST_BIN:-$here/.build/release/vae-dist}
threads=${1:-$(nproc)}
export VAE_DIST_MPI_TIMEOUT=${VAE_DIST_MPI_TIMEOUT:-300}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
bench() { local name=$1; shift; echo "$name $("$@" | grep '^{')" >> "$work/results"; }
bench "1-process-1-blas-thread" "$bin" bench --json ${BENCH_ARGS:-}
bench "1-process-$threads-blas-threads" "$bin" bench --json --blas-threads "$threads" ${BENCH_ARGS:-}
bench "1-process---threads-$threads" "$bin" bench --json --threads "$threads" ${BENCH_ARGS:-}
bench "mpirun-n-$threads" "$here/Launch/mpirun.sh" -n "$threads" -- "$bin" bench --json ${BENCH_ARGS:-}
# Hybrid on one node: one MPI rank running T threads.
bench "mpirun-n-1-threads-$threads" "$here/Launch/mpirun.sh" -n 1 -- "$bin" bench --json --threads "$threads" ${BENCH_ARGS:-}
if [ -n "${VAE_DIST_BASE_BIN:-}" ]; then
  # Each binary's default: the base's (before --threads: one process, BLAS threads on all cores) and this one's.
  e2e() {
    local name=$1; shift
    local start; start=$(date +%s.%N)
    "$@" --run-dir "$work/$name" --log-every 100000 > "$work/$name.log" 2>&1
    local seconds; seconds=$(echo "$(date +%s.%N) - $start" | bc)
    local loss; loss=$(grep -o '"test_loss":[0-9.]*' "$work/$name/metrics.jsonl" | tail -1 | cut -d: -f2)
    echo "e2e $name $seconds $loss" >> "$work/results"
  }
  e2e base "$VAE_DIST_BASE_BIN" train --data "$here/Data/mnist"
  e2e default "$bin" train --data "$here/Data/mnist"
fi
python3 - "$work/results" <<'PY'
import json, sys
rows, e2e = [], {}
for line in open(sys.argv[1]):
    name, rest = line.split(" ", 1)
    if name == "e2e":
        run, seconds, loss = rest.split()
        e2e[run] = (float(seconds), float(loss))
    else:
        rows.append((name, json.loads(rest)))
print(f"{'run':<28} {'samples/s':>10} {'exchange':<40}")
for name, r in rows:
    print(f"{name:<28} {r['samples_per_second_total']:>10.0f} {r['exchange'][:40]:<40}")
threads = next(r for n, r in rows if "--threads" in n)["samples_per_second_total"]
ranks = next(r for n, r in rows if n.startswith("mpirun-n-") and "threads" not in n)["samples_per_second_total"]
blas = rows[1][1]["samples_per_second_total"]
print(f"--threads / mpirun -n: {threads / ranks:.3f}; --threads / BLAS threads: {threads / blas:.3f}")
if e2e:
    (b, bl), (t, tl) = e2e["base"], e2e["default"]
    print(f"10-epoch MNIST, each binary's default run: base {b:.1f} s (test loss {bl:.4f}), this one {t:.1f} s (test loss {tl:.4f}); ratio {t / b:.3f}")
PY

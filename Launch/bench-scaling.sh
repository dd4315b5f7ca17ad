#!/usr/bin/env bash
# Weak-scaling benchmark: `vae-dist bench` at -n 1 and at each N given, in one script run, and the efficiency
# total(N) / (N × total(1)). Each rank trains on --batch-per-rank rows (default 128) with one BLAS thread.
#
#   Launch/bench-scaling.sh [N ...]              (default: 1 2)
#   VAE_DIST_BIN=path  BENCH_ARGS="--steps 300 --gradient-exchange allreduce"  Launch/bench-scaling.sh 2 4 8
#
# Sets what Launch/mpirun.sh sets (root, oversubscription, shared memory, OPENBLAS_NUM_THREADS=1,
# --bind-to ${VAE_DIST_BIND:-none}) and a 300 s mpirun timeout per run.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
bin=${VAE_DIST_BIN:-$here/.build/release/vae-dist}
counts=("$@"); [ ${#counts[@]} -gt 0 ] || counts=(2)
export VAE_DIST_MPI_TIMEOUT=${VAE_DIST_MPI_TIMEOUT:-300}
results=$(mktemp)
trap 'rm -f "$results"' EXIT
for n in 1 "${counts[@]}"; do
  [ "$n" = 1 ] && grep -q '"ranks":1,' "$results" 2>/dev/null && continue
  "$here/Launch/mpirun.sh" -n "$n" -- "$bin" bench --json ${BENCH_ARGS:-} | grep '^{' >> "$results"
done
python3 - "$results" <<'PY'
import json, sys
rows = [json.loads(line) for line in open(sys.argv[1])]
base = next(r for r in rows if r["ranks"] == 1)
print(f"{'ranks':>5} {'sgemm GF/s':>10} {'ceiling/rank':>12} {'samples/s/rank':>14} {'of ceiling':>10} {'total':>9} {'exchange':>10} {'efficiency':>10}  gradient exchange")
for r in rows:
    eff = r["samples_per_second_total"] / (r["ranks"] * base["samples_per_second_total"])
    print(f"{r['ranks']:>5} {r['sgemm_gflops']:>10.1f} {r['ceiling_samples_per_second']:>12.0f} {r['samples_per_second_per_rank']:>14.0f} "
          f"{100*r['fraction_of_ceiling']:>9.1f}% {r['samples_per_second_total']:>9.0f} {100*r['allreduce_share']:>9.1f}% {100*eff:>9.1f}%  {r['exchange']}")
PY

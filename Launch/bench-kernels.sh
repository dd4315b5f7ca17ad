#!/usr/bin/env bash
# OpenBLAS's kernel sets side by side, in one script run: `vae-dist bench` (1 thread, 1 BLAS thread) with
# OPENBLAS_CORETYPE unset (what users get: OpenBLAS's own choice, or vae-dist's where OpenBLAS fell back) and with
# each set this CPU can run named by hand, then the ratio of the first to the fastest. With FAKE_PICK=NAME, the
# unset run uses the tests' vae-dist-faults, whose openblas_get_corename reports NAME (as OpenBLAS does on a CPU it
# falls back on), so the path is shown on a CPU OpenBLAS knows.
#
#   Launch/bench-kernels.sh                 (STEPS=300)
#   FAKE_PICK=Prescott STEPS=600 Launch/bench-kernels.sh
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
bin=${VAE_DIST_BIN:-$here/.build/release/vae-dist}
steps=${STEPS:-300}
auto_bin=$bin
if [ -n "${FAKE_PICK:-}" ]; then
  (cd "$here" && swift build -c release --product vae-dist-faults >/dev/null)
  auto_bin=$here/.build/release/vae-dist-faults
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
run() {
  local name=$1; shift
  "$@" bench --json --threads 1 --blas-threads 1 --steps "$steps" > "$work/$name.out" 2> "$work/$name.err"
  echo "$name $(grep '^{' "$work/$name.out")" >> "$work/results"
  if [ -s "$work/$name.err" ]; then sed "s/^/  $name stderr: /" "$work/$name.err"; fi
}
run unset env -u OPENBLAS_CORETYPE -u VAE_DIST_BLAS_SWITCH ${FAKE_PICK:+VAE_DIST_FAULT_OPENBLAS_PICKS=$FAKE_PICK} "$auto_bin"
flags=$(grep -m1 '^flags' /proc/cpuinfo || true)
has() { for f in "$@"; do [[ " $flags " == *" $f "* ]] || return 1; done; }
sets=(PRESCOTT)
has avx2 fma && sets+=(HASWELL ZEN)
has avx512f avx512cd avx512bw avx512dq avx512vl && sets+=(SKYLAKEX)
has avx512f avx512cd avx512bw avx512dq avx512vl avx512_bf16 && sets+=(COOPERLAKE)
for set in "${sets[@]}"; do run "$set" env OPENBLAS_CORETYPE="$set" "$bin"; done
python3 - "$work/results" <<'PY'
import json, sys
rows = []
for line in open(sys.argv[1]):
    name, rest = line.split(" ", 1)
    rows.append((name, json.loads(rest)))
print(f"{'OPENBLAS_CORETYPE':<18} {'kernels':<12} {'chosen by':<14} {'sgemm GFLOP/s':>14} {'samples/s':>10}")
for name, r in rows:
    print(f"{name:<18} {r['blas_core']:<12} {r['blas_kernels_chosen_by']:<14} {r['sgemm_gflops']:>14.1f} {r['samples_per_second_total']:>10.0f}")
best = max(rows[1:], key=lambda row: row[1]['samples_per_second_total'])
print(f"unset / fastest named ({best[0]}): {rows[0][1]['samples_per_second_total'] / best[1]['samples_per_second_total']:.3f}")
PY

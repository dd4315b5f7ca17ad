#!/usr/bin/env bash
# Instructions per training step for every gradient exchange, two binaries side by side, single process:
# callgrind counts instructions, not seconds, so the figure does not depend on how busy the machine is.
# Per step = (instructions of `train --max-steps 9` − those of `--max-steps 3`) / 6, on the synthetic set,
# default model, batch 128, one BLAS thread.
#
#   Launch/step-instructions.sh BASE_BINARY NEW_BINARY
#   (after Launch/bench-compare.sh: .build-compare/base/release/vae-dist .build-compare/new/release/vae-dist)
#
# The base may predate `--gradient-exchange STRATEGY`; it gets the flags that selected each strategy then. Needs
# valgrind; the binaries are copied and stripped of debug info first (valgrind 3.19 cannot read Swift 6's).
set -euo pipefail
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp "$1" "$work/base" && cp "$2" "$work/new" && strip -g "$work/base" "$work/new"
source "$(dirname "$0")/legacy-exchange-flags.sh"
count() {  # count BINARY FLAGS STEPS: instructions of the whole run
  local dir; dir=$(mktemp -d -p "$work")
  valgrind --tool=callgrind --callgrind-out-file="$dir/out" "$1" --data synthetic --blas-threads 1 --run-dir "$dir/run" \
    --max-steps "$3" --log-every 1000 $2 >/dev/null 2>"$dir/err" || { cat "$dir/err" >&2; exit 1; }
  awk '/^summary:/ {print $2}' "$dir/out"
}
printf "%-22s %16s %16s %9s\n" strategy "base instr/step" "new instr/step" new/base
for s in allreduce allreduce-overlapped sharded-adam node-shared exact; do
  b=$(( ($(count "$work/base" "$(legacy_flags $s)" 9) - $(count "$work/base" "$(legacy_flags $s)" 3)) / 6 ))
  n=$(( ($(count "$work/new" "--gradient-exchange $s" 9) - $(count "$work/new" "--gradient-exchange $s" 3)) / 6 ))
  printf "%-22s %16d %16d %9.4f\n" "$s" "$b" "$n" "$(python3 -c "print($n / $b)")"
done

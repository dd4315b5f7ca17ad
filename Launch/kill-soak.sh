#!/usr/bin/env bash
# Kill soak: SIGKILL the trainer at random moments, KILLS times in a row, resuming after each, then check that the
# final state equals an uninterrupted run's bit for bit (parameters, Adam moments, logged losses) and that the
# latest checkpoint loaded after every kill.
#
#   Launch/kill-soak.sh [KILLS] [RANKS]        (defaults: 50 kills, 1 = single process; RANKS > 1 kills one rank)
#
# Uses the release binary, the synthetic data set and a checkpoint every 7 steps; prints the figures at the end.
set -uo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
bin=${VAE_DIST_BIN:-$here/.build/release/vae-dist}
kills=${1:-50}; ranks=${2:-1}
steps=${SOAK_STEPS:-2400}
work=$(mktemp -d)
trap 'pkill -9 -f "run-dir $work" 2>/dev/null; rm -rf "$work"' EXIT
args=(--data synthetic --epochs 1000 --max-steps "$steps" --checkpoint-every 7 --log-every 5 --blas-threads 1)

launch() {  # launch DIR [extra args...]: runs in the background, prints nothing
  local dir=$1; shift
  if [ "$ranks" -gt 1 ]; then
    VAE_DIST_MPI_TIMEOUT=600 "$here/Launch/mpirun.sh" -n "$ranks" -- "$bin" "${args[@]}" --run-dir "$dir" "$@" >>"$dir.log" 2>&1 &
  else
    "$bin" "${args[@]}" --run-dir "$dir" "$@" >>"$dir.log" 2>&1 &
  fi
}

state() {  # state DIR: data SHA-256 of the final checkpoint and a hash of the logged losses
  python3 - "$1" "$steps" <<'PY'
import json, re, struct, sys, hashlib
d, steps = sys.argv[1], int(sys.argv[2])
b = open(f"{d}/checkpoint-step-{steps:09d}.safetensors", "rb").read()
n = struct.unpack("<Q", b[:8])[0]
meta = json.loads(b[8:8 + n])["__metadata__"]
lines = [re.sub(r'"(samples_per_second|seconds)":[^,}]*,?', "", l) for l in open(f"{d}/metrics.jsonl").read().splitlines()]
print(meta["data_sha256"], hashlib.sha256("\n".join(lines).encode()).hexdigest(), len(lines))
PY
}

echo "uninterrupted reference: $steps steps at $ranks rank(s)"
launch "$work/reference"; wait
reference=$(state "$work/reference")

dir="$work/soak"; survived=0; loads=0; resumes=0
seed=${SOAK_SEED:-1}; RANDOM=$seed
for ((k = 1; k <= kills; k++)); do
  if [ -f "$dir/latest" ]; then launch "$dir" --resume latest; resumes=$((resumes + 1)); else launch "$dir"; fi
  job=$!
  # 0.1–1.0 s, after mpirun's start-up (≈ 0.7 s at 4 ranks on 2 cores) when there are ranks, so kills land in training.
  [ "$ranks" -gt 1 ] && sleep "${SOAK_STARTUP:-0.7}"
  sleep "0.$((RANDOM % 9 + 1))$((RANDOM % 10))"
  if [ "$ranks" -gt 1 ]; then
    victim=$(pgrep -f "^$bin .*--run-dir $dir" | shuf -n 1 --random-source=<(yes $k))
  else
    victim=$job
  fi
  [ -n "$victim" ] && kill -9 "$victim" 2>/dev/null
  wait "$job" 2>/dev/null
  pkill -9 -f "run-dir $dir" 2>/dev/null; sleep 0.1
  survived=$((survived + 1))
  if [ -f "$dir/latest" ]; then
    "$bin" eval --checkpoint "$dir/$(cat "$dir/latest")" --data synthetic --json >/dev/null 2>>"$dir.eval-errors" \
      && loads=$((loads + 1)) || echo "kill $k: latest checkpoint did not load" >&2
  else
    loads=$((loads + 1))  # killed before the first checkpoint: nothing to load yet, a fresh start is correct
  fi
done
# Finish the run (resuming, unless every kill came before the first checkpoint).
if [ -f "$dir/latest" ]; then launch "$dir" --resume latest; else launch "$dir"; fi
wait $!
final=$(state "$dir")
echo "kills: $survived/$kills survived; latest checkpoint loaded after $loads/$kills kills; $resumes resumes"
echo "reference: $reference"
echo "after soak: $final"
if [ -n "$reference" ] && [ "$reference" = "$final" ]; then echo "PASS: final parameters, Adam moments and logged losses equal the uninterrupted run's"; else echo "FAIL: final state differs"; exit 1; fi

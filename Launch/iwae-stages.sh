#!/usr/bin/env bash
# Burda et al.'s MNIST setup (Config/mnist-iwae-schedule.json: 784–200–200–50–200–200–784, tanh, dynamic
# binarization, batch 20, Adam β = (0.9, 0.999), ε = 1e-4, lr 10⁻³·10^(−i/7) for 3^i epochs) for the first STAGES
# stages (stage i ends after (3^(i+1) − 1)/2 epochs: 1, 4, 13, 40, 121, 364, 1093, 3280), and after each stage the
# importance-weighted test NLL (K = 5000 by default, the whole test set) with the stage's wall time. Resumable: run it
# again (with more stages) and it continues from the run folder's latest checkpoint, inside a stage if one was cut
# short; a stage already trained is neither trained nor evaluated again. Extra arguments go to `vae-dist train`
# (e.g. --objective iwae --samples 5).
#
#   Launch/iwae-stages.sh STAGES [RUN_DIR]                 (default RUN_DIR runs/iwae-burda; needs Data/mnist)
#   LAUNCH="Launch/mpirun.sh -n 16" Launch/iwae-stages.sh 8   (the whole schedule on 16 ranks)
#   K=5000 IMAGES=10000 …                                   (importance samples, test images)
#   EVALUATE=last …                                         (the IS-NLL after the last stage only)
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
bin=${VAE_DIST_BIN:-$here/.build/release/vae-dist}
stages=${1:?give the number of stages, 1 to 8}
run=${2:-runs/iwae-burda}
shift $(( $# >= 2 ? 2 : 1 ))
k=${K:-5000}
images=${IMAGES:-10000}
launch=${LAUNCH:-}
evaluate=${EVALUATE:-each}
[ -x "$bin" ] || { echo "error: no $bin; build it first: swift build -c release" >&2; exit 1; }
cd "$here"
# Epochs the run folder's latest checkpoint has completed (0 without one), from its safetensors metadata.
trained_epochs() {
  [ -f "$run/latest" ] || { echo 0; return; }
  python3 - "$run/$(cat "$run/latest")" <<'PY'
import json, struct, sys
with open(sys.argv[1], "rb") as f:
    header = json.loads(f.read(struct.unpack("<Q", f.read(8))[0]))
print(int(header["__metadata__"]["epoch"]))
PY
}
for stage in $(seq 0 $((stages - 1))); do
  epochs=$(( (3 ** (stage + 1) - 1) / 2 ))
  before=$(trained_epochs)
  if [ "$before" -ge "$epochs" ]; then
    # Its checkpoint is gone or later: the latest one is not this stage's, so nothing is evaluated for it.
    printf 'stage %d (epoch %d): trained before (the run is at epoch %d)\n' "$stage" "$epochs" "$before"
    continue
  fi
  start=$(date +%s.%N)
  resume=()
  [ -f "$run/latest" ] && resume=(--resume latest)
  # $launch: empty for one process, or an MPI launcher such as "Launch/mpirun.sh -n 16".
  if [ -n "$launch" ]; then
    $launch train --config Config/mnist-iwae-schedule.json --epochs "$epochs" --run-dir "$run" -q "${resume[@]}" "$@"
  else
    "$bin" train --config Config/mnist-iwae-schedule.json --epochs "$epochs" --run-dir "$run" -q "${resume[@]}" "$@"
  fi
  trained=$(echo "$(date +%s.%N) - $start" | bc)
  if [ "$evaluate" = last ] && [ "$stage" -lt $((stages - 1)) ]; then
    printf 'stage %d (epoch %d): training %.0f s\n' "$stage" "$epochs" "$trained"
    continue
  fi
  checkpoint="$run/$(cat "$run/latest")"
  start=$(date +%s.%N)
  nll=$("$bin" eval --checkpoint "$checkpoint" --data Data/mnist --importance-samples "$k" --images "$images" --json \
    | python3 -c 'import json,sys; d=json.load(sys.stdin); print("%.2f ± %.2f" % (d["nll"], d["nll_standard_error"]))')
  evaluated=$(echo "$(date +%s.%N) - $start" | bc)
  printf 'stage %d (epoch %d): IS-NLL (K = %d, %d test images) %s; training %.0f s, evaluation %.0f s\n' \
    "$stage" "$epochs" "$k" "$images" "$nll" "$trained" "$evaluated"
done

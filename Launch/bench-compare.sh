#!/usr/bin/env bash
# Before/after speed of every gradient exchange, in one script run: builds git refs BASE (default: the first
# parent) and NEW (default: HEAD; both from clean worktrees, so uncommitted edits never leak in) into
# .build-compare/, then runs `vae-dist bench --json`
# for each strategy, alternating the two binaries ROUNDS times (default 3), single process and under
# `mpirun -n 2`, and prints the best and the median samples/s of each and their ratios.
#
#   Launch/bench-compare.sh [BASE] [ROUNDS] [NEW]
#
# The base may predate `--gradient-exchange STRATEGY`: it is given the flags that selected each strategy then
# (--overlap-allreduce, --sharded-optimizer, --reduction exact).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
base=${1:-HEAD~1}  # a commit, tag or branch
rounds=${2:-3}
export VAE_DIST_MPI_TIMEOUT=${VAE_DIST_MPI_TIMEOUT:-300}
target=${3:-HEAD}
mkdir -p .build-compare
build() {  # build REF NAME: a clean worktree of REF, built in release into .build-compare/NAME (kept per commit)
  local tree=.build-compare/src-$2 commit; commit=$(git rev-parse "$1^{commit}")
  [ -x ".build-compare/$2/release/vae-dist" ] && [ "$(cat ".build-compare/$2.commit" 2>/dev/null)" = "$commit" ] && return
  rm -rf "$tree"; git worktree prune
  git worktree add --detach "$tree" "$1" >/dev/null
  (cd "$tree" && swift build -c release --scratch-path "$here/.build-compare/$2" >/dev/null)
  git worktree remove --force "$tree"
  echo "$commit" > ".build-compare/$2.commit"
}
build "$base" base
build "$target" new
old=$here/.build-compare/base/release/vae-dist
new=$here/.build-compare/new/release/vae-dist
source "$here/Launch/legacy-exchange-flags.sh"
# A base from before --gradient-exchange gets the flags that selected each strategy then.
if "$old" bench --help 2>/dev/null | grep -q -- '--gradient-exchange'; then legacy_base=0; else legacy_base=1; fi
results=$(mktemp)
trap 'rm -f "$results"' EXIT
for ranks in 1 2; do
  for strategy in allreduce allreduce-overlapped sharded-adam node-shared exact; do
    for round in $(seq "$rounds"); do
      for which in base new; do
        if [ $which = base ]; then bin=$old; else bin=$new; fi
        if [ $which = base ] && [ $legacy_base = 1 ]; then flags=$(legacy_flags "$strategy"); else flags="--gradient-exchange $strategy"; fi
        if [ "$ranks" = 1 ]; then run=("$bin"); else run=("$here/Launch/mpirun.sh" -n "$ranks" -- "$bin"); fi
        line=$("${run[@]}" bench --json --steps 240 $flags | grep '^{')
        echo "$ranks $strategy $which $line" >> "$results"
      done
    done
  done
done
python3 - "$results" <<'PY'
import json, statistics, sys
runs = {}
for line in open(sys.argv[1]):
    ranks, strategy, which, payload = line.split(" ", 3)
    runs.setdefault((int(ranks), strategy, which), []).append(json.loads(payload)["samples_per_second_total"])
print(f"{'ranks':>5} {'strategy':<22} {'base best':>10} {'new best':>10} {'best ratio':>10} {'base median':>12} {'new median':>11} {'median ratio':>12}  (samples/s, all ranks; {len(next(iter(runs.values())))} rounds)")
for (ranks, strategy, which) in sorted(k for k in runs if k[2] == "base"):
    b, n = runs[(ranks, strategy, "base")], runs[(ranks, strategy, "new")]
    print(f"{ranks:>5} {strategy:<22} {max(b):>10.0f} {max(n):>10.0f} {max(n) / max(b):>10.3f} "
          f"{statistics.median(b):>12.0f} {statistics.median(n):>11.0f} {statistics.median(n) / statistics.median(b):>12.3f}")
PY

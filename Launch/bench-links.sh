#!/usr/bin/env bash
# Multi-host speed over ordinary links: two network-namespace hosts (Launch/two-hosts.sh), the veth shaped with
# `tc qdisc … tbf` to each rate, `vae-dist bench` on 2 hosts × 2 ranks (128 rows per rank, one BLAS thread) per rate
# and per gradient exchange, with the unshaped link and one host's -n 4 as baselines, in one script run. Prints
# samples/s, the exchange's share of the step, and each figure against the unshaped link. Root; not part of CI.
#
#   Launch/bench-links.sh [RATE ...]      (default: 10gbit 1gbit 200mbit)
#   VAE_DIST_BIN=path  EXCHANGES="node-shared node-shared-bf16 allreduce"  STEPS=60  Launch/bench-links.sh 1gbit
#   QUALITY=1: also the 10-epoch MNIST test loss on 2 hosts (unshaped) with and without bf16 compression.
# node-shared-bf16 is node-shared with training.cross_node_compression bf16 (error feedback); the -overlap variants
# add training.cross_node_overlap (the hop between hosts starts for the decoder's part during backward); hybrid is
# one rank per host with --threads 2 (the same 4 ranks as threads; "one-host" then is -n 2 × 2 threads).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
bin=$(realpath "${VAE_DIST_BIN:-.build/release/vae-dist}")
rates=("$@"); [ ${#rates[@]} -gt 0 ] || rates=(10gbit 1gbit 200mbit)
exchanges=(${EXCHANGES:-node-shared node-shared-bf16 allreduce})
steps=${STEPS:-60}
source "$root/Launch/two-hosts.sh"
results=$work/results
shape() {  # RATE or "none", on both ends of the veth
  for end in "$nsa:$vetha" "$nsb:$vethb"; do
    ip netns exec "${end%%:*}" tc qdisc del dev "${end#*:}" root 2>/dev/null || true
    [ "$1" = none ] || ip netns exec "${end%%:*}" tc qdisc add dev "${end#*:}" root tbf rate "$1" burst 256kb latency 100ms
  done
}
flags() {
  case $1 in
    node-shared-bf16) echo "--gradient-exchange node-shared --set training.cross_node_compression=bf16" ;;
    node-shared-overlap) echo "--gradient-exchange node-shared --set training.cross_node_overlap=true" ;;
    node-shared-bf16-overlap) echo "--gradient-exchange node-shared --set training.cross_node_compression=bf16 --set training.cross_node_overlap=true" ;;
    hybrid) echo "--gradient-exchange node-shared --threads 2" ;;
    hybrid-bf16) echo "--gradient-exchange node-shared --threads 2 --set training.cross_node_compression=bf16" ;;
    *) echo "--gradient-exchange $1" ;;
  esac
}
ranks() { case $1 in hybrid*) echo 2 ;; *) echo 4 ;; esac; }  # hybrid: one rank per host × 2 threads
for exchange in "${exchanges[@]}"; do
  export TWO_HOSTS_RANKS=$(ranks "$exchange")
  VAE_DIST_MPI_TIMEOUT=600 Launch/mpirun.sh -n "$TWO_HOSTS_RANKS" -- "$bin" bench --json --steps "$steps" --warmup 10 \
    $(flags "$exchange") | grep '^{' | sed "s/^/one-host $exchange /" >>"$results"
  for rate in none "${rates[@]}"; do
    shape "$rate"
    two_hosts bench --json --steps "$steps" --warmup 10 $(flags "$exchange") | grep '^{' \
      | sed "s/^/$rate $exchange /" >>"$results"
  done
done
if [ "${QUALITY:-0}" = 1 ]; then
  shape none
  export TWO_HOSTS_RANKS=4
  for exchange in node-shared node-shared-bf16; do
    two_hosts train --data "$root/Data/mnist" --blas-threads 1 --log-every 100000 $(flags "$exchange") \
      --run-dir "$work/quality-$exchange" > "$work/quality-$exchange.log" 2>&1
    echo "$exchange: 10-epoch MNIST test loss per epoch $(grep -o '"test_loss":[0-9.]*' "$work/quality-$exchange/metrics.jsonl" | cut -d: -f2 | xargs printf '%.2f ')"
  done
fi
shape none
python3 - "$results" <<'PY'
import json, sys
rows = []
for line in open(sys.argv[1]):
    rate, exchange, text = line.split(" ", 2)
    rows.append((rate, exchange, json.loads(text)))
unshaped = {e: r["samples_per_second_total"] for rate, e, r in rows if rate == "none"}
print(f"{'link':<10} {'exchange':<25} {'samples/s':>10} {'exchange share':>15} {'vs unshaped':>12}")
for rate, exchange, r in rows:
    link = {"none": "unshaped"}.get(rate, rate)
    print(f"{link:<10} {exchange:<25} {r['samples_per_second_total']:>10.0f} {100 * r['allreduce_share']:>14.1f}% "
          f"{r['samples_per_second_total'] / unshaped[exchange]:>11.3f}")
PY

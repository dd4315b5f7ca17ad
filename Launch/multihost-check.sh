#!/usr/bin/env bash
# Two hosts on one machine: network namespaces joined by a veth pair, OpenMPI over TCP between them with a launcher
# agent in place of ssh, 2 hosts × 2 ranks of vae-dist. Checks, in order:
#   1. two nodes are detected and the node-shared exchange is chosen; the losses of 6 steps equal one host's -n 4
#      within float tolerance (1e-5 relative);
#   2. with --gradient-exchange exact the checkpoint equals a single process's bit for bit;
#   3. a resume across the hosts is exact (stop at step 3, resume to 6: the same checkpoint);
#   4. the cross-host hop in bf16 (training.cross_node_compression) trains with identical replicas;
#   5. with the link cut mid-run the job ends within 2 × the collective timeout, with a message naming the lost
#      host or the stalled operation, and no vae-dist or orted process is left on either host.
# Needs root (ip netns) and iproute2; exits 77 with a line saying why when it cannot make namespaces. Removes its
# namespaces and kills what it started whatever happens. The addresses are its own, on the veth only.
#
#   Launch/multihost-check.sh [VAE_DIST_BINARY]      (default .build/release/vae-dist)
#   VAE_DIST_MULTIHOST_SUBNET=10.213.77 (the /24 used)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
bin=$(realpath "${1:-.build/release/vae-dist}")
source "$root/Launch/two-hosts.sh"
[ -n "${VAE_DIST_MULTIHOST_DEBUG:-}" ] && set -x

# The model and data of every run: small, synthetic, one BLAS thread per rank.
model=(--data synthetic --batch-size 64 --blas-threads 1 --log-every 1 --set "model.encoder_hidden=[64]"
  --set model.latent_size=4 --set "model.decoder_hidden=[64]")

fail() { echo "multihost FAILED: $*" >&2; exit 1; }
losses() { grep -o '"loss":[-0-9.e+]*' "$1/metrics.jsonl" | cut -d: -f2; }
state() { grep -a -o '"data_sha256":"[0-9a-f]*"' "$1" | head -1; }

# 1. node-shared across 2 hosts vs one host's -n 4.
two_hosts "${model[@]}" --max-steps 6 --run-dir "$work/hosts2" >"$work/hosts2.log" 2>&1 || { cat "$work/hosts2.log"; fail "2 hosts × 2 ranks did not train"; }
grep -q "node-shared, 2 rank(s) per node, 2 node(s)" "$work/hosts2.log" || { cat "$work/hosts2.log"; fail "two nodes and node-shared not reported"; }
VAE_DIST_MPI_TIMEOUT=120 Launch/mpirun.sh -n 4 -- "$bin" "${model[@]}" --max-steps 6 --run-dir "$work/host1" >"$work/host1.log" 2>&1 \
  || { cat "$work/host1.log"; fail "one host -n 4 did not train"; }
paste <(losses "$work/hosts2") <(losses "$work/host1") | awk '
  { n++; d = $1 - $2; if (d < 0) d = -d; if (d > 1e-5 * ($2 < 0 ? -$2 : $2)) bad++; if (d > worst) worst = d }
  END { if (n != 6 || bad) { print "losses differ (" n " steps, " bad " beyond 1e-5 relative)"; exit 1 }
        printf "1. node-shared on 2 hosts: 2 nodes; 6 losses equal one host -n 4 (max |diff| %.2e)\n", worst }' \
  || fail "the losses on 2 hosts differ from one host's"

# 2. exact: 2 hosts × 2 ranks vs one process, bit for bit.
exact=(--gradient-exchange exact --micro-batches 4)
two_hosts "${model[@]}" "${exact[@]}" --max-steps 6 --run-dir "$work/exact2" >"$work/exact2.log" 2>&1 || { cat "$work/exact2.log"; fail "exact on 2 hosts"; }
"$bin" "${model[@]}" "${exact[@]}" --max-steps 6 --run-dir "$work/exact1" >"$work/exact1.log" 2>&1 || { cat "$work/exact1.log"; fail "exact in one process"; }
checkpoint=checkpoint-step-000000006.safetensors
[ "$(state "$work/exact2/$checkpoint")" = "$(state "$work/exact1/$checkpoint")" ] && [ -n "$(state "$work/exact1/$checkpoint")" ] \
  || fail "exact on 2 hosts is not bit-identical to one process"
echo "2. exact on 2 hosts × 2 ranks: checkpoint bit-identical to one process"

# 3. resume across the hosts: 3 steps, then resume to 6.
two_hosts "${model[@]}" "${exact[@]}" --max-steps 3 --run-dir "$work/resume" >"$work/resume.log" 2>&1 || { cat "$work/resume.log"; fail "resume, first part"; }
two_hosts --resume latest --run-dir "$work/resume" --max-steps 6 >>"$work/resume.log" 2>&1 || { cat "$work/resume.log"; fail "resume, second part"; }
[ "$(state "$work/resume/$checkpoint")" = "$(state "$work/exact1/$checkpoint")" ] || fail "the resume across hosts is not exact"
echo "3. resume across the hosts (step 3 → 6): bit-identical"

# 4. bf16 across the hosts: trains, and the replicas stay identical (parameter hashes compared every step).
two_hosts "${model[@]}" --max-steps 6 --gradient-exchange node-shared --set training.cross_node_compression=bf16 \
  --divergence-check-every 1 --run-dir "$work/bf16" >"$work/bf16.log" 2>&1 || { cat "$work/bf16.log"; fail "bf16 across hosts"; }
grep -q "2 node(s), bf16 across nodes" "$work/bf16.log" || { cat "$work/bf16.log"; fail "bf16 compression not reported"; }
paste <(losses "$work/bf16") <(losses "$work/hosts2") | awk '
  { n++; d = $1 - $2; if (d < 0) d = -d; if (d > 1e-2 * ($2 < 0 ? -$2 : $2)) bad++; if (d > worst) worst = d }
  END { if (n != 6 || bad) { print "bf16 losses stray (" n " steps, " bad " beyond 1%)"; exit 1 }
        printf "4. bf16 across the hosts: replicas identical at every step; 6 losses within %.2e of float32\n", worst }' \
  || fail "the bf16 run's losses stray from float32's"

# 5. a partition: cut the link mid-run.
timeout=15
two_hosts "${model[@]}" --max-steps 1000000 --collective-timeout "$timeout" --run-dir "$work/cut" >"$work/cut.log" 2>&1 &
job=$!
for _ in $(seq 600); do
  [ "$(grep -c '"type":"step"' "$work/cut/metrics.jsonl" 2>/dev/null || echo 0)" -ge 5 ] && break
  sleep 0.1
done
[ "$(grep -c '"type":"step"' "$work/cut/metrics.jsonl" 2>/dev/null || echo 0)" -ge 5 ] || { kill $job; cat "$work/cut.log"; fail "the run to cut did not start"; }
ip -n "$nsa" link set "$vetha" down
start=$(date +%s.%N)
wait $job && status=0 || status=$?
elapsed=$(echo "$(date +%s.%N) - $start" | bc)
left=""
for _ in $(seq 50); do
  left=$( (ip netns pids "$nsa"; ip netns pids "$nsb") 2>/dev/null | xargs -r ps -o comm= -p 2>/dev/null | grep -E 'vae-dist|orted' || true)
  [ -z "$left" ] && break
  sleep 0.1
done
[ "$status" != 0 ] || fail "the cut job exited 0"
awk -v e="$elapsed" -v t="$timeout" 'BEGIN { exit !(e < 2 * t) }' || { cat "$work/cut.log"; fail "the cut job took $elapsed s (limit $((2 * timeout)) s)"; }
grep -qE "lost communication|watchdog|unreachable|stalled" "$work/cut.log" || { cat "$work/cut.log"; fail "no message names the lost host or the stalled operation"; }
[ -z "$left" ] || fail "processes left after the partition: $left"
reason=$(grep -m1 -oE "(lost communication[^.]*|watchdog[^;.]*)" "$work/cut.log" || true)
remote=$(grep -m1 -oE "Remote daemon:.*on node [^ ]+" "$work/cut.log" | sed 's/  */ /g' || true)
[ -n "$remote" ] && reason="$reason; $remote"
printf '5. link cut: the job ended after %.1f s (limit %d s, exit %d: %s); no vae-dist or orted left\n' "$elapsed" $((2 * timeout)) "$status" "$reason"
echo "multihost ok"

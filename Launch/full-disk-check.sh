#!/usr/bin/env bash
# Full disks, for real: trains into run folders on small tmpfs mounts (root), so that the checkpoint, metrics.jsonl
# and the event file each in turn are the write that hits ENOSPC, and checks after every run: exit status 1 and
# one `error:` line naming the file, `latest` pointing at a checkpoint that loads, every metrics line whole JSON,
# the event file whole TFRecords, no temp file left; then resumes each run on a roomy disk.
#
#   Launch/full-disk-check.sh [SIZES_KB...]      (default: 64 96 128 192 256 384)
#
# Each size runs twice: with a checkpoint every 50 steps (the checkpoint is the write that fills the disk) and with
# checkpoints only at the stop (metrics.jsonl or the event file fills it).
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "needs root (mount -t tmpfs)" >&2; exit 1; }
bin=$PWD/.build/release/vae-dist
[ -x "$bin" ] || swift build -c release >/dev/null
sizes=("$@")
[ ${#sizes[@]} -gt 0 ] || sizes=(64 96 128 192 256 384)
work=$(mktemp -d)
mnt=$work/disk
mkdir -p "$mnt"
trap 'umount "$mnt" 2>/dev/null || true; rm -rf "$work"' EXIT
# A 784–2–1–2–784 model: a ≈ 48 KB checkpoint, a few hundred bytes of metrics and events per step.
for every in 50 0; do
echo '{"model": {"encoder_hidden": [2], "latent_size": 1, "decoder_hidden": [2]}, "training": {"batch_size": 32}, "data": {"source": "synthetic"}, "run": {"log_every": 1, "checkpoint_every": '$every', "keep_checkpoints": 2}}' >"$work/tiny.json"
config=$work/tiny.json
echo "== checkpoint_every $every"
printf "%7s %6s %-40s %-6s %-8s %-7s %-6s %s\n" "disk" "exit" "failed writes (in the error line)" "latest" "metrics" "events" "temp" "resumed"
for kb in "${sizes[@]}"; do
  mount -t tmpfs -o size="${kb}k" tmpfs "$mnt"
  set +e
  "$bin" --config "$config" --run-dir "$mnt/run" --max-steps 2000 --blas-threads 1 >"$work/out" 2>"$work/err"
  status=$?
  set -e
  failed=$(grep -m1 '^error:' "$work/err" | grep -oE '(metrics\.jsonl|events\.out\.[^ ]*|\.vae-dist-tmp\.[a-z]+)' \
    | sed 's/events\.out.*/events/; s/\.vae-dist-tmp\./tmp-/' | tr '\n' ' ' || true)
  lines=$(grep -c '^error:' "$work/err" || true)
  latest=no; [ -f "$mnt/run/latest" ] && "$bin" eval --checkpoint "$mnt/run/$(cat "$mnt/run/latest")" --data synthetic >/dev/null 2>&1 && latest=loads
  metrics=$(python3 -c "import json,sys; [json.loads(l) for l in open(sys.argv[1])]; print('whole')" "$mnt/run/metrics.jsonl" 2>/dev/null || echo torn)
  events=$(python3 - "$mnt/run" <<'PY'
import glob, struct, sys
ok = True
for path in glob.glob(sys.argv[1] + "/events.out.*"):
    data = open(path, "rb").read()
    offset = 0
    while offset + 12 <= len(data):
        offset += 12 + struct.unpack("<Q", data[offset:offset + 8])[0] + 4
    ok = ok and offset == len(data)
print("whole" if ok else "torn")
PY
)
  temp=none; ls -a "$mnt/run" | grep -q '^\.vae-dist-tmp' && temp=left
  # Resume on a roomy disk: copy the folder out, continue 10 steps past its checkpoint.
  rm -rf "$work/run-$kb"; cp -a "$mnt/run" "$work/run-$kb"
  umount "$mnt"
  resumed=n/a
  if [ "$latest" = loads ]; then
    step=$(sed 's/[^0-9]//g' "$work/run-$kb/latest" | sed 's/^0*//')
    "$bin" --config "$config" --run-dir "$work/run-$kb" --max-steps $((step + 10)) --resume latest --blas-threads 1 \
      >/dev/null 2>&1 && resumed="to step $((step + 10))" || resumed=FAILED
  fi
  printf "%5sKB %6s %-40s %-6s %-8s %-7s %-6s %s\n" "$kb" "$status" "${failed:-(none)}($lines line)" "$latest" "$metrics" "$events" "$temp" "$resumed"
done
done

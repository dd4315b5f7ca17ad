#!/usr/bin/env bash
# Coverage-guided fuzzing of the checkpoint reader (safetensors parsing and every checkpoint check) with libFuzzer.
#
#   Launch/fuzz-checkpoint.sh [SECONDS]          (default 60)
#
# Builds Tests/Fuzz with -sanitize=fuzzer into .build-fuzz, seeds a corpus with a valid checkpoint, fuzzes for
# SECONDS, and prints libFuzzer's totals. A crash or a message that does not name the file stops it with the input
# saved as .build-fuzz/crash-*; replay one with `.build/debug/vae-dist-fuzz-checkpoint FILE`.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
swift build -c release --scratch-path .build-fuzz --product vae-dist-fuzz-checkpoint \
  -Xswiftc -sanitize=fuzzer -Xswiftc -DFUZZING >/dev/null
swift build --product vae-dist-fuzz-checkpoint >/dev/null
corpus=.build-fuzz/corpus
mkdir -p "$corpus"
[ -n "$(ls -A "$corpus")" ] || .build/debug/vae-dist-fuzz-checkpoint --write-seed "$corpus/seed.safetensors"
.build-fuzz/release/vae-dist-fuzz-checkpoint "$corpus" -max_total_time="$seconds" -print_final_stats=1 \
  -artifact_prefix=.build-fuzz/ -max_len=8192 2>&1 | tail -n 25

#!/usr/bin/env bash
# Coverage-guided fuzzing with libFuzzer of the checkpoint reader (safetensors parsing and every checkpoint check)
# or of the NPY header parser.
#
#   Launch/fuzz.sh checkpoint [SECONDS]     (default 60)
#   Launch/fuzz.sh npy [SECONDS]
#
# Builds Tests/Fuzz with -sanitize=fuzzer into .build-fuzz, seeds a corpus with a valid file, fuzzes for SECONDS,
# and prints libFuzzer's totals. A crash or a message that does not name the file stops it with the input saved as
# .build-fuzz/TARGET-crash-*; replay one with `.build/debug/vae-dist-fuzz [--npy] FILE`.
set -euo pipefail
cd "$(dirname "$0")/.."
target=${1:?usage: Launch/fuzz.sh checkpoint|npy [SECONDS]}
seconds=${2:-60}
swift build -c release --scratch-path .build-fuzz --product vae-dist-fuzz \
  -Xswiftc -sanitize=fuzzer -Xswiftc -DFUZZING >/dev/null
swift build --product vae-dist-fuzz >/dev/null
corpus=.build-fuzz/corpus-$target
mkdir -p "$corpus"
case "$target" in
  checkpoint)
    [ -n "$(ls -A "$corpus")" ] || .build/debug/vae-dist-fuzz --write-seed "$corpus/seed.safetensors" ;;
  npy)
    # Seeds: headers as numpy.save writes them (versions 1 and 2, uint8 and float32).
    [ -n "$(ls -A "$corpus")" ] || python3 - "$corpus" <<'PY'
import struct, sys
for n, (version, descr, shape) in enumerate([(1, "|u1", "(3, 32, 32)"), (2, "<f4", "(4000, 50)"), (1, "<f8", "(7,)")]):
    text = "{'descr': '%s', 'fortran_order': False, 'shape': %s, }" % (descr, shape)
    prefix = 10 if version == 1 else 12
    text += " " * ((64 - (prefix + len(text) + 1) % 64) % 64) + "\n"
    length = struct.pack("<H" if version == 1 else "<I", len(text))
    open(f"{sys.argv[1]}/seed-{n}.npy", "wb").write(b"\x93NUMPY" + bytes([version, 0]) + length + text.encode() + bytes(16))
PY
    ;;
  *) echo "unknown target $target (checkpoint or npy)" >&2; exit 2 ;;
esac
VAE_DIST_FUZZ_TARGET=$target .build-fuzz/release/vae-dist-fuzz "$corpus" -max_total_time="$seconds" \
  -print_final_stats=1 -artifact_prefix=".build-fuzz/$target-" -max_len=8192 2>&1 | tail -n 25

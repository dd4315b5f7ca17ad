#!/usr/bin/env bash
# Builds a release vae-dist that carries its Swift runtime and installs it as PREFIX/bin/vae-dist, so
# `mpirun -n 8 vae-dist` works as written and the binary can be copied to machines without Swift.
#
#   Launch/install.sh [PREFIX]          (default /usr/local; e.g. Launch/install.sh ~/.local)
#
# The binary links the Swift standard library, Foundation and Dispatch statically (--static-swift-stdlib); it needs
# only what every node has from Debian: OpenMPI (libopenmpi3), OpenBLAS (libopenblas0), libpng16, libturbojpeg0 and zlib.
# `ldd PREFIX/bin/vae-dist` shows the list (printed at the end). Needs Swift 6 on PATH and, to build, the -dev
# packages (Launch/setup.sh --deps installs them).
set -euo pipefail
cd "$(dirname "$0")/.."
prefix=${1:-/usr/local}
Launch/setup.sh --deps
swift build -c release --static-swift-stdlib --product vae-dist
bin=$(swift build -c release --static-swift-stdlib --show-bin-path)/vae-dist
mkdir -p "$prefix/bin"
install -m 755 "$bin" "$prefix/bin/vae-dist.tmp.$$"
mv -f "$prefix/bin/vae-dist.tmp.$$" "$prefix/bin/vae-dist"
echo "installed $prefix/bin/vae-dist ($("$prefix/bin/vae-dist" --version))"
toolchain=$(dirname "$(dirname "$(command -v swift)")")
if ldd "$prefix/bin/vae-dist" | grep -F "$toolchain" >&2; then
  echo "error: the binary still links files from the Swift toolchain ($toolchain) above" >&2; exit 1
fi
echo "it links only system libraries:"
ldd "$prefix/bin/vae-dist" | sed 's/ (0x[0-9a-f]*)$//; s/^/  /'
case ":$PATH:" in *":$prefix/bin:"*) ;; *) echo "add it to PATH: export PATH=$prefix/bin:\$PATH" ;; esac

#!/usr/bin/env bash
# The Python the tests use (never the main command): a virtual environment in .venv-tests with numpy, the
# safetensors and tensorboard packages and Pillow (the reference picture decoder and resizer) (PyPI), created once, so nothing is installed into the system interpreter
# (it works where pip refuses system installs, PEP 668). Prints the interpreter's path.
#
#   Launch/python-env.sh                 (VAE_DIST_TEST_TORCH=1 also installs torch, for the real strict load)
#
# Needs python3 with the venv module (Debian: python3-venv).
set -euo pipefail
cd "$(dirname "$0")/.."
venv=.venv-tests
python=$venv/bin/python3
want='numpy safetensors==0.8.0 tensorboard==2.21.0 pillow'
if ! "$python" -c "import numpy, safetensors, tensorboard, PIL" 2>/dev/null; then
  rm -rf "$venv"
  if ! python3 -m venv "$venv" >&2; then
    rm -rf "$venv"
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
      apt-get install -y python3-venv >&2 || { apt-get update >&2 && apt-get install -y python3-venv >&2; }
      python3 -m venv "$venv" >&2
    else
      echo "error: python3 -m venv failed; install the venv module (Debian: sudo apt-get install -y python3-venv)" >&2; exit 1
    fi
  fi
  "$python" -m pip install --quiet --disable-pip-version-check $want >&2
fi
if [ "${VAE_DIST_TEST_TORCH:-0}" = 1 ] && ! "$python" -c "import torch" 2>/dev/null; then
  "$python" -m pip install --quiet --disable-pip-version-check torch >&2
fi
echo "$PWD/$python"

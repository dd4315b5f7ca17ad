#!/usr/bin/env bash
# Writes Tests/VAEDistTests/Fixtures/pytorch-gradients.json, pytorch-gradients-conv.json and
# pytorch-gradients-iwae-vamp.json: PyTorch's autograd on the default VAE, on Config/mnist-conv.json's twin and on the
# default VAE with the IWAE bound (K = 3) and a VampPrior (4 pseudo-inputs) (Tests/python/pytorch_gradients.py, vae_twin.py), in a
# throwaway venv; the JSON is committed and PyTorchGradientTests compares vae-dist's backward with it. CI never runs
# this (no torch there).
#
#   Launch/pytorch-gradients.sh                         (torch from PyPI)
#   TORCH_WHEEL=/path/torch-…-cpu-….whl Launch/pytorch-gradients.sh
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
venv=$(mktemp -d)
trap 'rm -rf "$venv"' EXIT
python3 -m venv "$venv"
"$venv/bin/pip" install --quiet "${TORCH_WHEEL:-torch}" numpy
"$venv/bin/python" "$here/Tests/python/pytorch_gradients.py" "$here/Tests/VAEDistTests/Fixtures/pytorch-gradients.json" \
    "$here/Config/mnist-conv.json" "$here/Tests/VAEDistTests/Fixtures/pytorch-gradients-conv.json" \
    "$here/Tests/VAEDistTests/Fixtures/pytorch-gradients-iwae-vamp.json"

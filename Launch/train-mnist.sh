#!/usr/bin/env bash
# The main job on a fresh machine: install packages, build, fetch MNIST, train the default configuration
# (the PyTorch MNIST VAE example, 10 epochs) single-process. Extra arguments go to `vae-dist train`.
#
#   Launch/train-mnist.sh [--epochs N] [--run-dir DIR] [--resume latest] ...
set -euo pipefail
cd "$(dirname "$0")/.."
Launch/setup.sh
Launch/fetch-mnist.sh Data/mnist
exec .build/release/vae-dist train --config Config/mnist-pytorch-example.json --data Data/mnist "$@"

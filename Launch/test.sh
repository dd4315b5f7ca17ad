#!/usr/bin/env bash
# The whole test suite: installs packages if missing (python3-venv too), makes the tests' Python environment,
# fetches MNIST (so the real-data reader test runs), builds the tests and runs them.
set -euo pipefail
cd "$(dirname "$0")/.."
Launch/setup.sh --deps
# The Python tests run in a virtual environment of their own (numpy, safetensors, tensorboard), never the system's.
VAE_DIST_PYTHON=$(Launch/python-env.sh)
export VAE_DIST_PYTHON
Launch/fetch-mnist.sh Data/mnist
# The tree is clean under the toolchain's formatter with the project's .swift-format (`swift format -i -r Sources
# Tests Package.swift Plugins` makes it so).
swift format lint --strict -r Sources Tests Package.swift Plugins
swift build --build-tests
swift test --skip-build

#!/usr/bin/env bash
# The whole test suite: installs packages if missing, fetches MNIST (so the real-data reader test runs),
# builds the tests and runs them.
set -euo pipefail
cd "$(dirname "$0")/.."
Launch/setup.sh --deps
Launch/fetch-mnist.sh Data/mnist
swift build --build-tests
swift test --skip-build

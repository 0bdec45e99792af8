#!/usr/bin/env bash
# THE test command: brings the environment up (Docker engine with BuildKit, arm64 emulation, local
# registry, base images), builds the kiln frontend image, then runs every test of the workspace with
# end-to-end tests required (KILN_E2E=1 makes an e2e test fail, not skip, when it finds no daemon).
#   hack/test.sh [extra cargo test arguments]
# KILN_IMAGE=TAG builds and tests the frontend image under another tag (default kiln:dev), so that
# several checkouts can run their suites against one daemon without replacing each other's image.
# Needs root (see hack/env-up.sh).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

hack/env-up.sh
image=${KILN_IMAGE:-kiln:dev}
hack/frontend-image.sh "$image"
# Start every run from a fresh machine's BuildKit state (see the script for why).
hack/buildkit-reset.sh

# A real Debian-signed kernel module for the module-signature tests (downloaded once, cached).
KILN_DEBIAN_MODULE=$(hack/debian-module.sh)
export KILN_DEBIAN_MODULE
export KILN_E2E=1
export KILN_IMAGE=$image
cargo test --workspace --no-fail-fast "$@"

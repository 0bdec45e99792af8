#!/usr/bin/env bash
# Benchmarks: figures, never pass/fail. Run on a quiet machine; quote medians and ratios.
#   1. loading + planning, then converting, every target of the siderolabs/extensions corpus, both platforms
#      (cargo bench), and the growth of one 1k/10k/100k-script step and a 1k/10k-package chain
#   2. validating a generated 100,000-entry rootfs (cargo bench -p kiln-validate)
#   3. kiln against BuildKit's built-in Dockerfile frontend building the same image
#      (extensions/examples/hello-service, benches/floor/Dockerfile): cold, fully cached and one file changed,
#      for linux/amd64 and both platforms, with the in-daemon time from the progress trace, and the
#      floor once more through kiln's image forwarding it unchanged (KILN_BENCH_FORWARD=1: what any
#      `# syntax` frontend pays before its own work); then a
#      generated 30-package tree, cached and with one leaf changed (benches/build_compare.rs).
#      KILN_IMAGE=TAG picks the frontend image (default kiln:dev), KILN_BENCH_ROUNDS the rounds (5).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

cargo bench --bench plan_corpus
cargo bench --bench large_step
cargo bench -p kiln-validate --bench rootfs
cargo bench --bench build_compare

#!/usr/bin/env bash
# Benchmarks: figures, never pass/fail. Run on a quiet machine; quote medians and ratios.
#   1. loading + planning every target of the siderolabs/extensions corpus, both platforms (cargo bench)
#   2. validating a generated 100,000-entry rootfs (cargo bench -p kiln-validate)
#   3. a fully cached `docker buildx build` of extensions/examples/hello-service through kiln, against the same
#      image through BuildKit's own Dockerfile frontend (the floor), paired by farm-bench when it exists.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

cargo bench --bench plan_corpus
cargo bench -p kiln-validate --bench rootfs

if ! docker buildx version >/dev/null 2>&1 || ! docker image inspect "${KILN_IMAGE:-kiln:dev}" >/dev/null 2>&1; then
    echo "bench: no Docker or no ${KILN_IMAGE:-kiln:dev} image (hack/env-up.sh, hack/frontend-image.sh); skipping the build comparison"
    exit 0
fi
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
kiln=(docker buildx build --progress=quiet --provenance=false -f extensions/Pkgfile --target hello-service
      --build-arg "BUILDKIT_SYNTAX=${KILN_IMAGE:-kiln:dev}"
      --build-context docker.io/library/busybox:1.37-musl=docker-image://kiln-test/busybox:latest
      --platform linux/amd64 --output "type=local,dest=$out/kiln" extensions)
floor=(docker buildx build --progress=quiet --provenance=false -f benches/floor/Dockerfile
       --platform linux/amd64 --output "type=local,dest=$out/floor" extensions)
# Warm both caches first: the comparison is of fully cached builds.
"${kiln[@]}" >/dev/null
"${floor[@]}" >/dev/null
if command -v farm-bench >/dev/null 2>&1; then
    farm-bench -n 10 --vs "${floor[*]}" -- "${kiln[@]}"
else
    for name in kiln floor; do
        declare -n cmd=$name
        start=$(date +%s.%N); for _ in 1 2 3 4 5; do "${cmd[@]}" >/dev/null; done; end=$(date +%s.%N)
        echo "bench: $name fully cached: $(echo "($end - $start) / 5" | bc -l | cut -c1-5) s per build"
    done
fi

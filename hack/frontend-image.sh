#!/usr/bin/env bash
# Builds kiln's frontend image from the working tree and loads it into the local Docker image store.
#   hack/frontend-image.sh [TAG]     (default TAG: kiln:dev)
# The binary is built here, statically linked, and packaged by frontend.Dockerfile's `packaged` stage,
# which uses only `scratch` and the context: no registry, no pull. Only linux/amd64 is built, since the
# only Rust target on this kind of machine is x86_64 and a local BuildKit runs amd64 frontends.
set -euo pipefail

tag=${1:-kiln:dev}
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

readonly triple=x86_64-unknown-linux-gnu
# Taken before building, so the label never claims sources newer than the binary.
source_hash=$(hack/source-hash.sh)
# Separate target dir: different RUSTFLAGS would otherwise invalidate the normal dev build cache.
export CARGO_TARGET_DIR=${KILN_STATIC_TARGET_DIR:-$root/target/static}
RUSTFLAGS="-C target-feature=+crt-static" cargo build --release --bin kiln --target "$triple"

binary=$CARGO_TARGET_DIR/$triple/release/kiln
# A dynamically linked binary would not start in a scratch image; refuse it here with a clear reason.
if file_out=$(file -b "$binary" 2>/dev/null); then
    case "$file_out" in
        *"statically linked"* | *"static-pie linked"*) ;;
        *) echo "frontend-image: $binary is not statically linked: $file_out" >&2; exit 1 ;;
    esac
elif readelf -l "$binary" | grep -q 'Requesting program interpreter'; then
    echo "frontend-image: $binary has a program interpreter, so it is not statically linked" >&2
    exit 1
fi

mkdir -p _out
cp "$binary" _out/kiln-linux-amd64.tmp
mv _out/kiln-linux-amd64.tmp _out/kiln-linux-amd64

# The label lets the Makefile tell a stale image from a current one without rebuilding it.
docker buildx build --progress=quiet -f frontend.Dockerfile --target packaged --platform linux/amd64 \
    --label "org.kiln.source-hash=$source_hash" --load -t "$tag" . >/dev/null
size=$(docker image inspect -f '{{.Size}}' "$tag")
binary_size=$(stat -c %s _out/kiln-linux-amd64)
echo "frontend-image: $tag built: image $(numfmt --to=iec-i --suffix=B "$size") (docker image inspect .Size)," \
    "static binary $(numfmt --to=iec-i --suffix=B "$binary_size")"

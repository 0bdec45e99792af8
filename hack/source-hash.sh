#!/usr/bin/env bash
# Prints a sha256 over everything kiln's frontend image is built from (the Rust sources, protos,
# manifests and frontend.Dockerfile), committed or not. hack/frontend-image.sh stores it in the image
# as the label org.kiln.source-hash; the Makefile rebuilds its default frontend image when they differ.
#   hack/source-hash.sh
set -euo pipefail
cd "$(dirname "$0")/.."

inputs=(Cargo.toml Cargo.lock frontend.Dockerfile src crates proto benches)
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    # Tracked and untracked-but-not-ignored files: the same set a clean build would see.
    files=$(git ls-files -co --exclude-standard -- "${inputs[@]}")
else
    files=$(find "${inputs[@]}" -type f -not -path '*/target/*' 2>/dev/null)
fi
# Names and contents, in a locale-independent order; deleted-but-tracked files are skipped.
LC_ALL=C sort <<<"$files" | while IFS= read -r f; do
    [ -f "$f" ] && printf '%s\n' "$f" && sha256sum <"$f"
done | sha256sum | cut -d' ' -f1

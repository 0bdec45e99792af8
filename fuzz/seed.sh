#!/usr/bin/env bash
# Seeds fuzz/corpus/<target>/ from the real trees at hand: the siderolabs/extensions corpus
# (../shared/corpus) and tests/fixtures. Each package directory becomes one tree input (Pkgfile
# first, then `==> path <==` sections); templates and manifests seed their own targets.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
out="$root/fuzz/corpus"
mkdir -p "$out"/{load_tree,template,manifest,extension_service,validate_image}
n=0
for tree in "$root/../shared/corpus/siderolabs-extensions" "$root/tests/fixtures/frontend/tree" "$root/extensions"; do
    [ -f "$tree/Pkgfile" ] || continue
    tree=$(realpath "$tree")
    while IFS= read -r pkg; do
        dir=$(dirname "$pkg")
        n=$((n + 1))
        {
            cat "$tree/Pkgfile"
            find "$dir" -maxdepth 2 -type f \( -name pkg.yaml -o -name vars.yaml -o -name '*.tmpl' \) | sort |
                while IFS= read -r f; do printf '==> %s <==\n' "${f#"$tree"/}"; cat "$f"; done
        } > "$out/load_tree/tree-$n"
        cp "$pkg" "$out/template/pkg-$n.yaml"
    done < <(find "$tree" -name pkg.yaml -not -path '*/.*' | sort)
    find "$tree" -name '*.tmpl' -not -path '*/.*' | while IFS= read -r f; do
        n=$((n + 1)); cp "$f" "$out/template/tmpl-$n-$(basename "$f")"
        case "$f" in */manifest.yaml.tmpl) cp "$f" "$out/manifest/$n.yaml" ;; esac
    done
    # Extension service specs: the YAML files beside packages that name an entrypoint.
    grep -rl --include='*.yaml' 'entrypoint:' "$tree" | grep -v '/pkg.yaml$' | while IFS= read -r f; do
        n=$((n + 1)); cp "$f" "$out/extension_service/$n-$(basename "$f")"
    done
done
find "$root/tests" -name '*.tar' | while IFS= read -r f; do cp "$f" "$out/validate_image/$(basename "$f")"; done
# A small image root and an OCI-looking tar, so the tar target starts from real archives.
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/img/rootfs/usr/local/lib/containers/x" "$tmp/img/rootfs/usr/local/etc/containers"
cp "$out"/manifest/* "$tmp/img/manifest.yaml" 2>/dev/null || printf 'version: v1alpha1\nmetadata:\n  name: x\n' > "$tmp/img/manifest.yaml"
tar -C "$tmp/img" -cf "$out/validate_image/root.tar" .
mkdir -p "$tmp/oci/blobs/sha256"; printf '{"imageLayoutVersion":"1.0.0"}' > "$tmp/oci/oci-layout"
printf '{"schemaVersion":2,"manifests":[]}' > "$tmp/oci/index.json"
tar -C "$tmp/oci" -cf "$out/validate_image/oci.tar" .
for t in "$out"/*; do echo "$(basename "$t"): $(ls "$t" | wc -l) seeds"; done

#!/usr/bin/env bash
# The steps behind the top-level Makefile, which sets every variable below (see its header):
#   collection.sh frontend           make sure KILN_IMAGE exists (and is current, KILN_REBUILD=stale)
#   collection.sh cli                extract the kiln binary of KILN_IMAGE to $OUT/bin/kiln
#   collection.sh targets            the collection's extensions, one name a line
#   collection.sh image NAME         build NAME for PLATFORM as REGISTRY/NAME:TAG (pushed with PUSH=true)
#   collection.sh local NAME         build NAME for PLATFORM into DEST/NAME/<os>_<arch>/ and validate it
#   collection.sh extensions         `image` for every extension, then the $OUT/image-digests catalog
# The extensions are the packages of `kiln targets --json` whose directory holds manifest.yaml(.tmpl);
# image tags come from `kiln eval -t NAME '{{ .VERSION }}'` (TAG overrides).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

EXTENSIONS=${EXTENSIONS:-extensions}
PLATFORM=${PLATFORM:-linux/amd64,linux/arm64}
REGISTRY=${REGISTRY:-127.0.0.1:5000}
PUSH=${PUSH:-false}
DEST=${DEST:-_out}
OUT=${OUT:-_out}
KILN_IMAGE=${KILN_IMAGE:-kiln:dev}
KILN_REBUILD=${KILN_REBUILD:-missing}
TOOLCHAIN_IMAGE=${TOOLCHAIN_IMAGE:-kiln-test/busybox:latest}
TAG=${TAG:-}
BUILD_CONTEXTS=${BUILD_CONTEXTS:-}
BUILD_ARGS=${BUILD_ARGS:-}
BUILDX_FLAGS=${BUILDX_FLAGS:-}
PROGRESS=${PROGRESS:-auto}
SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-}

readonly KILN=$OUT/bin/kiln

say() { printf '%s\n' "$*"; }
die() { printf 'make: ERROR: %s\n' "$*" >&2; exit 1; }

# --- frontend image and CLI -----------------------------------------------------------------------

frontend() {
    local have want
    if ! have=$(docker image inspect -f '{{ index .Config.Labels "org.kiln.source-hash" }}' "$KILN_IMAGE" 2>/dev/null); then
        say "frontend: $KILN_IMAGE is missing, building it (hack/frontend-image.sh)"
    elif [ "$KILN_REBUILD" = stale ]; then
        want=$(hack/source-hash.sh)
        if [ "$have" = "$want" ]; then
            say "frontend: $KILN_IMAGE is current (org.kiln.source-hash ${want:0:12})"
            return
        fi
        say "frontend: $KILN_IMAGE is stale (sources changed since it was built), rebuilding it (hack/frontend-image.sh)"
    else
        say "frontend: using $KILN_IMAGE as it is (given explicitly; only a missing image is built)"
        return
    fi
    hack/frontend-image.sh "$KILN_IMAGE"
}

# The CLI is the frontend image's own binary, so `make` lists, tags and validates with the very kiln
# that builds. Re-extracted whenever the image changes.
cli() {
    local id container
    id=$(docker image inspect -f '{{ .Id }}' "$KILN_IMAGE") || die "frontend image $KILN_IMAGE is missing; run: make frontend"
    if [ -x "$KILN" ] && [ "$(cat "$KILN.image-id" 2>/dev/null)" = "$id" ]; then
        return
    fi
    mkdir -p "$(dirname "$KILN")"
    container=$(docker create "$KILN_IMAGE")
    docker cp -q "$container:/kiln" "$KILN.tmp" >/dev/null || { docker rm "$container" >/dev/null; die "no /kiln in $KILN_IMAGE"; }
    docker rm "$container" >/dev/null
    mv "$KILN.tmp" "$KILN"
    printf '%s\n' "$id" >"$KILN.image-id"
}

# --- the collection ---------------------------------------------------------------------------------

targets() {
    cli
    local json dir name
    json=$("$KILN" targets --root "$EXTENSIONS" --json) || die "kiln could not load $EXTENSIONS (errors above)"
    jq -r '.[] | "\(.dir)\t\(.name)"' <<<"$json" | while IFS=$'\t' read -r dir name; do
        if [ -f "$EXTENSIONS/$dir/manifest.yaml.tmpl" ] || [ -f "$EXTENSIONS/$dir/manifest.yaml" ]; then
            say "$name"
        fi
    done
}

require_extension() {
    local name=$1 all
    all=$(targets)
    if ! grep -qxF "$name" <<<"$all"; then
        die "no extension named '$name' in $EXTENSIONS; the collection has: $(tr '\n' ' ' <<<"$all")"
    fi
}

tag_of() {
    local name=$1 tag
    if [ -n "$TAG" ]; then
        tag=$TAG
    else
        tag=$("$KILN" eval --root "$EXTENSIONS" -t "$name" --platform linux/amd64 '{{ .VERSION }}')
    fi
    # A Docker tag: [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}.
    if ! [[ $tag =~ ^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$ ]]; then
        die "$name: VERSION '$tag' (from its vars.yaml, or TAG) is not a valid image tag; use letters, digits, '_', '.', '-'"
    fi
    say "$tag"
}

toolchain_ref() {
    "$KILN" eval --root "$EXTENSIONS" -t "$1" '{{ .TOOLCHAIN_IMAGE }}'
}

# The `docker buildx build` arguments every build of NAME shares.
buildx_args() {
    local name=$1 mirror toolchain entry
    mirror=$(hack/debian-mirror.sh) || die "the Debian mirror is needed for builds (KILN_DEBIAN_MIRROR sets it)"
    args=(docker buildx build --progress="$PROGRESS" --provenance=false -f "$EXTENSIONS/Pkgfile" --target "$name"
        --platform "$PLATFORM" --build-arg "BUILDKIT_SYNTAX=$KILN_IMAGE" --build-arg "DEBIAN_MIRROR=$mirror")
    toolchain=$(toolchain_ref "$name") || return 1
    if [ -n "$toolchain" ] && [ "$toolchain" != "<no value>" ] && [ -n "$TOOLCHAIN_IMAGE" ]; then
        args+=(--build-context "$toolchain=docker-image://$TOOLCHAIN_IMAGE")
    fi
    [ -n "$SOURCE_DATE_EPOCH" ] && args+=(--build-arg "SOURCE_DATE_EPOCH=$SOURCE_DATE_EPOCH")
    for entry in $BUILD_ARGS; do args+=(--build-arg "$entry"); done
    for entry in $BUILD_CONTEXTS; do args+=(--build-context "$entry"); done
    # shellcheck disable=SC2206 # BUILDX_FLAGS is a list of words on purpose
    args+=($BUILDX_FLAGS)
}

# Runs the build in "${args[@]}", output to stdout/stderr as usual. BuildKit sometimes fails a build
# with "inconsistent graph state" when other builds solve the same steps at the same moment (a known
# race in its solver, not an error of the tree): such a build is retried once, saying so.
run_build() {
    local captured status
    captured=$(mktemp)
    "${args[@]}" 2>&1 | tee "$captured"
    status=${PIPESTATUS[0]}
    if [ "$status" -ne 0 ] && grep -q 'inconsistent graph state' "$captured"; then
        say "make: BuildKit reported its transient 'inconsistent graph state' (concurrent builds); retrying once"
        "${args[@]}" 2>&1
        status=$?
    fi
    rm -f "$captured"
    return "$status"
}

# Builds NAME as an image; prints "REF@DIGEST". $2: where the build's output goes (a file, or - ).
build_image() {
    local name=$1 log=$2 tag ref metadata digest
    # Explicit returns: this runs inside `if`, where errexit does not apply.
    tag=$(tag_of "$name") || return 1
    ref=$REGISTRY/$name:$tag
    metadata=$OUT/metadata/$name.json
    mkdir -p "$(dirname "$metadata")"
    rm -f "$metadata"
    buildx_args "$name" || return 1
    args+=(--metadata-file "$metadata" --output "type=image,name=$ref,push=$PUSH" "$EXTENSIONS")
    if [ "$log" = - ]; then
        run_build >&2 || return 1
    else
        run_build >"$log" 2>&1 || return 1
    fi
    digest=$(jq -r '."containerimage.digest" // empty' "$metadata")
    [ -n "$digest" ] || die "$name: the build wrote no image digest to $metadata"
    say "$ref@$digest"
}

image() {
    local name=$1 result
    require_extension "$name"
    result=$(build_image "$name" -)
    if [ "$PUSH" = true ]; then
        say "$name: pushed $result"
    else
        say "$name: built $result for $PLATFORM (not pushed; PUSH=true pushes it)"
    fi
}

local_build() {
    local name=$1 out tmp dir count size
    require_extension "$name"
    out=$DEST/$name
    tmp=$DEST/.$name.tmp
    rm -rf "$tmp"
    mkdir -p "$DEST"
    buildx_args "$name"
    # platform-split: one <os>_<arch> directory per platform, even for a single platform.
    args+=(--output "type=local,dest=$tmp,platform-split=true" "$EXTENSIONS")
    run_build || { rm -rf "$tmp"; die "$name: the build failed (see above); nothing was written to $out"; }
    # The local exporter writes the build's attestations (the SBOM of a package that declares
    # `sbom:`) as files beside manifest.yaml; an extension's root holds only manifest.yaml and
    # rootfs/, so they go to $DEST/$name.sbom/<os>_<arch>/ instead.
    local sbom=$DEST/$name.sbom entry platform_dir
    rm -rf "$sbom"
    for platform_dir in "$tmp"/*/; do
        for entry in "$platform_dir"*; do
            case "${entry##*/}" in
            manifest.yaml | rootfs) ;;
            *)
                mkdir -p "$sbom/$(basename "$platform_dir")"
                mv "$entry" "$sbom/$(basename "$platform_dir")/"
                ;;
            esac
        done
    done
    rm -rf "$out"
    mv "$tmp" "$out"
    say ""
    say "local-$name: wrote $out/ for $PLATFORM:"
    for dir in "$out"/*/; do
        dir=${dir%/}
        count=$(find "$dir" -type f | wc -l)
        size=$(du -sb "$dir" | cut -f1)
        say "  $dir/  manifest.yaml + rootfs/: $count files, $(numfmt --to=iec-i --suffix=B "$size")"
    done
    if [ -d "$sbom" ]; then
        say "  $sbom/  the build's attestations (SBOM), one directory a platform"
    fi
    for dir in "$out"/*/; do
        "$KILN" validate "${dir%/}" >/dev/null || die "$name: ${dir%/} does not pass kiln validate (run it to see why)"
    done
    say "checked with kiln validate (the build ran the same checks); to check again:"
    for dir in "$out"/*/; do
        say "  $KILN validate ${dir%/}"
    done
}

extensions() {
    local names name log result failed=() catalog=$OUT/image-digests lines=()
    names=$(targets)
    mkdir -p "$OUT/logs"
    say "extensions: building $(wc -l <<<"$names") extensions for $PLATFORM (push=$PUSH, registry $REGISTRY); logs in $OUT/logs/"
    while IFS= read -r name; do
        log=$OUT/logs/$name.log
        if result=$(build_image "$name" "$log" 2>>"$log"); then
            lines+=("$result")
            say "  ok      $name  $result"
        else
            failed+=("$name")
            say "  FAILED  $name  (log: $log)"
            # The build's own error lines (kiln names file and line), else the end of the log.
            { grep -E '^(ERROR|error|make: ERROR)|^#[0-9]+ ERROR' "$log" || tail -n 5 "$log"; } | sed 's/^/          /'
        fi
    done <<<"$names"
    printf '%s\n' ${lines[@]+"${lines[@]}"} >"$catalog.tmp"
    mv "$catalog.tmp" "$catalog"
    say "extensions: catalog $catalog ($(wc -l <"$catalog") images$([ "$PUSH" = true ] && echo ", pushed" || echo ", not pushed"))"
    if [ ${#failed[@]} -gt 0 ]; then
        say "extensions: ${#failed[@]} of $(wc -l <<<"$names") failed: ${failed[*]}" >&2
        exit 1
    fi
}

command=${1:-}
case "$command" in
frontend) frontend ;;
cli) cli ;;
targets) targets ;;
image) image "${2:?extension name}" ;;
local) local_build "${2:?extension name}" ;;
extensions) extensions ;;
*) die "usage: $0 frontend|cli|targets|image NAME|local NAME|extensions" ;;
esac

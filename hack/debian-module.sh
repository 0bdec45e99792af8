#!/usr/bin/env bash
# Fetches one real, Debian-signed kernel module for the module-signature tests: drivers/net/dummy.ko
# from Debian bookworm's signed cloud kernel for amd64 (linux-image-<abi>-cloud-amd64, ~26 MB), with
# apt-get download through the machine's Debian mirror (hack/debian-mirror.sh) and a private apt
# state, so the system's lists and caches are untouched. Cached: a second run downloads nothing.
#   hack/debian-module.sh        prints the module's path
# KILN_ENV_CACHE sets the cache directory (default /var/cache/kiln-env, as hack/env-up.sh).
set -euo pipefail
hack=$(cd "$(dirname "$0")" && pwd)
cache=${KILN_ENV_CACHE:-/var/cache/kiln-env}/debian-module
out=$cache/dummy.ko

if [ -s "$out" ]; then
    echo "$out"
    exit 0
fi
mirror=$("$hack/debian-mirror.sh")
mkdir -p "$cache/lists/partial" "$cache/cache/archives/partial" "$cache/debs" "$cache/sources.list.d"
echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $mirror bookworm main" \
    >"$cache/sources.list"
opts=(
    -o "APT::Architecture=amd64" -o "APT::Architectures=amd64"
    -o "Dir::State::Lists=$cache/lists" -o "Dir::Cache=$cache/cache"
    -o "Dir::Etc::SourceList=$cache/sources.list" -o "Dir::Etc::SourceParts=$cache/sources.list.d"
    -o "Dir::State::status=/dev/null" -o "APT::Sandbox::User=root"
)
apt-get "${opts[@]}" update -qq >/dev/null
# The metapackage depends on the current ABI's signed image package.
package=$(apt-cache "${opts[@]}" depends linux-image-cloud-amd64 |
    sed -n 's/^ *Depends: \(linux-image-[0-9][^ ]*-cloud-amd64\)$/\1/p' | head -n1)
[ -n "$package" ] || { echo "debian-module: no linux-image-*-cloud-amd64 in bookworm" >&2; exit 1; }
rm -f "$cache"/debs/*.deb
(cd "$cache/debs" && apt-get "${opts[@]}" download -qq "$package" >/dev/null)
deb=$(ls "$cache"/debs/*.deb | head -n1)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$work" --wildcards '*/kernel/drivers/net/dummy.ko*'
module=$(find "$work" -name 'dummy.ko*' | head -n1)
[ -n "$module" ] || { echo "debian-module: no dummy.ko in $package" >&2; exit 1; }
cp "$module" "$out.tmp"
echo "$package $(basename "$module")" >"$cache/source.txt"
mv "$out.tmp" "$out"
rm -f "$deb"
echo "$out"

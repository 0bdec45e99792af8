#!/usr/bin/env bash
# Brings up the environment kiln's end-to-end tests need, idempotently, as root on Debian bookworm:
#   - a Docker engine with the containerd image store and buildx (from Debian trixie, pinned low),
#   - arm64 emulation through qemu-user-static and binfmt_misc,
#   - a registry on 127.0.0.1:5000 (Debian's docker-registry, deletes enabled),
#   - a multi-arch busybox base image built from Debian's busybox-static, without any image pull.
# Every step prints one line saying what it did or skipped; a re-run with everything up takes seconds.
# Anything already working (for example a Docker engine the user installed) is left alone.
set -euo pipefail

readonly CACHE_DIR=${KILN_ENV_CACHE:-/var/cache/kiln-env}
readonly CONF_DIR=/etc/kiln-env
readonly REGISTRY_ADDR=127.0.0.1:5000
readonly REGISTRY_CONFIG=$CONF_DIR/registry.yml
readonly REGISTRY_ROOT=/var/lib/kiln-registry
readonly REGISTRY_LOG=/var/log/kiln-registry.log
readonly REGISTRY_PID=/run/kiln-registry.pid
readonly DOCKERD_LOG=/var/log/kiln-dockerd.log
readonly DOCKERD_PID=/run/docker.pid
readonly TRIXIE_SOURCES=/etc/apt/sources.list.d/kiln-trixie.sources
readonly TRIXIE_PIN=/etc/apt/preferences.d/kiln-trixie
readonly HACK_DIR=$(cd "$(dirname "$0")" && pwd)
readonly BASE_IMAGE=kiln-test/busybox:latest
readonly ALPINE_LIKE_IMAGE=kiln-test/alpine-like:latest
# Bump when the base image recipe changes, so existing environments rebuild it.
readonly BASE_IMAGE_REVISION=2

step() { printf 'env-up: %s\n' "$*"; }
die() { printf 'env-up: ERROR: %s\n' "$*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "run as root (it installs packages and starts daemons)"
export DEBIAN_FRONTEND=noninteractive

is_installed() { [ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null)" = "install ok installed" ]; }

apt_updated=0
apt_update_once() {
    if [ "$apt_updated" = 0 ]; then
        apt-get update -qq >/dev/null
        apt_updated=1
    fi
}

# Installs the given packages (extra apt arguments before "--") unless all are installed already.
apt_install() {
    local label=$1; shift
    local args=() pkgs=() missing=()
    while [ "$1" != "--" ]; do args+=("$1"); shift; done
    shift
    pkgs=("$@")
    for p in "${pkgs[@]}"; do is_installed "$p" || missing+=("$p"); done
    if [ ${#missing[@]} = 0 ]; then
        step "$label: already installed (${pkgs[*]})"
        return
    fi
    apt_update_once
    # Without apt-utils, debconf warns on stderr about every package; that warning is noise here.
    apt-get install -y -qq --no-install-recommends "${args[@]}" "${missing[@]}" >/dev/null \
        2> >(grep -v '^debconf: delaying package configuration' >&2)
    step "$label: installed ${missing[*]}"
}

# The Debian archive this machine's apt uses (KILN_DEBIAN_MIRROR overrides), looked up only when a step
# downloads from Debian, so a machine with everything up needs no apt configuration.
DEBIAN_MIRROR=
debian_mirror() {
    if [ -z "$DEBIAN_MIRROR" ]; then
        DEBIAN_MIRROR=$("$HACK_DIR/debian-mirror.sh") || die "no Debian mirror (see the message above)"
    fi
}

# Waits up to $2 seconds for command $1 to succeed.
wait_for() {
    local check=$1 timeout=$2 i
    for ((i = 0; i < timeout * 5; i++)); do
        if eval "$check" >/dev/null 2>&1; then return 0; fi
        sleep 0.2
    done
    return 1
}

# --- Docker engine --------------------------------------------------------------------------------

write_trixie_source() {
    local sources pin
    debian_mirror
    sources="Types: deb
URIs: $DEBIAN_MIRROR
Suites: trixie
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
"
    # Priority 100: nothing comes from trixie unless asked for with -t trixie.
    pin="Package: *
Pin: release n=trixie
Pin-Priority: 100
"
    if [ -f "$TRIXIE_SOURCES" ] && [ "$(cat "$TRIXIE_SOURCES")" = "${sources%$'\n'}" ] &&
        [ -f "$TRIXIE_PIN" ] && [ "$(cat "$TRIXIE_PIN")" = "${pin%$'\n'}" ]; then
        step "trixie apt suite: already configured (pinned at 100)"
        return
    fi
    printf '%s' "$sources" >"$TRIXIE_SOURCES"
    printf '%s' "$pin" >"$TRIXIE_PIN"
    apt_updated=0
    step "trixie apt suite: added $TRIXIE_SOURCES pinned at 100 ($TRIXIE_PIN)"
}

# Merges {"features":{"containerd-snapshotter":true}} into /etc/docker/daemon.json, keeping other keys.
write_daemon_json() {
    mkdir -p /etc/docker
    local result
    result=$(python3 - <<'EOF'
import json, os
path = "/etc/docker/daemon.json"
config = {}
if os.path.exists(path) and os.path.getsize(path) > 0:
    with open(path) as f:
        config = json.load(f)
features = config.setdefault("features", {})
if features.get("containerd-snapshotter") is True:
    print("unchanged")
else:
    features["containerd-snapshotter"] = True
    with open(path + ".tmp", "w") as f:
        json.dump(config, f, indent=2)
        f.write("\n")
    os.replace(path + ".tmp", path)
    print("written")
EOF
    )
    step "daemon.json: containerd-snapshotter $result (/etc/docker/daemon.json)"
}

start_dockerd() {
    if [ -f "$DOCKERD_PID" ] && kill -0 "$(cat "$DOCKERD_PID")" 2>/dev/null; then
        step "dockerd: process $(cat "$DOCKERD_PID") exists, waiting for it"
    else
        rm -f "$DOCKERD_PID"
        setsid nohup dockerd --pidfile "$DOCKERD_PID" >>"$DOCKERD_LOG" 2>&1 </dev/null &
        step "dockerd: started in the background (log $DOCKERD_LOG, pidfile $DOCKERD_PID)"
    fi
    wait_for "docker info" 60 || die "dockerd did not answer 'docker info' within 60s; see $DOCKERD_LOG"
}

setup_docker() {
    if docker info >/dev/null 2>&1; then
        step "docker engine: already running, install and daemon.json left untouched"
        if ! docker info -f '{{json .DriverStatus}}' 2>/dev/null | grep -q 'io.containerd.snapshotter'; then
            step "docker engine: WARNING: the containerd image store looks disabled; multi-platform tests need" \
                '"features":{"containerd-snapshotter":true} in daemon.json'
        fi
        docker buildx version >/dev/null 2>&1 || die "docker buildx is missing; install the buildx plugin"
        return
    fi
    if is_installed docker.io && is_installed docker-cli && is_installed docker-buildx && is_installed containerd; then
        step "docker packages: already installed"
    else
        write_trixie_source
        # daemon.json first, so a daemon that the package scripts may start already uses the containerd store.
        write_daemon_json
        apt_install "docker packages (trixie)" -t trixie -- docker.io docker-cli docker-buildx containerd
    fi
    write_daemon_json
    start_dockerd
    step "docker engine: up ($(docker version -f '{{.Server.Version}}'), buildx $(docker buildx version | awk '{print $2}'))"
}

# --- arm64 emulation ------------------------------------------------------------------------------

setup_binfmt() {
    apt_install "qemu-user-static" -- qemu-user-static
    local mnt=/proc/sys/fs/binfmt_misc
    if [ -e "$mnt/register" ]; then
        step "binfmt_misc: already mounted"
    else
        mount -t binfmt_misc binfmt_misc "$mnt"
        step "binfmt_misc: mounted on $mnt"
    fi
    if [ -e "$mnt/qemu-aarch64" ]; then
        step "qemu-aarch64: already registered"
    else
        local conf=/usr/lib/binfmt.d/qemu-aarch64.conf
        [ -f "$conf" ] || die "$conf is missing; reinstall qemu-user-static"
        grep -v '^#' "$conf" | head -n1 >"$mnt/register"
        step "qemu-aarch64: registered from $conf"
    fi
}

# --- registry -------------------------------------------------------------------------------------

registry_up() { curl -sf -o /dev/null "http://$REGISTRY_ADDR/v2/"; }

setup_registry() {
    apt_install "docker-registry" -- docker-registry
    mkdir -p "$CONF_DIR" "$REGISTRY_ROOT"
    local config="version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $REGISTRY_ROOT
  delete:
    enabled: true
http:
  addr: $REGISTRY_ADDR
"
    if [ ! -f "$REGISTRY_CONFIG" ] || [ "$(cat "$REGISTRY_CONFIG")" != "${config%$'\n'}" ]; then
        printf '%s' "$config" >"$REGISTRY_CONFIG"
        step "registry config: written $REGISTRY_CONFIG"
    else
        step "registry config: unchanged $REGISTRY_CONFIG"
    fi
    if registry_up; then
        step "registry: already listening on $REGISTRY_ADDR"
        return
    fi
    setsid nohup docker-registry serve "$REGISTRY_CONFIG" >>"$REGISTRY_LOG" 2>&1 </dev/null &
    echo $! >"$REGISTRY_PID"
    wait_for registry_up 30 || die "registry did not come up on $REGISTRY_ADDR; see $REGISTRY_LOG"
    step "registry: started on $REGISTRY_ADDR (log $REGISTRY_LOG, pidfile $REGISTRY_PID)"
}

# --- base images ----------------------------------------------------------------------------------

# Downloads busybox-static for $1 (amd64|arm64) into the cache, using a private apt state so the
# system's lists and caches are untouched. Prints the .deb path.
download_busybox() {
    local arch=$1 deb
    local dir=$CACHE_DIR/apt-$arch
    deb=$(ls "$dir"/debs/busybox-static_*_"$arch".deb 2>/dev/null | head -n1 || true)
    if [ -n "$deb" ]; then
        echo "$deb"
        return
    fi
    mkdir -p "$dir/lists/partial" "$dir/cache/archives/partial" "$dir/debs" "$dir/sources.list.d"
    debian_mirror
    echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $DEBIAN_MIRROR bookworm main" \
        >"$dir/sources.list"
    local opts=(
        -o "APT::Architecture=$arch" -o "APT::Architectures=$arch"
        -o "Dir::State::Lists=$dir/lists" -o "Dir::Cache=$dir/cache"
        -o "Dir::Etc::SourceList=$dir/sources.list" -o "Dir::Etc::SourceParts=$dir/sources.list.d"
        -o "Dir::State::status=/dev/null" -o "APT::Sandbox::User=root"
    )
    apt-get "${opts[@]}" update -qq >/dev/null
    (cd "$dir/debs" && apt-get "${opts[@]}" download -qq "busybox-static:$arch" >/dev/null)
    ls "$dir"/debs/busybox-static_*_"$arch".deb | head -n1
}

# Builds $CACHE_DIR/build/rootfs-$1.tar: busybox with every applet linked, plus /tmp, /etc and /root.
make_rootfs() {
    local arch=$1 deb=$2
    local work=$CACHE_DIR/build/$arch
    rm -rf "$work"
    mkdir -p "$work/deb" "$work/rootfs"
    dpkg-deb -x "$deb" "$work/deb"
    local root=$work/rootfs
    mkdir -p "$root/bin" "$root/sbin" "$root/usr/bin" "$root/usr/sbin" "$root/etc" "$root/root" "$root/tmp" \
        "$root/dev" "$root/proc" "$root/sys"
    chmod 1777 "$root/tmp"
    install -m 0755 "$work/deb/bin/busybox" "$root/bin/busybox"
    # The applet list is the same for every architecture of one version; the amd64 binary runs natively.
    local applet
    while read -r applet; do
        [ "$applet" = bin/busybox ] && continue
        mkdir -p "$root/$(dirname "$applet")"
        ln -sf /bin/busybox "$root/$applet"
    done < <("$CACHE_DIR/build/busybox-host" --list-full)
    printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' >"$root/etc/passwd"
    printf 'root:x:0:\nnogroup:x:65534:\n' >"$root/etc/group"
    tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -cf "$CACHE_DIR/build/rootfs-$arch.tar" -C "$root" .
}

registry_has() { # $1 = repository, $2 = tag
    curl -sf -o /dev/null -H 'Accept: application/vnd.oci.image.index.v1+json' \
        -H 'Accept: application/vnd.docker.distribution.manifest.list.v2+json' \
        "http://$REGISTRY_ADDR/v2/$1/manifests/$2"
}

local_revision() { docker image inspect -f '{{index .Config.Labels "org.kiln.test.revision"}}' "$1" 2>/dev/null || true; }

setup_base_images() {
    if [ "$(local_revision "$BASE_IMAGE")" = "$BASE_IMAGE_REVISION" ] &&
        [ "$(local_revision "$ALPINE_LIKE_IMAGE")" = "$BASE_IMAGE_REVISION" ] &&
        registry_has kiln-test/busybox latest && registry_has kiln-test/alpine-like latest; then
        step "base images: $BASE_IMAGE and $ALPINE_LIKE_IMAGE already built (local store and $REGISTRY_ADDR)"
        return
    fi
    mkdir -p "$CACHE_DIR/build"
    local deb_amd64 deb_arm64
    deb_amd64=$(download_busybox amd64)
    deb_arm64=$(download_busybox arm64)
    step "busybox-static: $(basename "$deb_amd64"), $(basename "$deb_arm64") (cached in $CACHE_DIR)"
    rm -rf "$CACHE_DIR/build/host"
    dpkg-deb -x "$deb_amd64" "$CACHE_DIR/build/host"
    cp "$CACHE_DIR/build/host/bin/busybox" "$CACHE_DIR/build/busybox-host"
    make_rootfs amd64 "$deb_amd64"
    make_rootfs arm64 "$deb_arm64"
    step "rootfs tarballs: $CACHE_DIR/build/rootfs-{amd64,arm64}.tar"

    # No "# syntax" line: the Dockerfile frontend built into BuildKit is used, so nothing is pulled.
    cat >"$CACHE_DIR/build/Dockerfile" <<EOF
FROM scratch AS busybox
ARG TARGETARCH
ADD rootfs-\${TARGETARCH}.tar /
ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
LABEL org.kiln.test.revision=$BASE_IMAGE_REVISION
CMD ["/bin/sh"]

# A second, distinguishable base: same tools, its own os-release.
FROM busybox AS alpine-like
COPY os-release /etc/os-release
EOF
    printf 'NAME="kiln test alpine-like"\nID=alpine-like\nVERSION_ID=1\n' >"$CACHE_DIR/build/os-release"
    printf '*\n!rootfs-*.tar\n!os-release\n' >"$CACHE_DIR/build/.dockerignore"

    local target name
    for target in busybox alpine-like; do
        name=kiln-test/$target:latest
        docker buildx build --progress=quiet --provenance=false --platform linux/amd64,linux/arm64 --target "$target" \
            --output "type=image,name=$REGISTRY_ADDR/$name,push=true" "$CACHE_DIR/build" >/dev/null
        # Same build again, fully cached, loaded into the local image store under the short name.
        docker buildx build --progress=quiet --provenance=false --platform linux/amd64,linux/arm64 --target "$target" \
            --load -t "$name" "$CACHE_DIR/build" >/dev/null
        step "base image: $name built for linux/amd64,linux/arm64, loaded locally and pushed to $REGISTRY_ADDR/$name"
    done
}

start=$(date +%s)
# jq: the Makefile reads `kiln targets --json` and buildx metadata with it; curl, python3 and make are
# used here, by the tests and by the Makefile's targets, and a minimal Debian lacks some of them.
apt_install "tools" -- jq curl python3 make
setup_docker
setup_binfmt
setup_registry
setup_base_images
step "done in $(($(date +%s) - start))s"

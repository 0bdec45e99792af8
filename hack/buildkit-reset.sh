#!/usr/bin/env bash
# Empties the Docker engine's BuildKit state (build cache and its key store), keeping images.
#   hack/buildkit-reset.sh
# Why: `docker buildx prune -af` drops results but not BuildKit's key store (buildkit/cache.db), which
# links every earlier producer of the same content to new cache keys. A `mode=max` cache export then
# carries all of them; on a machine that has run the suite a few hundred times its config passes the
# 1 MiB that BuildKit v0.13 refuses to import ("blob … is too large"). hack/test.sh calls this so every
# run's cache tests start from the state a fresh machine has. Needs root; restarts dockerd.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
readonly DOCKERD_PID=/run/docker.pid
data_root=$(docker info -f '{{.DockerRootDir}}' 2>/dev/null || echo /var/lib/docker)
step() { printf 'buildkit-reset: %s\n' "$*"; }

docker buildx prune -af >/dev/null
if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet docker 2>/dev/null; then
    systemctl stop docker.socket docker >/dev/null 2>&1 || systemctl stop docker
    rm -f "$data_root/buildkit/cache.db"
    systemctl start docker
elif [ -f "$DOCKERD_PID" ] && pid=$(cat "$DOCKERD_PID") && kill -0 "$pid" 2>/dev/null; then
    kill "$pid"
    for _ in $(seq 1 120); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.5
    done
    if kill -0 "$pid" 2>/dev/null; then
        echo "buildkit-reset: dockerd ($pid) did not stop within 60s; BuildKit state left as it was" >&2
        exit 1
    fi
    rm -f "$data_root/buildkit/cache.db"
else
    echo "buildkit-reset: no dockerd found (pidfile $DOCKERD_PID); run hack/env-up.sh first" >&2
    exit 1
fi
# env-up starts dockerd again when it is down, then checks the registry and base images.
"$root/hack/env-up.sh" >/dev/null
step "BuildKit's build cache and key store emptied ($data_root/buildkit/cache.db), dockerd restarted"

#!/usr/bin/env bash
# Prints the Debian archive mirror this machine's apt uses (e.g. http://<mirror>/debian, no trailing
# slash), so that the environment scripts and the collection's builds reach Debian through it without
# the repository naming any host.
#   hack/debian-mirror.sh
# KILN_DEBIAN_MIRROR, when set, is printed as it is. Otherwise the apt configuration is read:
# deb822 stanzas in /etc/apt/sources.list.d/*.sources (`URIs:` with their `Suites:`) and one-line
# `deb URI SUITE …` entries in /etc/apt/sources.list and /etc/apt/sources.list.d/*.list. A source
# carrying the suite `bookworm` wins; otherwise the first whose URI ends in /debian and that is not a
# security, updates or backports suite (so another distribution's archive is never taken for
# Debian's). KILN_APT_ROOT (default /) reads another root's configuration, for tests.
# Exits 1 with a message saying what to set when no mirror is found.
set -euo pipefail

if [ -n "${KILN_DEBIAN_MIRROR:-}" ]; then
    printf '%s\n' "${KILN_DEBIAN_MIRROR%/}"
    exit 0
fi

apt_root=${KILN_APT_ROOT:-/}
apt_root=${apt_root%/}
list_files=()
[ -f "$apt_root/etc/apt/sources.list" ] && list_files+=("$apt_root/etc/apt/sources.list")
for f in "$apt_root"/etc/apt/sources.list.d/*.list; do [ -f "$f" ] && list_files+=("$f"); done
deb822_files=()
for f in "$apt_root"/etc/apt/sources.list.d/*.sources; do [ -f "$f" ] && deb822_files+=("$f"); done

# One "URI SUITE" line per (binary) source and suite, in the order apt reads them.
candidates() {
    local f
    for f in ${deb822_files[@]+"${deb822_files[@]}"}; do
        # A stanza ends at a blank line; comments and continuation lines are skipped.
        awk '
            function flush() {
                if (types ~ /(^| )deb( |$)/ && enabled != "no")
                    for (i = 1; i <= nu; i++) for (j = 1; j <= ns; j++) print uris[i], suites[j]
                types = ""; enabled = ""; nu = 0; ns = 0
            }
            /^[ \t]*#/ { next }
            /^[ \t]*$/ { flush(); next }
            /^[A-Za-z-]+:/ {
                key = tolower($1); sub(/:$/, "", key)
                value = $0; sub(/^[^:]*:[ \t]*/, "", value)
                if (key == "types") types = value
                else if (key == "enabled") enabled = tolower(value)
                else if (key == "uris") nu = split(value, uris, /[ \t]+/)
                else if (key == "suites") ns = split(value, suites, /[ \t]+/)
            }
            END { flush() }
        ' "$f"
    done
    for f in ${list_files[@]+"${list_files[@]}"}; do
        # deb [options] URI SUITE COMPONENT…
        sed -e 's/#.*//' -e 's/\[[^]]*\]//' "$f" | awk '$1 == "deb" && NF >= 3 { print $2, $3 }'
    done
}

all=$(candidates)
mirror=$(awk '$2 == "bookworm" { print $1; exit }' <<<"$all")
if [ -z "$mirror" ]; then
    mirror=$(awk '$2 !~ /-(security|updates|backports)$/ && $1 ~ /\/debian\/?$/ { print $1; exit }' <<<"$all")
fi
if [ -z "$mirror" ]; then
    printf 'debian-mirror: ERROR: no Debian archive found in the apt configuration under %s/etc/apt ' "$apt_root" >&2
    printf '(sources.list, sources.list.d/*.sources or *.list);\n' >&2
    printf 'debian-mirror: set KILN_DEBIAN_MIRROR=http://<your mirror>/debian\n' >&2
    exit 1
fi
printf '%s\n' "${mirror%/}"

#!/usr/bin/env bash
# System packages the grading tests need: bubblewrap (the sandboxed grading kernel) and
# PostgreSQL (the gradebook-on-a-server test). Idempotent and quiet; needs root or sudo.
set -euo pipefail
missing=()
command -v bwrap >/dev/null 2>&1 || missing+=(bubblewrap)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null 2>&1 || missing+=(postgresql)
[ ${#missing[@]} -eq 0 ] && exit 0
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
for attempt in 1 2 3 4 5; do  # another apt may hold the lock for a while
    if $SUDO apt-get update -qq >/dev/null && $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; then
        echo "installed ${missing[*]}"
        exit 0
    fi
    sleep $((attempt * 10))
done
echo "could not install ${missing[*]}" >&2
exit 1

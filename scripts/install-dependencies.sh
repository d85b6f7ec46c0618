#!/usr/bin/env bash
# Installs what building and running Handoff needs and is missing: libpq's headers (libpq-dev), the PostgreSQL
# server programs (postgresql, for the private cluster), and pkg-config. Debian and Ubuntu only; elsewhere it
# says what to install.
set -euo pipefail

missing=()
command -v pkg-config >/dev/null 2>&1 || missing+=(pkg-config)
pkg-config --exists libpq 2>/dev/null || missing+=(libpq-dev)
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && ! command -v initdb >/dev/null 2>&1 \
    && [ -z "${HANDOFF_PG_BIN:-}" ] && [ -z "${DATABASE_URL:-}" ]; then
    missing+=(postgresql)
fi
[ ${#missing[@]} -eq 0 ] && exit 0

if command -v apt-get >/dev/null 2>&1; then
    echo "Installing ${missing[*]} ..."
    sudo=""
    if [ "$(id -u)" -ne 0 ]; then
        command -v sudo >/dev/null 2>&1 || { echo "error: need root (or sudo) to install ${missing[*]}" >&2; exit 1; }
        sudo="sudo"
    fi
    export DEBIAN_FRONTEND=noninteractive
    $sudo apt-get update -qq
    $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
    echo "error: please install ${missing[*]} (libpq headers and the PostgreSQL server programs)," >&2
    echo "       or set DATABASE_URL to a PostgreSQL server you already run." >&2
    exit 1
fi

#!/usr/bin/env bash
# Installs what building and running Handoff needs and is missing: libpq's headers (libpq-dev), the PostgreSQL
# server programs (postgresql, for the private cluster), pkg-config, and Graphviz (graphviz: `dot` draws each
# onboarding's flow on the dashboard). Debian and Ubuntu only; elsewhere it says what to install.
set -euo pipefail

missing=()
command -v pkg-config >/dev/null 2>&1 || missing+=(pkg-config)
pkg-config --exists libpq 2>/dev/null || missing+=(libpq-dev)
command -v dot >/dev/null 2>&1 || missing+=(graphviz)
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && ! command -v initdb >/dev/null 2>&1 \
    && [ -z "${HANDOFF_PG_BIN:-}" ] && [ -z "${DATABASE_URL:-}" ]; then
    missing+=(postgresql)
fi
[ ${#missing[@]} -eq 0 ] && exit 0

# shellcheck source=apt-install.sh
. "$(dirname "$0")/apt-install.sh"
apt_install "libpq headers, the PostgreSQL server programs (or set DATABASE_URL to a server you run) and Graphviz" "${missing[@]}"

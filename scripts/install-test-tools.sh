#!/usr/bin/env bash
# Installs what the test suite needs beyond building Handoff and is missing: wrk (the HTTP load generator that
# scripts/bench-http.sh drives), Chromium and its WebDriver (chromium, chromium-driver: the dashboard's browser
# test), python3-venv (only when `python3 -m venv` cannot make a virtualenv), and a virtualenv at .venv/ in the
# repository root with schemathesis (property-based tests of the HTTP API against its OpenAPI document) and
# selenium (which drives Chromium). Debian and Ubuntu only for the system packages; elsewhere it says what to install.
# Quick and silent when everything is there already.
set -euo pipefail

cd "$(dirname "$0")/.."

SCHEMATHESIS_VERSION=4.32.5
SELENIUM_VERSION=4.51.0
venv=.venv

schemathesis_installed() {
    [ -x "$venv/bin/schemathesis" ] \
        && compgen -G "$venv/lib/python*/site-packages/schemathesis-$SCHEMATHESIS_VERSION.dist-info" >/dev/null
}

# Whether this python3 can make a virtualenv with pip in it (Debian's python3 cannot without python3-venv).
venv_works() {
    [ -x "$venv/bin/pip" ] && return 0
    local probe
    probe="$(mktemp -d)"
    if python3 -m venv "$probe/venv" >/dev/null 2>&1 && [ -x "$probe/venv/bin/pip" ]; then
        rm -rf "$probe"
        return 0
    fi
    rm -rf "$probe"
    return 1
}

command -v python3 >/dev/null 2>&1 || { echo "error: python3 is needed (Debian: apt-get install python3)" >&2; exit 1; }

missing=()
command -v wrk >/dev/null 2>&1 || missing+=(wrk)
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v chromedriver >/dev/null 2>&1 || missing+=(chromium-driver)
# A font for the screenshots (installed without recommends, Chromium brings none).
[ -e /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] || missing+=(fonts-dejavu-core)
if ! schemathesis_installed && ! venv_works; then
    missing+=(python3-venv)
fi

if [ ${#missing[@]} -gt 0 ]; then
    # shellcheck source=apt-install.sh
    . scripts/apt-install.sh
    apt_install "wrk, Chromium with its WebDriver, and a python3 that can make virtualenvs" "${missing[@]}"
fi

# Python 3.11's ast.parse can fail with "AST constructor recursion depth mismatch" deep inside hypothesis (a
# CPython bug fixed in 3.12), which schemathesis reports as a runtime error: prefer a newer python3 when the
# machine has one (on PATH or under pyenv), else the system's.
newest_python() {
    local candidate
    for candidate in python3.13 python3.12 "${PYENV_ROOT:-$HOME/.pyenv}"/versions/3.1[3-9]*/bin/python3 \
        "${PYENV_ROOT:-$HOME/.pyenv}"/versions/3.12*/bin/python3; do
        if "$candidate" -c 'import sys, venv; sys.exit(sys.version_info < (3, 12))' >/dev/null 2>&1; then
            echo "$candidate"
            return
        fi
    done
    echo python3
}

python="$(newest_python)"
# A virtualenv made by an older interpreter than the one available now is made again.
if [ -x "$venv/bin/python" ] && [ "$python" != python3 ] \
    && ! "$venv/bin/python" -c 'import sys; sys.exit(sys.version_info < (3, 12))' >/dev/null 2>&1; then
    rm -rf "$venv"
fi

if ! schemathesis_installed; then
    echo "Installing schemathesis $SCHEMATHESIS_VERSION into $venv/ ..."
    [ -x "$venv/bin/pip" ] || "$python" -m venv "$venv"
    "$venv/bin/pip" install -q --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION"
fi

if ! compgen -G "$venv/lib/python*/site-packages/selenium-$SELENIUM_VERSION.dist-info" >/dev/null; then
    echo "Installing selenium $SELENIUM_VERSION into $venv/ ..."
    [ -x "$venv/bin/pip" ] || "$python" -m venv "$venv"
    "$venv/bin/pip" install -q --disable-pip-version-check "selenium==$SELENIUM_VERSION"
fi

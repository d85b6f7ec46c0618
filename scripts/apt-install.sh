# Sourced by the install scripts: apt_install WHAT PACKAGE... installs Debian packages with apt-get (as root, or
# through sudo), or, where there is no apt-get, says to install WHAT by hand and exits non-zero.
apt_install() {
    local what="$1"
    shift
    if ! command -v apt-get >/dev/null 2>&1; then
        echo "error: please install $* ($what)" >&2
        exit 1
    fi
    echo "Installing $* ..."
    local sudo=""
    if [ "$(id -u)" -ne 0 ]; then
        command -v sudo >/dev/null 2>&1 || { echo "error: need root (or sudo) to install $*" >&2; exit 1; }
        sudo="sudo"
    fi
    export DEBIAN_FRONTEND=noninteractive
    $sudo apt-get update -qq
    $sudo apt-get install -y -qq --no-install-recommends "$@"
}

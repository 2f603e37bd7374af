#!/usr/bin/env bash
# Install and configure podman for `make images` and `vlaa run --local --runner container` on
# Debian, as root (`make test` runs it first, so CI's `make test` has an engine). Nothing to do
# where Docker's daemon answers or podman, runc and debootstrap are installed; not root and
# missing: a note, and the container tests skip (tests/support/container_images.py).
#
#   apt-get install podman runc debootstrap     # Debian bookworm: podman 4.3.1, runc 1.1.5
#   /etc/containers/containers.conf (written only when absent):
#       runtime = "runc"       crun refuses cgroup v1 hosts such as this project's CI machine
#       default_ulimits = []   podman's default nofile limit fails to apply there
#
# podman's API service (the Docker-compatible socket KFP's runner talks to) is not started
# here: `vlaa run --runner container` starts it on demand (vlaa/containers/engine.py).
set -euo pipefail

die() { echo "images/install-engine.sh: $*" >&2; exit 1; }

if command -v docker >/dev/null && docker info >/dev/null 2>&1; then
    echo "engine: Docker answers; nothing to install"
    exit 0
fi
missing=()
for tool in podman runc debootstrap; do
    command -v "$tool" >/dev/null || missing+=("$tool")
done
if ((${#missing[@]})); then
    if [[ $(id -u) != 0 ]] || ! command -v apt-get >/dev/null; then
        echo "note: ${missing[*]} missing and not installable here (needs root and apt-get):" \
            "the container tests will skip; install podman (images/README.md) to run them"
        exit 0
    fi
    echo "installing podman runc debootstrap (apt-get)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq podman runc debootstrap >/dev/null
fi
conf=/etc/containers/containers.conf
if [[ ! -e "$conf" && $(id -u) == 0 ]]; then
    mkdir -p "$(dirname "$conf")"
    printf '[containers]\ndefault_ulimits = []\n\n[engine]\nruntime = "runc"\n' >"$conf"
    echo "wrote $conf (runc, no default ulimits)"
fi
podman info --format '{{.Version.Version}} {{.Host.OCIRuntime.Name}}' |
    sed 's/^/engine: podman /' || die "podman is installed but does not run (podman info)"

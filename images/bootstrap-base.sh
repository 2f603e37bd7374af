#!/usr/bin/env bash
# Make a local Debian bookworm base image with CPython 3.11, for building vlaa-tools and
# vlaa-trainer where no container registry is reachable (only a Debian mirror):
#
#   images/bootstrap-base.sh                     # -> localhost/vlaa-base:bookworm-py3.11
#   BASE_IMAGE=localhost/vlaa-base:bookworm-py3.11 make images
#
# debootstrap --variant=minbase, plus python3.11 (3.11.2, bookworm's), its venv module, CA
# certificates; apt lists and caches removed; then `<engine> import`. Runs as root (debootstrap
# needs it). Environment: DOCKER (docker or podman; default: podman if present, else docker),
# MIRROR (http://deb.debian.org/debian), SUITE (bookworm), TAG.
set -euo pipefail

SUITE=${SUITE:-bookworm}
MIRROR=${MIRROR:-http://deb.debian.org/debian}
TAG=${TAG:-localhost/vlaa-base:$SUITE-py3.11}
if [[ -z "${DOCKER:-}" ]]; then
    DOCKER=$(command -v podman || command -v docker || true)
fi
for tool in debootstrap "$DOCKER"; do
    command -v "$tool" >/dev/null || { echo "bootstrap-base.sh: $tool not found" >&2; exit 1; }
done
[[ $(id -u) == 0 ]] || { echo "bootstrap-base.sh: debootstrap needs root" >&2; exit 1; }

root=$(mktemp -d /var/tmp/vlaa-base.XXXXXX)
trap 'rm -rf "$root"' EXIT
if ! debootstrap --variant=minbase --include=ca-certificates "$SUITE" "$root" "$MIRROR"; then
    grep -B2 -A4 -i "error" "$root/debootstrap/debootstrap.log" | tail -20 >&2
    echo "bootstrap-base.sh: debootstrap $SUITE failed (log above)" >&2
    exit 1
fi
# Python through apt inside the new root (debootstrap's --include does not resolve
# python3.11-venv's virtual dependency python3.11-distutils).
cp /etc/resolv.conf "$root/etc/resolv.conf"
chroot "$root" apt-get update -q
DEBIAN_FRONTEND=noninteractive chroot "$root" apt-get install -y -q --no-install-recommends \
    python3.11 python3.11-venv
chroot "$root" apt-get clean
: >"$root/etc/resolv.conf"
# What the public python:*-slim image also leaves out: package lists, caches, logs.
rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin "$root"/var/cache/apt/archives/*.deb \
    "$root"/var/log/* "$root"/tmp/*
tar --numeric-owner -C "$root" -c . | "$DOCKER" import \
    --change 'ENV LANG=C.UTF-8' \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'CMD ["/bin/bash"]' \
    - "$TAG"
echo "built $TAG ($SUITE from $MIRROR)"

#!/usr/bin/env bash
# `make images`: build vlaa-trainer and vlaa-tools from the repo root, pinned by digest.
#
#   1. every base image in images/base-images.lock whose digest is "-" (all of them with
#      REFRESH_DIGESTS=1) is resolved with `docker buildx imagetools inspect` and written back;
#   2. both images are built with those digests as build args (FROM image:tag@sha256:...);
#   3. with PUSH=1 they are pushed, and their registry digests are written to
#      images/images.env (VLAA_IMAGE_REGISTRY, VLAA_IMAGE_TAG, VLAA_IMAGE_DIGEST_TRAINER,
#      VLAA_IMAGE_DIGEST_TOOLS): `set -a; . images/images.env; set +a` before `vlaa compile`
#      makes the compiled pipeline reference the images by digest.
#
# Environment: VLAA_IMAGE_REGISTRY (default ghcr.io/vlaa-thinker), VLAA_IMAGE_TAG (default
# the package version), PUSH (0), PLATFORM (linux/amd64), IMAGES ("tools trainer"),
# REFRESH_DIGESTS (0), DOCKER (docker), BASE_LOCK, ENV_OUT. Needs Docker with buildx (BuildKit).
set -euo pipefail

cd "$(dirname "$0")/.."
DOCKER=${DOCKER:-docker}
REGISTRY=${VLAA_IMAGE_REGISTRY:-ghcr.io/vlaa-thinker}
REGISTRY=${REGISTRY%/}
TAG=${VLAA_IMAGE_TAG:-$(sed -n 's/^__version__ = "\(.*\)"$/\1/p' vlaa/__init__.py)}
PUSH=${PUSH:-0}
PLATFORM=${PLATFORM:-linux/amd64}
IMAGES=${IMAGES:-tools trainer}
REFRESH_DIGESTS=${REFRESH_DIGESTS:-0}
BASE_LOCK=${BASE_LOCK:-images/base-images.lock}
ENV_OUT=${ENV_OUT:-images/images.env}
DIGEST_RE='^sha256:[0-9a-f]{64}$'

resolve_digest() {
    "$DOCKER" buildx imagetools inspect "$1" | awk '/^Digest:/ { print $2; exit }'
}

# 1. Resolve and record base image digests.
tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT
build_args=()
while IFS= read -r line; do
    if [[ -z "$line" || "$line" == \#* ]]; then
        printf '%s\n' "$line" >>"$tmp"
        continue
    fi
    read -r arg ref digest <<<"$line"
    if [[ "$digest" == "-" || "$REFRESH_DIGESTS" == 1 ]]; then
        digest=$(resolve_digest "$ref")
        [[ "$digest" =~ $DIGEST_RE ]] || { echo "cannot resolve $ref" >&2; exit 1; }
        echo "resolved $ref -> $digest"
    fi
    printf '%-24s %-40s %s\n' "$arg" "$ref" "$digest" >>"$tmp"
    build_args+=(--build-arg "$arg=@$digest")
done <"$BASE_LOCK"
cp "$tmp" "$BASE_LOCK"

# 2./3. Build (and push), then record the pushed digests.
declare -A pushed
for name in $IMAGES; do
    ref="$REGISTRY/vlaa-$name:$TAG"
    meta="$tmp.$name.json"
    output=(--load)
    [[ "$PUSH" == 1 ]] && output=(--push)
    echo "building $ref"
    "$DOCKER" buildx build --platform "$PLATFORM" --file "images/$name.Dockerfile" \
        "${build_args[@]}" --tag "$ref" --metadata-file "$meta" "${output[@]}" .
    if [[ "$PUSH" == 1 ]]; then
        digest=$(sed -n 's/.*"containerimage.digest": *"\(sha256:[0-9a-f]*\)".*/\1/p' "$meta")
        [[ "$digest" =~ $DIGEST_RE ]] || { echo "no digest for $ref" >&2; exit 1; }
        pushed[$name]=$digest
        echo "pushed $ref@$digest"
    fi
    rm -f "$meta"
done

if [[ "$PUSH" == 1 && -n "${pushed[tools]:-}" && -n "${pushed[trainer]:-}" ]]; then
    {
        echo "# written by images/build.sh; source before \`vlaa compile\` to pin by digest"
        echo "VLAA_IMAGE_REGISTRY=$REGISTRY"
        echo "VLAA_IMAGE_TAG=$TAG"
        echo "VLAA_IMAGE_DIGEST_TRAINER=${pushed[trainer]}"
        echo "VLAA_IMAGE_DIGEST_TOOLS=${pushed[tools]}"
    } >"$ENV_OUT"
    echo "wrote $ENV_OUT"
fi

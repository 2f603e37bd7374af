#!/usr/bin/env bash
# `make images`: build vlaa-tools and vlaa-trainer from the repo root, with Docker (BuildKit,
# `docker buildx`) or podman: DOCKER=docker|podman, else docker when its daemon answers, else
# podman.
#
#   1. base image: BASE_IMAGE (e.g. images/bootstrap-base.sh's local one) is used as given;
#      BASE_IMAGE=local is images/bootstrap-base.sh's image, made first when absent (no
#      registry needed); otherwise the default public base, pinned by the digest in
#      images/base-images.lock (a "-" there, or REFRESH_DIGESTS=1, is resolved from the
#      registry and written back);
#   2. WHEELS=dir: the wheels in dir are linked into images/wheels/ (the build context), where
#      pip looks before the index (e.g. torch's multi-GB CUDA wheels already on disk);
#   3. both images are built; PIP_CA (default: $PIP_CERT, else the system CA bundle) reaches pip
#      as the build secret pip-ca (for a TLS-intercepting proxy), PIP_INDEX_URL as a build arg;
#   4. an image whose inputs are unchanged is not rebuilt: each image carries the labels
#      org.vlaa-thinker.source-sha256 (vlaa/containers/source_hash.py: what its project stage
#      COPYs) and org.vlaa-thinker.inputs-sha256 (that, the Dockerfile, its .dockerignore, the
#      lock files, the base image and the build args); FORCE=1 builds anyway;
#   5. with PUSH=1 they are pushed, and their registry digests are written to images/images.env
#      (VLAA_IMAGE_REGISTRY, VLAA_IMAGE_TAG, VLAA_IMAGE_DIGEST_TRAINER, VLAA_IMAGE_DIGEST_TOOLS):
#      `set -a; . images/images.env; set +a` before `vlaa compile` pins the pipeline by digest.
#
# Environment: VLAA_IMAGE_REGISTRY (ghcr.io/vlaa-thinker), VLAA_IMAGE_TAG (the package
# version), PUSH (0), PLATFORM (linux/amd64), IMAGES ("tools trainer"), REFRESH_DIGESTS (0),
# DOCKER, BASE_IMAGE, WHEELS, PIP_CA, PIP_INDEX_URL, BUILD_FLAGS (more build options, e.g.
# --no-cache), BASE_LOCK, ENV_OUT, FORCE (0).
set -euo pipefail

cd "$(dirname "$0")/.."
REGISTRY=${VLAA_IMAGE_REGISTRY:-ghcr.io/vlaa-thinker}
REGISTRY=${REGISTRY%/}
TAG=${VLAA_IMAGE_TAG:-$(sed -n 's/^__version__ = "\(.*\)"$/\1/p' vlaa/__init__.py)}
PUSH=${PUSH:-0}
PLATFORM=${PLATFORM:-linux/amd64}
IMAGES=${IMAGES:-tools trainer}
REFRESH_DIGESTS=${REFRESH_DIGESTS:-0}
FORCE=${FORCE:-0}
LOCAL_BASE=localhost/vlaa-base:bookworm-py3.11  # images/bootstrap-base.sh's default TAG
LABEL_SOURCE=org.vlaa-thinker.source-sha256      # vlaa/containers/source_hash.py
LABEL_INPUTS=org.vlaa-thinker.inputs-sha256
BASE_LOCK=${BASE_LOCK:-images/base-images.lock}
ENV_OUT=${ENV_OUT:-images/images.env}
DIGEST_RE='^sha256:[0-9a-f]{64}$'

die() { echo "images/build.sh: $*" >&2; exit 1; }

# The engine: named, or the first that works.
if [[ -z "${DOCKER:-}" ]]; then
    if command -v docker >/dev/null && docker info >/dev/null 2>&1; then
        DOCKER=docker
    elif command -v podman >/dev/null; then
        DOCKER=podman
    else
        die "no container engine: install Docker (with buildx) or podman, or set DOCKER"
    fi
fi
command -v "$DOCKER" >/dev/null || die "container engine '$DOCKER' not found"
case "$(basename "$DOCKER")" in
    podman*) ENGINE=podman ;;
    *) ENGINE=docker
       "$DOCKER" buildx version >/dev/null 2>&1 || die "'$DOCKER buildx' missing: BuildKit needed" ;;
esac
echo "engine: $DOCKER ($ENGINE)"

resolve_digest() {
    if [[ "$ENGINE" == podman ]]; then
        "$DOCKER" pull --quiet "$1" >/dev/null && "$DOCKER" image inspect --format '{{.Digest}}' "$1"
    else
        "$DOCKER" buildx imagetools inspect "$1" | awk '/^Digest:/ { print $2; exit }'
    fi
}

tmp=$(mktemp)
trap 'rm -f "$tmp" "$tmp".*' EXIT

# 1. The base image.
build_args=()
base_id=""
if [[ "${BASE_IMAGE:-}" == local ]]; then
    BASE_IMAGE=$LOCAL_BASE
    if ! "$DOCKER" image inspect "$BASE_IMAGE" >/dev/null 2>&1; then
        echo "base: $BASE_IMAGE absent; making it (images/bootstrap-base.sh)"
        DOCKER=$DOCKER TAG=$BASE_IMAGE images/bootstrap-base.sh
    fi
fi
if [[ -n "${BASE_IMAGE:-}" ]]; then
    "$DOCKER" image inspect "$BASE_IMAGE" >/dev/null 2>&1 || "$DOCKER" pull "$BASE_IMAGE" ||
        die "base image $BASE_IMAGE is not here and cannot be pulled (no registry? BASE_IMAGE=local)"
    build_args+=(--build-arg "BASE_IMAGE=$BASE_IMAGE")
    base_id=$("$DOCKER" image inspect --format '{{.Id}}' "$BASE_IMAGE")
    echo "base: $BASE_IMAGE (as given, $base_id)"
else
    while IFS= read -r line; do
        if [[ -z "$line" || "$line" == \#* ]]; then
            printf '%s\n' "$line" >>"$tmp"
            continue
        fi
        read -r arg ref digest <<<"$line"
        if [[ "$digest" == "-" || "$REFRESH_DIGESTS" == 1 ]]; then
            digest=$(resolve_digest "$ref") || true
            [[ "$digest" =~ $DIGEST_RE ]] ||
                die "cannot resolve $ref (no registry? images/bootstrap-base.sh, then BASE_IMAGE=...)"
            echo "resolved $ref -> $digest"
        fi
        printf '%-24s %-40s %s\n' "$arg" "$ref" "$digest" >>"$tmp"
        build_args+=(--build-arg "$arg=@$digest")
        base_id+="$ref@$digest "
    done <"$BASE_LOCK"
    cp "$tmp" "$BASE_LOCK"
fi
[[ -n "${PIP_INDEX_URL:-}" ]] && build_args+=(--build-arg "PIP_INDEX_URL=$PIP_INDEX_URL")

# 2. Local wheels (gitignored; hard links where the file system allows): only those a lock pins
# at exactly their version, so BuildKit does not ship unrelated wheels in the build context.
find images/wheels -name '*.whl' -delete
if [[ -n "${WHEELS:-}" ]]; then
    [[ -d "$WHEELS" ]] || die "WHEELS=$WHEELS is not a directory"
    normalize() { local name=${1,,}; echo "${name//[-_.]/_}"; }
    declare -A locked
    while IFS='=' read -r name _ version; do
        locked["$(normalize "$name")-${version%% *}"]=1
    done < <(grep -h '==' images/requirements/*.lock | sed 's/ *#.*//; s/==/=\=/')
    for wheel in "$WHEELS"/*.whl; do
        file=$(basename "$wheel")
        rest=${file#*-}
        [[ -n "${locked["$(normalize "${file%%-*}")-${rest%%-*}"]:-}" ]] || continue
        ln -f "$wheel" images/wheels/ 2>/dev/null || cp "$wheel" images/wheels/
    done
    echo "wheels: $(find images/wheels -name '*.whl' | wc -l) locked ones from $WHEELS"
fi

# 3. The CA bundle secret (an empty file when there is none: the mount is always declared).
PIP_CA=${PIP_CA:-${PIP_CERT:-}}
if [[ -z "$PIP_CA" && -s /etc/ssl/certs/ca-certificates.crt ]]; then
    PIP_CA=/etc/ssl/certs/ca-certificates.crt
fi
[[ -n "$PIP_CA" ]] || { PIP_CA="$tmp.ca"; : >"$PIP_CA"; }
build_args+=(--secret "id=pip-ca,src=$PIP_CA")
read -r -a extra_flags <<<"${BUILD_FLAGS:-}"
build_args+=("${extra_flags[@]}")

# 4. Build (and push), then record the pushed digests.
source_sha=$(python3 vlaa/containers/source_hash.py .)
declare -A pushed
for name in $IMAGES; do
    ref="$REGISTRY/vlaa-$name:$TAG"
    # The layer cache key for what the Dockerfile bind-mounts (podman does not hash mounts).
    lock_sha=$(cat "images/requirements/$name.lock" images/requirements/build-constraints.txt \
        images/select_wheels.py | sha256sum | cut -d' ' -f1)
    # Everything the image is built from: unchanged -> the image is reused. (Not WHEELS: the
    # lock pins the same files whether they come from disk or from the index.)
    inputs_sha=$({ echo "$source_sha $lock_sha $base_id $PLATFORM ${PIP_INDEX_URL:-}";
        cat "images/$name.Dockerfile" "images/$name.Dockerfile.dockerignore"; } |
        sha256sum | cut -d' ' -f1)
    current=$("$DOCKER" image inspect --format "{{index .Config.Labels \"$LABEL_INPUTS\"}}" \
        "$ref" 2>/dev/null || true)
    if [[ "$FORCE" != 1 && "$PUSH" != 1 && "$current" == "$inputs_sha" ]]; then
        echo "up to date: $ref (inputs ${inputs_sha:0:12} unchanged; FORCE=1 rebuilds)"
        continue
    fi
    build_args_image=("${build_args[@]}" --build-arg "LOCK_SHA256=$lock_sha"
        --label "$LABEL_SOURCE=$source_sha" --label "$LABEL_INPUTS=$inputs_sha")
    echo "building $ref"
    start=$SECONDS
    if [[ "$ENGINE" == podman ]]; then
        # --format docker: the OCI format drops SHELL (bash with pipefail).
        "$DOCKER" build --format docker --platform "$PLATFORM" --file "images/$name.Dockerfile" \
            --ignorefile "images/$name.Dockerfile.dockerignore" \
            "${build_args_image[@]}" --tag "$ref" .
        if [[ "$PUSH" == 1 ]]; then
            "$DOCKER" push --digestfile "$tmp.$name.digest" "$ref"
            pushed[$name]=$(cat "$tmp.$name.digest")
        fi
    else
        output=(--load)
        [[ "$PUSH" == 1 ]] && output=(--push)
        "$DOCKER" buildx build --platform "$PLATFORM" --file "images/$name.Dockerfile" \
            "${build_args_image[@]}" --tag "$ref" \
            --metadata-file "$tmp.$name.json" "${output[@]}" .
        if [[ "$PUSH" == 1 ]]; then
            pushed[$name]=$(sed -n 's/.*"containerimage.digest": *"\(sha256:[0-9a-f]*\)".*/\1/p' \
                "$tmp.$name.json")
        fi
    fi
    if [[ "$PUSH" == 1 ]]; then
        [[ "${pushed[$name]}" =~ $DIGEST_RE ]] || die "no digest for $ref"
        echo "pushed $ref@${pushed[$name]}"
    fi
    echo "built $ref in $((SECONDS - start))s"
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

# vlaa-tools: CPU image for prepare, build_dataset, compare and publish (data building,
# evaluation scoring, publishing). Build from the repo root with `make images` (images/build.sh:
# Docker with BuildKit, or podman).
#
# Buildable anywhere (images/README.md): the base is a build arg (the public python image by
# default; images/bootstrap-base.sh makes a local Debian one), pip reads PIP_INDEX_URL, and
# wheels put in images/wheels/ (build.sh: WHEELS=dir) are used before the index. No
# `# syntax=` line: that would pull a frontend image from Docker Hub.
ARG BASE_IMAGE=python:3.11.14-slim-bookworm
ARG BASE_DIGEST=""

# ---------------------------------------------------------------- project: the wheel
FROM ${BASE_IMAGE}${BASE_DIGEST} AS project
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
ARG PIP_INDEX_URL=https://pypi.org/simple
ENV PIP_INDEX_URL=${PIP_INDEX_URL} \
    PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY vlaa/ vlaa/
COPY components/ components/
COPY pipelines/ pipelines/
ARG LOCK_SHA256=""
# Built with the locked back-ends (build-constraints.txt), no isolation.
RUN --mount=type=bind,source=images/requirements,target=/req \
    --mount=type=secret,id=pip-ca \
    if [ -s /run/secrets/pip-ca ]; then export PIP_CERT=/run/secrets/pip-ca; fi \
    && python3.11 -m venv /opt/build \
    && /opt/build/bin/pip install --no-cache-dir -r /req/build-constraints.txt \
    && /opt/build/bin/pip wheel --no-cache-dir --no-deps --no-build-isolation --wheel-dir /dist .

# ---------------------------------------------------------------- runtime
FROM ${BASE_IMAGE}${BASE_DIGEST} AS runtime
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
RUN groupadd --gid 1000 vlaa \
    && useradd --uid 1000 --gid 1000 --create-home --shell /bin/bash vlaa
ARG PIP_INDEX_URL=https://pypi.org/simple
ENV VIRTUAL_ENV=/opt/venv \
    PIP_INDEX_URL=${PIP_INDEX_URL} \
    PATH=/opt/venv/bin:$PATH \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/home/vlaa \
    HF_HOME=/home/vlaa/.cache/huggingface
# podman (buildah 1.28) does not key its layer cache on bind-mounted files (a changed lock
# would reuse the old layer): build.sh passes the hash of the lock, build-constraints.txt and
# select_wheels.py, so a change to any of them rebuilds the layers below.
ARG LOCK_SHA256=""
# Layer 1 (largest, cached until tools.lock changes): the dependencies, installed here rather
# than copied from a builder stage (a copy of a multi-GB venv costs its size twice on disk).
# The locked wheels found in /wheels first (select_wheels.py: pip would rather download the
# same file from the index), then exactly tools.lock, no resolver (--no-deps), then `pip check`:
# every installed package's requirements hold (tests/images/test_locks.py checks the same
# offline). The lock's sdists (kfp-server-api) build without isolation, with the venv's locked
# setuptools. The pip-ca secret: a CA bundle for a TLS-intercepting proxy (build.sh: PIP_CA).
RUN --mount=type=bind,source=images/requirements,target=/req \
    --mount=type=bind,source=images/wheels,target=/wheels \
    --mount=type=bind,source=images/select_wheels.py,target=/select_wheels.py \
    --mount=type=secret,id=pip-ca \
    if [ -s /run/secrets/pip-ca ]; then export PIP_CERT=/run/secrets/pip-ca; fi \
    && python3.11 -m venv /opt/venv \
    && /opt/venv/bin/pip install --no-cache-dir --find-links /wheels \
        -r /req/build-constraints.txt \
    && /opt/venv/bin/python /select_wheels.py /req/tools.lock /wheels \
        | xargs --no-run-if-empty /opt/venv/bin/pip install --no-cache-dir --no-deps --no-index \
    && /opt/venv/bin/pip install --no-cache-dir --find-links /wheels --no-deps \
        --no-build-isolation -r /req/tools.lock \
    && /opt/venv/bin/pip check
# Layer 2 (small, changes with the code): the project's wheel, COPYed from the project stage
# (content-hashed by Docker and podman alike) rather than bind-mounted: podman 4.3 neither keys
# its layer cache on a `--mount=type=bind,from=<stage>` (measured: a code change reused the old
# layer and the image ran the old code) nor finds the stage's files when that stage came from
# the cache ("couldn't find .../merged/dist on host to bind mount").
COPY --from=project /dist /tmp/dist
RUN pip install --no-cache-dir --no-deps --no-index /tmp/dist/*.whl \
    && rm -rf /tmp/dist \
    && pip check \
    && python -c "import vlaa, torch, transformers, kfp"
USER 1000:1000
WORKDIR /home/vlaa
CMD ["python", "-c", "import vlaa; print(vlaa.__version__)"]

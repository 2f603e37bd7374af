# vlaa-trainer: GPU image for sft, grpo and evaluate: torch 2.13.0 (CUDA 13.0 wheels), vLLM
# 0.31.0, TRL 1.16.0, transformers 5.17.0, DeepSpeed 0.19.8, peft, accelerate, the project
# (images/requirements/trainer.lock; why this set: images/README.md, "Version choices").
# Build from the repo root with `make images` (images/build.sh: Docker with BuildKit, or podman).
#
# The CUDA user space comes from torch's PyPI wheels (cuda-toolkit, cuDNN, NCCL, ...); the
# driver comes from the node (NVIDIA container toolkit, driver R580+ for CUDA 13.0), so the
# base is a plain Python image, a build arg like in tools.Dockerfile (images/bootstrap-base.sh
# makes a local one). No flash-attn: nothing uses it (transformers runs SDPA, vLLM ships its
# own attention kernels) and 2.8.3.post2 does not compile against torch 2.14's C++20 headers.
# No `# syntax=` line: that would pull a frontend image from Docker Hub.
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
# gcc + libc headers: Triton and torch.compile (used by vLLM) compile small C launchers at run
# time. bookworm's gcc; libc6-dev pinned to the base image's own libc6.
ARG GCC_VERSION=4:12.2.0-3
RUN apt-get update \
    && apt-get install -y --no-install-recommends \
        gcc="${GCC_VERSION}" \
        libc6-dev="$(dpkg-query --show --showformat='${Version}' libc6)" \
    && apt-get clean \
    && rm -rf /var/lib/apt/lists/*
RUN groupadd --gid 1000 vlaa \
    && useradd --uid 1000 --gid 1000 --create-home --shell /bin/bash vlaa
ARG PIP_INDEX_URL=https://pypi.org/simple
ENV VIRTUAL_ENV=/opt/venv \
    PIP_INDEX_URL=${PIP_INDEX_URL} \
    PATH=/opt/venv/bin:$PATH \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/home/vlaa \
    HF_HOME=/home/vlaa/.cache/huggingface \
    NVIDIA_VISIBLE_DEVICES=all \
    NVIDIA_DRIVER_CAPABILITIES=compute,utility
# podman (buildah 1.28) does not key its layer cache on bind-mounted files (a changed lock
# would reuse the old layer): build.sh passes the hash of the lock, build-constraints.txt and
# select_wheels.py, so a change to any of them rebuilds the layers below.
ARG LOCK_SHA256=""
# Layer 1 (largest, changes only with trainer.lock): the dependencies, installed here rather
# than copied from another stage (a copy of a multi-GB venv costs its size twice on disk).
# Exactly trainer.lock, no resolver (--no-deps), then `pip check` (every requirement holds;
# tests/images/test_locks.py checks the same offline). The lock's sdists are built without build
# isolation, with the venv's locked setuptools: DeepSpeed's setup.py imports torch, so the locked
# torch goes in first; no prebuilt DeepSpeed ops (DS_BUILD_OPS=0: vlaa/training/deepspeed/
# zero*.json need none). The pip-ca secret: see tools.Dockerfile.
RUN --mount=type=bind,source=images/requirements,target=/req \
    --mount=type=bind,source=images/wheels,target=/wheels \
    --mount=type=bind,source=images/select_wheels.py,target=/select_wheels.py \
    --mount=type=secret,id=pip-ca \
    if [ -s /run/secrets/pip-ca ]; then export PIP_CERT=/run/secrets/pip-ca; fi \
    && python3.11 -m venv /opt/venv \
    && /opt/venv/bin/pip install --no-cache-dir --find-links /wheels \
        -r /req/build-constraints.txt \
    && /opt/venv/bin/python /select_wheels.py /req/trainer.lock /wheels \
        | xargs --no-run-if-empty /opt/venv/bin/pip install --no-cache-dir --no-deps --no-index \
    && /opt/venv/bin/pip install --no-cache-dir --find-links /wheels --no-deps \
        -c /req/trainer.lock torch \
    && DS_BUILD_OPS=0 /opt/venv/bin/pip install --no-cache-dir --find-links /wheels --no-deps \
        --no-build-isolation -r /req/trainer.lock \
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
    && python -c "import vlaa, torch, transformers, trl"
USER 1000:1000
WORKDIR /home/vlaa
CMD ["python", "-c", "import vlaa; print(vlaa.__version__)"]

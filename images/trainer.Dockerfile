# syntax=docker/dockerfile:1.7
# vlaa-trainer: GPU image for sft, grpo and evaluate (CUDA 13.0, torch 2.14.1, transformers,
# TRL, DeepSpeed, vLLM, flash-attn, the project). Build from the repo root:
#   make images        (images/build.sh: resolves and records base digests, builds, pushes)
# Base images are pinned by tag here and by digest through the *_DIGEST build args
# ("@sha256:..."), which images/build.sh fills from images/base-images.lock.
ARG UV_DIGEST=""
ARG CUDA_DEVEL_DIGEST=""
ARG CUDA_BASE_DIGEST=""

FROM ghcr.io/astral-sh/uv:0.13.8${UV_DIGEST} AS uv

# ---------------------------------------------------------------- builder: source-only wheels
FROM nvidia/cuda:13.0.2-devel-ubuntu24.04${CUDA_DEVEL_DIGEST} AS builder
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
ARG PYTHON_VERSION=3.11.14
ARG MAX_JOBS=8
ARG FLASH_ATTN_CUDA_ARCHS="80;90;100"
ENV UV_NO_CACHE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_INSTALL_DIR=/opt/python \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
# CPython from uv's pinned, checksummed python-build-standalone (Ubuntu 24.04 ships 3.12).
RUN --mount=from=uv,source=/uv,target=/usr/local/bin/uv \
    --mount=type=bind,source=images/requirements,target=/req \
    uv python install "${PYTHON_VERSION}" \
    && uv venv --python "${PYTHON_VERSION}" /opt/venv \
    && uv pip install --python /opt/venv/bin/python \
        -c /req/trainer.lock -c /req/build-constraints.txt \
        torch numpy packaging psutil ninja einops setuptools wheel pip
# deepspeed (no prebuilt ops: the project's ZeRO configs need none) and flash-attn (CUDA
# kernels, compiled here) against the locked torch, without build isolation;
# FLASH_ATTENTION_FORCE_BUILD: no prebuilt wheel download.
RUN --mount=type=bind,source=images/requirements,target=/req \
    FLASH_ATTENTION_FORCE_BUILD=TRUE MAX_JOBS="${MAX_JOBS}" \
    FLASH_ATTN_CUDA_ARCHS="${FLASH_ATTN_CUDA_ARCHS}" DS_BUILD_OPS=0 \
    /opt/venv/bin/pip wheel --no-cache-dir --no-deps --no-build-isolation \
        -c /req/build-constraints.txt -r /req/trainer-wheels.in --wheel-dir /wheels
# The project itself, as a wheel.
WORKDIR /src
COPY pyproject.toml README.md ./
COPY vlaa/ vlaa/
COPY components/ components/
COPY pipelines/ pipelines/
RUN --mount=from=uv,source=/uv,target=/usr/local/bin/uv \
    --mount=type=bind,source=images/requirements,target=/req \
    uv build --wheel --build-constraint /req/build-constraints.txt --out-dir /wheels/project .

# ---------------------------------------------------------------- runtime
FROM nvidia/cuda:13.0.2-base-ubuntu24.04${CUDA_BASE_DIGEST} AS runtime
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
# gcc + libc headers: Triton and torch.compile (used by vLLM) compile small C launchers at
# run time. libc6-dev is pinned to the base image's own libc6 (so to the base digest).
ARG GCC_VERSION=4:13.2.0-7ubuntu1
RUN apt-get update \
    && apt-get install -y --no-install-recommends \
        gcc="${GCC_VERSION}" \
        libc6-dev="$(dpkg-query --show --showformat='${Version}' libc6)" \
    && apt-get clean \
    && rm -rf /var/lib/apt/lists/*
# Non-root user, uid/gid 1000 (the ubuntu image's own "ubuntu" user holds 1000: replaced).
RUN if id ubuntu >/dev/null 2>&1; then userdel --remove ubuntu; fi \
    && groupadd --gid 1000 vlaa \
    && useradd --uid 1000 --gid 1000 --create-home --shell /bin/bash vlaa
ENV UV_NO_CACHE=1 \
    UV_LINK_MODE=copy \
    UV_COMPILE_BYTECODE=1 \
    UV_PYTHON_INSTALL_DIR=/opt/python \
    UV_PYTHON_DOWNLOADS=never \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    HOME=/home/vlaa \
    HF_HOME=/home/vlaa/.cache/huggingface \
    NVIDIA_VISIBLE_DEVICES=all \
    NVIDIA_DRIVER_CAPABILITIES=compute,utility
COPY --from=builder /opt/python /opt/python
# Layer 1 (largest, changes only with trainer.lock): every locked dependency.
RUN --mount=from=uv,source=/uv,target=/usr/local/bin/uv \
    --mount=type=bind,source=images/requirements,target=/req \
    uv venv --python /opt/python/cpython-*/bin/python3.11 /opt/venv \
    && uv pip install --no-deps --build-constraint /req/build-constraints.txt \
        -r /req/trainer.lock
# Layer 2: deepspeed + flash-attn wheels from the builder.
RUN --mount=from=uv,source=/uv,target=/usr/local/bin/uv \
    --mount=from=builder,source=/wheels,target=/wheels \
    uv pip install --no-deps --no-index /wheels/*.whl
# Layer 3 (small, changes with the code): the project.
RUN --mount=from=uv,source=/uv,target=/usr/local/bin/uv \
    --mount=from=builder,source=/wheels/project,target=/wheels \
    uv pip install --no-deps --no-index /wheels/*.whl \
    && python -c "import vlaa, torch, transformers, trl"
USER 1000:1000
WORKDIR /home/vlaa
CMD ["python", "-c", "import vlaa; print(vlaa.__version__)"]

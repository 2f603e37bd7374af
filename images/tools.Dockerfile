# syntax=docker/dockerfile:1.7
# vlaa-tools: CPU image for prepare, build_dataset, compare and publish (data building,
# evaluation scoring, publishing; torch CPU build). Build from the repo root:
#   make images        (images/build.sh: resolves and records base digests, builds, pushes)
# Base images are pinned by tag here and by digest through the *_DIGEST build args
# ("@sha256:..."), which images/build.sh fills from images/base-images.lock.
ARG UV_DIGEST=""
ARG PYTHON_DIGEST=""

FROM ghcr.io/astral-sh/uv:0.13.8${UV_DIGEST} AS uv

# ---------------------------------------------------------------- builder
FROM python:3.11.14-slim-bookworm${PYTHON_DIGEST} AS builder
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
ENV UV_NO_CACHE=1 \
    UV_LINK_MODE=copy \
    UV_COMPILE_BYTECODE=1 \
    UV_PYTHON_DOWNLOADS=never
# Dependencies only (cached until a lock changes): torch/torchvision CPU builds from the
# PyTorch CPU index, then everything else exactly as locked.
RUN --mount=from=uv,source=/uv,target=/usr/local/bin/uv \
    --mount=type=bind,source=images/requirements,target=/req \
    uv venv --python /usr/local/bin/python3.11 /opt/venv \
    && uv pip install --python /opt/venv/bin/python --no-deps \
        --index-url https://download.pytorch.org/whl/cpu -r /req/tools-torch.txt \
    && uv pip install --python /opt/venv/bin/python --no-deps \
        --build-constraint /req/build-constraints.txt -r /req/tools.lock
# The project itself, as a wheel.
WORKDIR /src
COPY pyproject.toml README.md ./
COPY vlaa/ vlaa/
COPY components/ components/
COPY pipelines/ pipelines/
RUN --mount=from=uv,source=/uv,target=/usr/local/bin/uv \
    --mount=type=bind,source=images/requirements,target=/req \
    uv build --wheel --build-constraint /req/build-constraints.txt --out-dir /wheels .

# ---------------------------------------------------------------- runtime
FROM python:3.11.14-slim-bookworm${PYTHON_DIGEST} AS runtime
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
RUN groupadd --gid 1000 vlaa \
    && useradd --uid 1000 --gid 1000 --create-home --shell /bin/bash vlaa
ENV UV_NO_CACHE=1 \
    UV_LINK_MODE=copy \
    UV_COMPILE_BYTECODE=1 \
    UV_PYTHON_DOWNLOADS=never \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    HOME=/home/vlaa \
    HF_HOME=/home/vlaa/.cache/huggingface
# Layer 1 (changes only with the locks): the dependency environment.
COPY --from=builder /opt/venv /opt/venv
# Layer 2 (small, changes with the code): the project.
RUN --mount=from=uv,source=/uv,target=/usr/local/bin/uv \
    --mount=from=builder,source=/wheels,target=/wheels \
    uv pip install --no-deps --no-index /wheels/*.whl \
    && python -c "import vlaa, torch, transformers, kfp"
USER 1000:1000
WORKDIR /home/vlaa
CMD ["python", "-c", "import vlaa; print(vlaa.__version__)"]

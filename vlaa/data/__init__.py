"""The data engine: everything that turns source datasets into the SFT, RL and eval splits.

This package owns the ``data`` run-parameter group (``config``, torch-free), the build
orchestration (``engine``: read, validate and quarantine, hold out eval, distil concurrently,
split, write the data card), the source readers (``sources``), the two teachers (the offline
stand-in, ``offline_teacher``, and OpenAI-compatible LLMs, ``llm_teacher``), the teacher
pipeline of each record (``distil``), the deterministic rules of the paper's steps (``rules``)
and the synthetic dataset the default run builds (``synthetic``). It trains nothing.
"""

"""Whether vLLM can run here: one check for every step that may use it.

Torch-free at import (configs and the CLI import this module); torch and vllm are imported
only when the check runs.
"""

from __future__ import annotations

NEEDS = "it needs a CUDA GPU and the vllm package"


def vllm_available() -> bool:
    """A CUDA GPU is visible and ``import vllm`` works."""
    import torch

    if not torch.cuda.is_available():
        return False
    try:
        import vllm  # noqa: F401
    except Exception:  # a broken vLLM install is as good as none
        return False
    return True


def vllm_unavailable_message(setting: str, alternatives: str) -> str:
    """The one wording of "vLLM was asked for but cannot run", for every config field.

    ``setting`` names the field and its value (``evaluate.generation is 'vllm'``);
    ``alternatives`` says what to use instead (``use 'auto' or 'transformers'``).
    """
    return f"{setting} but vLLM cannot run here ({NEEDS}); {alternatives}"

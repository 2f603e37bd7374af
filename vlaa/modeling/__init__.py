"""Models as files: building, resolving and loading the Qwen2.5-VL-class checkpoints.

This package owns the model factory (``factory``: tiny/3b/7b architectures with random weights
and a locally trained tokenizer), resolving the ``base_model`` run parameter into a model folder
(``base_models``), loading models and processors for training and evaluation and freezing the
vision tower (``loading``), and whether vLLM can run here (``vllm``, torch imported lazily).
"""

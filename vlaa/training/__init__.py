"""Training: SFT and GRPO with TRL's trainers, from a model folder and a split folder.

This package owns the ``sft`` and ``grpo`` run-parameter groups (``config``, torch-free, with
``trainer_args`` for any other TRL field), the two steps (``sft``, ``grpo``; looked up by name in
``steps``), what they share (``common``: batch arithmetic, logs, saving; ``checkpoints``;
``datasets``), the GRPO reward router that hands TRL one function per verifier
(``reward_router``), the adaptive KL controller (``kl_control``), the paper's SFT subsets
(``subsets``), the curves (``curves``) and the DeepSpeed configs. Spreading a step over GPUs or
nodes is ``vlaa.launch``'s job.
"""

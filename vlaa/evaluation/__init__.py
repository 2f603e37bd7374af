"""Evaluation of a trained model: the evaluate step's logic, its report and the study comparison.

This package owns the evaluate step's config (``config``, torch-free), greedy generation on
transformers or vLLM (``generation``), scoring on the synthetic eval split and the paper's
benchmarks (``evaluate``), the typed JSON report every later step reads (``report``: the
:class:`~vlaa.evaluation.report.EvalReport` hand-off to publish, compare and the Pushgateway),
its Markdown / HTML / chart rendering (``render``) and the SFT-vs-RL comparison over the
study's arms (``compare``). The KFP components only bind artifacts to these functions.
"""

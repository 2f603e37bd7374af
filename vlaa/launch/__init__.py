"""Launching training wider than one process: torchrun in the step's pod, or a Kubeflow Trainer
TrainJob / Training Operator PyTorchJob over several nodes, and the worker those processes run.

``config`` is the torch-free ``distributed`` group of the training configs; ``distributed``
decides how a step runs and stages its inputs and outputs; ``trainjob`` builds, submits and
follows the Kubernetes job; ``worker`` is the entry point every launched process runs
(``python -m vlaa.launch.worker``). Nothing here trains: the worker calls ``vlaa.training``.
"""

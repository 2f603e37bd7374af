"""The model registry: gated, atomic, versioned publishing of trained models to an object store.

This package owns what a published version is and how it gets there: the publish step's config
(``config``, torch-free), its errors (``errors``), the store layout of versions, aliases and
manifests (``layout``), the Hugging Face model card and secret scrubbing (``card``), the
promotion gate over the evaluation reports (``gate``), the store operations of a publish:
planned upload, resume of an interrupted one, manifest written last, verification (``store``),
who owns a version number (``claims``), forward-only aliases (``aliases``),
the KServe manifest (``serving``), the code version recorded as lineage (``lineage``) and the
publish operation that ties them together (``publish``). Stores come from ``vlaa.storage``.
"""

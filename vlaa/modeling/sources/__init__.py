"""Where a base model comes from: one resolver for every ``base_model`` form.

``uri`` parses a source (torch-free, no network: run-parameter validation uses it), ``errors``
holds the one-line user errors, ``files`` copies and checksums model files, and ``hf``, ``s3``
and ``registry`` fetch from the Hugging Face Hub, an S3 prefix and this project's model
registry. ``vlaa.modeling.base_models`` dispatches on the parsed source.
"""

"""KFP pipelines (DAGs, compile, local run), installed as ``vlaa.pipelines``."""

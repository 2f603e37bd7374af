"""Local containerized runs: the engine (Docker or podman), the images, each task's container."""

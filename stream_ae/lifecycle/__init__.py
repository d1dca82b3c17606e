"""The model's life beside the running detector: versions in a registry, the watch
that swaps a new `current` in, the oversight that judges a swap and notices drift, the
schedule that starts retraining, and the retrain job (a child process) itself."""

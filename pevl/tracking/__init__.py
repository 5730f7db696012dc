"""MLflow tracking: runs, thread-safe logging and the dataset inputs a run records."""

"""PeVL pipeline: dataset sources, shards, loader, model, losses, training, evaluation, tracking.

Heavy modules (torch, open_clip, prefect, mlflow) are imported by the functions that need them,
so `import pevl` and `pevl --help` stay fast.
"""

__version__ = "0.1.0"

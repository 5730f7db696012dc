"""Training and evaluation input pipelines over the WebDataset shards (see loader.py)."""

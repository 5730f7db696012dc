"""Training: optimizer and schedule (optim.py), checkpoints, distributed state, the loop (loop.py)."""

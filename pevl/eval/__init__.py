"""Evaluation: metrics (metrics.py), plots (plots.py), checkpoint evaluation and reports (evaluate.py)."""

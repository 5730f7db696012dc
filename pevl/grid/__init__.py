"""Ablation grids: expand a grid file, study curves, cost estimates, scheduling and running the rows."""

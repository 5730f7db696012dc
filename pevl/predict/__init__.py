"""Inference: videos -> predictions with a trained checkpoint, through the stages' and the loader's own functions.

inputs.py (files, folders, list files), model.py (loading a model), pipeline.py (a video -> model
inputs), predict.py (`predict_videos`, the rows, predictions.parquet).
"""

"""Inference: videos -> predictions with a trained model, through the stages' and the loader's own functions.

inputs.py (files, folders, list files), model.py (loading a model: a checkpoint or a model URI),
pipeline.py (a video -> model inputs), predict.py (`predict_videos`, the rows, predictions.parquet),
windows.py (long videos in windows), timeline.py (their picture), vocabulary.py (`--labels`: other
class texts through the model's text tower), render.py (`--render`: annotated MP4s);
a model in MLflow: logged_model.py (a training run's model and its registered versions),
bundle.py (the pose model files it carries), uris.py (runs:/ and models:/ URIs), pyfunc.py (what
`mlflow models serve` runs) and pyfunc_code.py (the code file MLflow loads it from).
"""

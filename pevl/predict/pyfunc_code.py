"""The code file of every logged PeVL model (MLflow's "models from code"): MLflow copies it into the
model and runs it to build the model, whose class comes from the installed pevl package
(pevl/predict/pyfunc.py), so loading a model unpickles no project object. Never imported by pevl."""

from mlflow.models import set_model

from pevl.predict.pyfunc import PevlPyfunc

set_model(PevlPyfunc())

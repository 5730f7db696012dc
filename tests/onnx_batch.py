"""A copy of an ONNX model whose batch dimension is symbolic, so that it takes stacks of inputs.

The shipped SynthDive pose models were exported with a fixed batch of 1, so the estimator runs them
item by item; the tests and the pose benchmark run the shipped weights stacked through such a copy. It only works for graphs that compute their reshapes from the
input's shape, as the shipped ones do (each item of a batch then comes out as it does alone).
"""

from pathlib import Path


def with_symbolic_batch(src: Path, dst: Path) -> Path:
    """Write `src` to `dst` with dimension 0 of every graph input and output named "batch"; returns dst."""
    import onnx

    model = onnx.load(str(src))
    for value in [*model.graph.input, *model.graph.output]:
        value.type.tensor_type.shape.dim[0].dim_param = "batch"
    del model.graph.value_info[:]  # inferred intermediate shapes would pin the batch to 1 again
    dst.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(dst))
    return dst

"""Several inputs per onnxruntime `session.run`: rtmlib's models fed a stack of frames or person crops.

rtmlib runs its models on one image at a time (`BaseTool.inference`: (H, W, C) -> (1, C, H, W)).
Here the same preprocessed images are stacked along the batch axis and run at once, which an
accelerator needs to be busy and which saves per-call overhead on a CPU. A model exported with a
fixed batch dimension (e.g. 1) cannot take a stack: it is run one item at a time instead.
Nothing here depends on the execution provider: the stack is a host array, as rtmlib's input is.
"""

import logging
from dataclasses import dataclass, field

import numpy as np

log = logging.getLogger(__name__)


def takes_any_batch(session) -> bool:
    """True when the session's first input has a symbolic (dynamic) batch dimension, False when it is fixed."""
    return not isinstance(session.get_inputs()[0].shape[0], int)


@dataclass
class BatchRunner:
    """Runs one rtmlib tool's session on a stack of inputs: at once, or item by item for a fixed-batch model.

    Attributes:
        tool: the rtmlib tool (YOLOX, RTMPose, RTMO); its `session` is read at each run, so a session
            replaced after construction (thread options) is the one used.
        per_item: run one item per `session.run` (the model's batch dimension is fixed).
    """

    tool: object
    per_item: bool
    _buffer: np.ndarray | None = field(default=None, repr=False)

    def __call__(self, images: list[np.ndarray]) -> list[np.ndarray]:
        """Args: images: B >= 1 of rtmlib's (H, W, C) model inputs. Returns every model output with B along axis 0."""
        batch = self.stack(images)  # (B, C, H, W)
        session = self.tool.session
        name = session.get_inputs()[0].name
        if not self.per_item:
            return session.run(None, {name: batch})
        runs = [session.run(None, {name: batch[i:i + 1]}) for i in range(len(batch))]
        return [np.concatenate(outputs) for outputs in zip(*runs)]

    def stack(self, images: list[np.ndarray]) -> np.ndarray:
        """(H, W, C) images -> (B, C, H, W) float32, cast as `BaseTool.inference` casts, in a buffer kept between runs.

        A fresh array of a few stacked 640x640 frames is larger than what the allocator recycles, and
        filling new pages costs several times the copy itself (measured here); the runs are sequential,
        so one buffer serves them all.
        """
        height, width, channels = images[0].shape
        buffer = self._buffer
        if buffer is None or buffer.shape[1:] != (channels, height, width) or len(buffer) < len(images):
            buffer = self._buffer = np.empty((len(images), channels, height, width), np.float32)
        batch = buffer[:len(images)]
        for slot, image in zip(batch, images):
            slot[...] = image.transpose(2, 0, 1)
        return batch


def build_runner(tool, path, batched: bool) -> BatchRunner:
    """A BatchRunner for an rtmlib tool loaded from `path`; logs once when a fixed batch forces per-item runs.

    Args:
        tool: an rtmlib tool whose `session` is final (threads set).
        path: the model file, for the log line.
        batched: whether the caller stacks inputs at all (poses.rtmlib.batch_frames > 1).
    """
    per_item = not takes_any_batch(tool.session)
    if batched and per_item:
        shape = tool.session.get_inputs()[0].shape
        log.info("poses: %s has a fixed batch dimension (input %s): it runs one item per session.run", path, shape)
    return BatchRunner(tool, per_item)

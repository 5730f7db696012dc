"""Small random-weight stand-ins for rtmlib's ONNX models, with exactly rtmlib's signatures.

Real weights cannot be downloaded here, so tests (and the pose benchmark) export these torch modules
to ONNX and run rtmlib end to end on them:

- YOLOX end2end: input (1, 3, 640, 640) raw 0..255 BGR -> dets (1, N, 5) xyxy + score, labels (1, N).
- RTMPose SimCC: input (1, 3, 256, 192) normalised crop -> simcc_x (1, 17, 384), simcc_y (1, 17, 512).
- RTMO: input (1, 3, 640, 640) raw -> dets (1, N, 5), keypoints (1, N, 17, 3).
The batch dimension is fixed at 1, or symbolic (`dynamic_batch=True`) for stacked runs: every item
of a batch is computed on its own.

Their outputs are deterministic and meaningful: the detectors put detection 0 on the box around
white pixels (all channels > 200) and detection 1 around pure red ones (R > 200, G and B < 60), with
score 0 when there are none; the pose models place 17 joints on a fixed standing-person template
inside the box/crop. A random-weight conv backbone (its depth and width set the compute cost)
nudges every score by up to +-0.05, so the graphs carry real convolutions like the real models.
"""

from pathlib import Path

import numpy as np

# (x, y) of the 17 COCO joints as fractions of a person box: a person standing, facing the camera
TEMPLATE = np.array(
    [
        [0.50, 0.08], [0.45, 0.05], [0.55, 0.05], [0.40, 0.07], [0.60, 0.07],  # nose, eyes, ears
        [0.30, 0.22], [0.70, 0.22], [0.22, 0.40], [0.78, 0.40], [0.18, 0.56], [0.82, 0.56],  # arms
        [0.38, 0.55], [0.62, 0.55], [0.38, 0.75], [0.62, 0.75], [0.38, 0.95], [0.62, 0.95],  # legs
    ],
    dtype=np.float32,
)
NUM_DETS = 2  # detection 0: white blob, detection 1: red blob
# the TorchScript exporter: same graphs, ~5x faster to export than dynamo=True here
DYNAMO = False


def _modules(width: int, depth: int):
    """The torch modules, built inside a function so that importing this file needs no torch."""
    import torch
    from torch import nn

    class Backbone(nn.Module):
        """Random convs -> (1, out) in (-1, 1): a stride-4 stem, then `depth` 3x3 convs at that stride."""

        def __init__(self, out: int):
            super().__init__()
            layers: list[nn.Module] = [nn.Conv2d(3, width, 4, stride=4), nn.ReLU()]
            for _ in range(depth):
                layers += [nn.Conv2d(width, width, 3, padding=1), nn.ReLU()]
            self.convs = nn.Sequential(*layers)
            self.head = nn.Linear(width, out)

        def forward(self, x):
            feat = self.convs(x / 255.0).mean(dim=(2, 3))  # (B, width)
            return torch.tanh(self.head(feat))

    def blob_boxes(x, xs, ys):
        """(B, 3, H, W) raw BGR -> boxes (B, N, 4) around the white and the red pixels, found (B, N) 0/1."""
        b, g, r = x[:, 0], x[:, 1], x[:, 2]
        white = (b > 200) & (g > 200) & (r > 200)
        red = (r > 200) & (g < 60) & (b < 60)
        masks = torch.stack([white, red], dim=1)  # (B, N, H, W)
        x1 = torch.where(masks, xs, 1e6).amin(dim=(2, 3))
        y1 = torch.where(masks, ys, 1e6).amin(dim=(2, 3))
        x2 = torch.where(masks, xs + 1, -1e6).amax(dim=(2, 3))
        y2 = torch.where(masks, ys + 1, -1e6).amax(dim=(2, 3))
        found = masks.flatten(2).any(dim=2).float()  # (B, N)
        return torch.stack([x1, y1, x2, y2], dim=2) * found[..., None], found

    class BlobDetector(nn.Module):
        """YOLOX end2end stand-in."""

        def __init__(self, size: int = 640):
            super().__init__()
            self.backbone = Backbone(NUM_DETS)
            self.register_buffer("xs", torch.arange(size).float()[None, :])  # (1, W)
            self.register_buffer("ys", torch.arange(size).float()[:, None])  # (H, 1)

        def forward(self, x):
            boxes, found = blob_boxes(x, self.xs, self.ys)
            scores = found * (0.9 + 0.05 * self.backbone(x))  # (B, N)
            dets = torch.cat([boxes, scores[..., None]], dim=2)  # (B, N, 5)
            labels = (dets[..., 4] * 0).long()  # (B, N): class 0, person
            return dets, labels

    class TemplatePose(nn.Module):
        """RTMPose SimCC stand-in: the template in the crop, as peaks of width ~2 bins."""

        def __init__(self, crop_w: int = 192, crop_h: int = 256, split: float = 2.0):
            super().__init__()
            self.backbone = Backbone(len(TEMPLATE))
            # the top-down crop has 1.25 padding: the box spans the central 80%
            crop = 0.1 + 0.8 * torch.from_numpy(TEMPLATE)
            self.register_buffer("peak_x", crop[:, 0] * crop_w * split)
            self.register_buffer("peak_y", crop[:, 1] * crop_h * split)
            self.register_buffer("bins_x", torch.arange(int(crop_w * split)).float())
            self.register_buffer("bins_y", torch.arange(int(crop_h * split)).float())

        def forward(self, x):
            score = 0.85 + 0.1 * self.backbone(x)  # (B, K)
            simcc_x = score[..., None] * torch.exp(-0.5 * (self.bins_x[None] - self.peak_x[:, None]) ** 2)
            simcc_y = score[..., None] * torch.exp(-0.5 * (self.bins_y[None] - self.peak_y[:, None]) ** 2)
            return simcc_x, simcc_y  # (B, K, Wx), (B, K, Wy)

    class BlobRTMO(BlobDetector):
        """RTMO stand-in: the detector's boxes, each with the template joints inside it."""

        def __init__(self, size: int = 640):
            super().__init__(size)
            self.register_buffer("template", torch.from_numpy(TEMPLATE))

        def forward(self, x):
            dets, _ = super().forward(x)
            boxes, scores = dets[..., :4], dets[..., 4]
            wh = boxes[..., 2:] - boxes[..., :2]  # (B, N, 2)
            xy = boxes[:, :, None, :2] + self.template * wh[:, :, None]  # (B, N, K, 2)
            kpt_scores = scores[..., None] * (xy[..., 0] * 0 + 1)  # (B, N, K)
            return dets, torch.cat([xy, kpt_scores[..., None]], dim=3)  # (B, N, K, 3)

    return BlobDetector, TemplatePose, BlobRTMO


def _export(module, shape: tuple[int, ...], outputs: list[str], path: Path, dynamic_batch: bool) -> Path:
    import torch

    module.eval()
    example = torch.rand(shape) * 255
    axes = {name: {0: "batch"} for name in ["input", *outputs]} if dynamic_batch else None
    torch.onnx.export(module, (example,), str(path), input_names=["input"], output_names=outputs,
                      dynamic_axes=axes, dynamo=DYNAMO, external_data=False, verbose=False)
    return path


def export_models(folder: Path, width: int = 8, depth: int = 1, seed: int = 0,
                  dynamic_batch: bool = False) -> dict[str, Path]:
    """Export the three stand-ins to `folder`; returns {"det": ..., "pose": ..., "rtmo": ...} .onnx paths."""
    import torch

    torch.manual_seed(seed)
    detector, pose, rtmo = _modules(width, depth)
    folder.mkdir(parents=True, exist_ok=True)
    export = {"dynamic_batch": dynamic_batch}
    return {
        "det": _export(detector(), (1, 3, 640, 640), ["dets", "labels"], folder / "yolox_standin.onnx", **export),
        "pose": _export(pose(), (1, 3, 256, 192), ["simcc_x", "simcc_y"], folder / "rtmpose_standin.onnx", **export),
        "rtmo": _export(rtmo(), (1, 3, 640, 640), ["dets", "keypoints"], folder / "rtmo_standin.onnx", **export),
    }


def backbone_gflops(size: tuple[int, int], width: int, depth: int) -> float:
    """Multiply-adds x 2 of one stand-in's conv backbone at input (height, width), in GFLOPs."""
    cells = (size[0] // 4) * (size[1] // 4)
    return 2 * cells * (3 * width * 16 + depth * width * width * 9) / 1e9

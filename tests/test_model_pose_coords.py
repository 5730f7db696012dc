"""Person-centred pose coordinates (model.pose_coords=person): invariances that define them."""

import torch
from tiny_model import one_thread, tiny_batch, tiny_cfg, tiny_classes  # noqa: F401 (autouse fixture)

from pevl.model import build_model
from pevl.model.pose_encoder import person_coords


def _pose(seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    xy = 0.3 + 0.4 * torch.rand(2, 4, 17, 2, generator=g)
    score = (torch.rand(2, 4, 17, generator=g) > 0.2).float()
    return torch.cat([xy, score.unsqueeze(-1)], -1)


def test_person_coords_remove_each_frame_centre_and_the_clip_scale():
    p = _pose()
    out = person_coords(p[..., :2], p[..., 2])
    w = p[..., 2:]
    # each frame's visible joints are centred on 0 ...
    centre = (out * w).sum(2) / w.sum(2)
    assert torch.allclose(centre, torch.zeros_like(centre), atol=1e-5)
    # ... and the clip's visible joints have unit RMS distance from the centres
    rms = ((w * out.square()).sum((1, 2, 3)) / w.sum((1, 2, 3))).sqrt()
    assert torch.allclose(rms, torch.ones_like(rms), atol=1e-5)
    # a per-frame translation and a global scale of the image positions change nothing
    shift = torch.rand(2, 4, 1, 2) * 0.2
    moved = person_coords(0.5 + 0.7 * (p[..., :2] - 0.5) + shift, p[..., 2])
    assert torch.allclose(moved * w, out * w, atol=1e-4)


def test_missing_joints_do_not_move_the_centre_and_an_empty_frame_stays_finite():
    p = _pose()
    far = p.clone()
    far[..., :2] = torch.where(p[..., 2:] > 0, p[..., :2], torch.full_like(p[..., :2], 50.0))
    w = p[..., 2:]
    assert torch.allclose(person_coords(far[..., :2], far[..., 2]) * w, person_coords(p[..., :2], p[..., 2]) * w, atol=1e-5)
    p[0, 1, :, 2] = 0.0
    assert torch.isfinite(person_coords(p[..., :2], p[..., 2])).all()


def test_person_pose_encoder_sees_the_body_not_where_it_is_in_the_frame():
    outputs = {}
    for coords in ("image", "person"):
        torch.manual_seed(0)
        cfg = tiny_cfg({"model.pose_coords": coords})
        model = build_model(cfg, tiny_classes(4)).eval()
        _, pose, _ = tiny_batch(cfg, batch=2)
        moved = pose.clone()
        moved[..., :2] = moved[..., :2] * 0.8 + 0.1  # the same body, smaller and elsewhere in the crop
        with torch.no_grad():
            a = model.pose_encoder(pose, model.visual)
            b = model.pose_encoder(moved, model.visual)
        outputs[coords] = (a, b)
    a, b = outputs["person"]
    assert torch.allclose(a.tokens, b.tokens, atol=1e-4)
    assert not torch.allclose(a.xy, b.xy)  # UCMR still gets the crop positions
    a, b = outputs["image"]
    assert not torch.allclose(a.tokens, b.tokens, atol=1e-3)

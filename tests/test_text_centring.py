"""model.text_centre: class sentence features minus their class mean, so a narrow cone of one-template
sentences spreads out; the semantic distance and the state dict stay as without it."""

import torch

from pevl.model import build_model
from pevl.model.text_encoder import ClassCentring
from tiny_model import tiny_cfg, tiny_classes


def test_centring_spreads_a_narrow_cone_of_class_features():
    g = torch.Generator().manual_seed(0)
    shared = torch.randn(64, generator=g)
    cone = torch.nn.functional.normalize(shared + 0.05 * torch.randn(12, 64, generator=g), dim=-1)
    off = ~torch.eye(12, dtype=torch.bool)
    assert (cone @ cone.T)[off].min() > 0.98
    out = ClassCentring()(cone)
    assert torch.allclose(out.norm(dim=-1), torch.ones(12))
    assert (out @ out.T)[off].max() < 0.6
    assert abs(float(out.mean(0) @ shared / shared.norm())) < 0.01  # no shared direction left


def test_build_model_centres_sentences_only_when_asked():
    classes = tiny_classes(6)
    plain = build_model(tiny_cfg({"model.text_centre": False}), classes)
    centred = build_model(tiny_cfg({"model.text_centre": True}), classes)
    centred.load_state_dict(plain.state_dict())  # no new parameters or buffers
    a, b = plain.text_encoder(), centred.text_encoder()
    assert torch.allclose(b.sentence, ClassCentring()(a.sentence), atol=1e-6)
    assert not torch.allclose(a.sentence, b.sentence)
    assert torch.equal(plain.text_encoder.class_distance, centred.text_encoder.class_distance)
    assert torch.equal(a.words, b.words)  # word features (S_FW) are not centred

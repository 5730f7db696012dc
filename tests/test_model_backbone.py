"""Backbone loading: local weights file / folder, local-dir, and clear errors for missing weights."""

import pytest
import torch
from safetensors.torch import save_file
from tiny_model import one_thread, tiny_cfg, tiny_classes  # noqa: F401 (autouse fixture)

from pevl.model import build_model
from pevl.model.backbone import PretrainedNotFound, load_clip


@pytest.fixture(scope="module")
def reference_clip():
    torch.manual_seed(123)
    return load_clip("pevl-tiny", None, image_size=32)


def assert_same_backbone(model, clip):
    torch.testing.assert_close(model.visual.conv1.weight, clip.visual.conv1.weight, rtol=0, atol=0)
    torch.testing.assert_close(model.text_encoder.token_embedding.weight, clip.token_embedding.weight, rtol=0, atol=0)


def test_local_weights_file(tmp_path, reference_clip):
    path = tmp_path / "tiny.pt"
    torch.save(reference_clip.state_dict(), path)
    torch.manual_seed(0)
    model = build_model(tiny_cfg({"model.pretrained": str(path)}), tiny_classes())
    assert_same_backbone(model, reference_clip)


@pytest.mark.parametrize("prefix", ["", "local-dir:"])
def test_local_weights_folder(tmp_path, reference_clip, prefix):
    folder = tmp_path / "weights"
    folder.mkdir()
    state = {k: v.contiguous() for k, v in reference_clip.state_dict().items()}
    save_file(state, folder / "open_clip_model.safetensors")
    torch.manual_seed(0)
    model = build_model(tiny_cfg({"model.pretrained": f"{prefix}{folder}"}), tiny_classes())
    assert_same_backbone(model, reference_clip)


def test_empty_or_missing_folder_says_what_is_missing(tmp_path):
    with pytest.raises(PretrainedNotFound, match="no weights file"):
        load_clip("pevl-tiny", str(tmp_path))
    with pytest.raises(PretrainedNotFound, match="does not exist"):
        load_clip("pevl-tiny", f"local-dir:{tmp_path / 'nope'}")


def test_unknown_tag_lists_the_known_ones():
    with pytest.raises(PretrainedNotFound, match="neither an existing file") as e:
        load_clip("ViT-B-16", "no-such-tag")
    assert "openai" in str(e.value)


def test_failed_download_says_what_to_fetch_and_where(monkeypatch):
    """The hub download is mocked: this machine has no network (it would retry for ~30 s)."""
    import open_clip.factory

    def offline(*args, **kwargs):
        raise OSError("Name or service not known")

    monkeypatch.setattr(open_clip.factory, "download_pretrained", offline)
    with pytest.raises(PretrainedNotFound) as e:
        load_clip("ViT-B-16", "openai")
    msg = str(e.value)
    assert "timm/vit_base_patch16_clip_224.openai" in msg and "openaipublic" in msg
    assert "model.pretrained=/path/to/file" in msg and "huggingface" in msg


def test_unknown_backbone_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown open_clip model 'ViT-Q-99'"):
        load_clip("ViT-Q-99", None)

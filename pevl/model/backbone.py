"""The frozen open_clip backbone: loading by name and weights source, and its image token path.

`pretrained` may be
- an open_clip tag (e.g. "openai"), downloaded by open_clip into the Hugging Face cache;
- a local weights file (.safetensors, .bin, .pt, .pth) for the named architecture;
- a folder, or "local-dir:/path": with an `open_clip_config.json` it is open_clip's own
  local-dir format (architecture from the folder), otherwise the weights file found in it;
- "builtin:<path>": a file shipped under `pevl/assets/models/`, e.g. the embedded SynthDive-pretrained
  backbone `builtin:clip/synthclip-tiny.pt` (pevl/assets/models/clip/MODEL_CARD.md);
- None: random initialisation (tests).
The tiny architecture "pevl-tiny" ships in `pevl/assets/pevl-tiny.json`.
"""

import logging
from pathlib import Path

import torch
from torch import nn

from pevl.model.adapters import AdapterStack, run_blocks
from pevl.weights_digest import resolve_builtin

log = logging.getLogger(__name__)

TINY_NAME = "pevl-tiny"
TINY_CONFIG = Path(__file__).resolve().parents[1] / "assets" / f"{TINY_NAME}.json"
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth")
LOCAL_DIR = "local-dir:"


class PretrainedNotFound(RuntimeError):
    """Pretrained weights could not be found or downloaded; the message says what to fetch."""


def register_tiny_config() -> None:
    """Register the packaged tiny open_clip config (idempotent)."""
    import open_clip

    if TINY_NAME not in open_clip.list_models():
        open_clip.add_model_config(TINY_CONFIG)


def _weights_in(folder: Path) -> Path:
    files = sorted(p for p in folder.iterdir() if p.suffix in WEIGHT_SUFFIXES)
    if not files:
        raise PretrainedNotFound(
            f"no weights file ({', '.join(WEIGHT_SUFFIXES)}) in {folder}: put the open_clip "
            "checkpoint there (e.g. open_clip_model.safetensors)"
        )
    files.sort(key=lambda p: p.suffix != ".safetensors")
    return files[0]


def _missing_download(name: str, tag: str, err: Exception) -> PretrainedNotFound:
    import open_clip

    cfg = open_clip.get_pretrained_cfg(name, tag) or {}
    sources = []
    if cfg.get("hf_hub"):
        sources.append(f"Hugging Face repo {cfg['hf_hub'].rstrip('/')} (open_clip_pytorch_model.bin or "
                       "open_clip_model.safetensors)")
    if cfg.get("url"):
        sources.append(cfg["url"])
    return PretrainedNotFound(
        f"could not get open_clip weights {name!r} / {tag!r} ({type(err).__name__}: {err}).\n"
        f"  what to fetch: {' or '.join(sources) or 'see open_clip.list_pretrained()'}\n"
        "  where to put it: either run "
        f"`python -c \"import open_clip; open_clip.create_model('{name}', pretrained='{tag}')\"` on a "
        "connected machine and copy its Hugging Face cache (~/.cache/huggingface/hub, or $HF_HOME) "
        "to the same place here, or download the weights file anywhere and set "
        "model.pretrained=/path/to/file (or a folder holding it)"
    )


def load_clip(name: str, pretrained: str | None, image_size: int | None = None) -> nn.Module:
    """Create an open_clip CLIP model (fp32, CPU) from a name and a weights source (module doc).

    Raises:
        PretrainedNotFound: the tag cannot be downloaded, or a file/folder does not exist.
    """
    import open_clip

    register_tiny_config()
    kwargs = {}
    base = open_clip.get_model_config(name)
    if base is None:
        raise ValueError(f"unknown open_clip model {name!r}; known: {', '.join(open_clip.list_models())}")
    if image_size is not None and base["vision_cfg"].get("image_size") != image_size:
        kwargs["force_image_size"] = image_size
    if pretrained is None:
        return open_clip.create_model(name, pretrained=None, **kwargs)
    pretrained = resolve_builtin(pretrained)
    path = Path(pretrained[len(LOCAL_DIR):] if pretrained.startswith(LOCAL_DIR) else pretrained).expanduser()
    if pretrained.startswith(LOCAL_DIR) or path.is_dir():
        if not path.is_dir():
            raise PretrainedNotFound(f"weights folder {path} does not exist")
        if (path / "open_clip_config.json").is_file():
            log.info("loading open_clip local-dir %s (architecture from its config)", path)
            return open_clip.create_model(f"{LOCAL_DIR}{path}", **kwargs)
        path = _weights_in(path)
    if path.is_file():
        log.info("loading %s weights from %s", name, path)
        return open_clip.create_model(name, pretrained=str(path), **kwargs)
    if pretrained not in open_clip.list_pretrained_tags_by_model(name):
        tags = ", ".join(open_clip.list_pretrained_tags_by_model(name)) or "none"
        raise PretrainedNotFound(
            f"model.pretrained={pretrained!r} is neither an existing file/folder nor an open_clip tag "
            f"of {name} (tags: {tags})"
        )
    if (open_clip.get_pretrained_cfg(name, pretrained) or {}).get("quick_gelu") and not base.get("quick_gelu"):
        kwargs["force_quick_gelu"] = True  # e.g. OpenAI's weights were trained with QuickGELU
    try:
        return open_clip.create_model(name, pretrained=pretrained, **kwargs)
    except (RuntimeError, OSError) as e:
        raise _missing_download(name, pretrained, e) from e


def check_supported(clip: nn.Module) -> None:
    """Raise a clear error unless `clip` is an open_clip CLIP with ViT image and built-in text towers."""
    from open_clip.transformer import VisionTransformer

    visual = getattr(clip, "visual", None)
    if not isinstance(visual, VisionTransformer) or visual.attn_pool is not None:
        raise ValueError("PeVL needs an open_clip ViT image tower with a class token (e.g. ViT-B-16)")
    if not hasattr(clip, "token_embedding"):
        raise ValueError("PeVL needs open_clip's built-in CLIP text transformer (not an HF text tower)")
    if not (visual.transformer.batch_first and clip.transformer.batch_first):
        raise ValueError("PeVL expects batch-first open_clip transformers")


def freeze(module: nn.Module) -> nn.Module:
    """Set requires_grad=False on every parameter of `module` and return it."""
    for p in module.parameters():
        p.requires_grad_(False)
    return module


def embed_patches(visual: nn.Module, images: torch.Tensor) -> torch.Tensor:
    """CLIP patch embedding + class token + positions + ln_pre (the token path's input).

    Args:
        images: (n, 3, H, W) CLIP-normalised.
    Returns:
        (n, 1 + N, D).
    """
    x = visual.conv1(images)  # (n, D, gh, gw)
    x = x.flatten(2).transpose(1, 2)  # (n, N, D), row-major patches
    cls = visual.class_embedding.to(x.dtype).expand(x.shape[0], 1, -1)
    x = torch.cat([cls, x], dim=1) + visual.positional_embedding.to(x.dtype)
    return visual.ln_pre(x)


def encode_tokens(
    visual: nn.Module, x: torch.Tensor, adapters: AdapterStack | None, temporal: nn.Module | None = None,
) -> torch.Tensor:
    """Run token sequences through the frozen image transformer, ln_post and the adapters.

    ln_post is applied to every token (CLIP applies it to the class token; the patch tokens that
    open_clip returns with `output_tokens` get it too). With a temporal tower (`temporal_aim.py`,
    `st_adapter.py`) the blocks run inside it, tokens interacting across the frames of each clip;
    without one, every sequence runs on its own (order-blind).

    Args:
        x: (n, L, D) embedded tokens, class token first; with a temporal tower n = B*T, the frames
            of a clip consecutive.
    Returns:
        (n, L, D).
    """
    blocks = visual.transformer.resblocks
    x = run_blocks(blocks, x, adapters) if temporal is None else temporal(x, blocks, adapters)
    x = visual.ln_post(x)
    return adapters.after_output(x) if adapters is not None else x


def project(visual: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """CLIP's image projection D -> E.

    Args:
        x: (..., D).
    Returns:
        (..., E).
    """
    return x @ visual.proj

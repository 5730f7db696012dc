"""`build_model`: the one place that reads the model config (torchtune-style builder)."""

import contextlib
import functools
import logging
import threading

import torch
from torch import nn

from pevl.model.adapters import AdapterStack, bottleneck_width
from pevl.model.backbone import check_supported, freeze, load_clip
from pevl.model.p2v import P2VRefiner
from pevl.model.pevl import PeVL
from pevl.model.pose_encoder import CoordPoseEncoder, HeatmapPoseEncoder
from pevl.model.readout import TokenReadout
from pevl.model.sgmc import ScoreHead
from pevl.model.st_adapter import STAdapterTower
from pevl.model.temporal_aim import AIMTower
from pevl.model.text_encoder import ClassCentring, ClassEmbedding, TextEncoder
from pevl.model.ucmr import UCMR
from pevl.model.v2p import V2PRefiner
from pevl.model.video_encoder import VideoEncoder
from schemas import ClassText, ModelConfig
from schemas.model import active_scores

log = logging.getLogger(__name__)
_GLOBAL_RNG = threading.Lock()  # torch's global RNG is one per process, shared by its threads


def _adapters(cfg: ModelConfig, use: bool, width: int, num_blocks: int) -> AdapterStack | None:
    a = cfg.adapter
    if not (cfg.use_adapters and use):
        return None
    return AdapterStack(width, a.bottleneck, num_blocks, a.placement, a.inside_blocks)


def _temporal(
    cfg: ModelConfig, use: bool, visual: nn.Module, num_frames: int, ratio: float, grid: tuple[int, int],
    kernel_s: int,
) -> AIMTower | STAdapterTower | None:
    """The temporal tower of one path through the frozen image blocks (None: kind none or adapters off)."""
    t = cfg.temporal
    if t.kind == "none" or not (cfg.use_adapters and use):
        return None
    width, depth = visual.transformer.width, len(visual.transformer.resblocks)
    hidden = bottleneck_width(width, ratio)
    if t.kind == "aim":
        return AIMTower(width, hidden, depth, num_frames, t.joint_scale, t.use_checkpoint)
    return STAdapterTower(width, hidden, depth, num_frames, grid, (t.kernel_t, kernel_s, kernel_s), t.use_checkpoint)


def _pose_encoder(cfg: ModelConfig, visual: nn.Module) -> CoordPoseEncoder | HeatmapPoseEncoder:
    width = visual.transformer.width
    adapters = _adapters(cfg, cfg.adapter.use_pose, width, len(visual.transformer.resblocks))
    encoded = cfg.num_frames * cfg.pose_frame_ratio if cfg.pose_align == "pool" else cfg.num_frames
    use_temporal = cfg.adapter.use_pose and cfg.temporal.use_pose
    if cfg.pose_input == "heatmap":
        temporal = _temporal(cfg, use_temporal, visual, encoded, cfg.temporal.pose_ratio, tuple(visual.grid_size),
                             cfg.temporal.kernel_s)
        return HeatmapPoseEncoder(cfg.num_frames, cfg.pose_align, cfg.heatmap_sigma, adapters, temporal)
    # joints have no spatial layout: the ST-Adapter convolution mixes each joint only over time
    temporal = _temporal(cfg, use_temporal, visual, encoded, cfg.temporal.pose_ratio, (cfg.num_joints, 1), 1)
    cls_init = visual.class_embedding + visual.positional_embedding[0]
    return CoordPoseEncoder(
        width, cfg.num_joints, cfg.num_frames, cfg.pose_frame_ratio, cfg.pose_align, cls_init, adapters,
        cfg.pose_coords, temporal,
    )


@functools.lru_cache(maxsize=4)
def _tokenizer(name: str, context_length: int):
    """open_clip's tokenizer of a model (cached: loading the BPE vocabulary takes a while)."""
    import open_clip

    return open_clip.get_tokenizer(name, context_length=context_length)


def _class_tokens(cfg: ModelConfig, context_length: int, classes: list[ClassText],
                  use_words: bool) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
    """Token ids of the class sentences (C, L), and of their phrases (P, L) with each one's class (P,) when used."""
    tokenizer = _tokenizer(cfg.backbone, context_length)
    sentences = tokenizer([c.text for c in classes])
    phrase_tokens = owner = None
    if use_words and cfg.sgmc.word_level == "phrases":
        texts, owners = [], []
        for i, c in enumerate(classes):
            for phrase in c.phrases or [c.text]:
                texts.append(phrase)
                owners.append(i)
        phrase_tokens, owner = tokenizer(texts), torch.tensor(owners)
    return sentences, phrase_tokens, owner


def _text_encoder(cfg: ModelConfig, clip: nn.Module, classes: list[ClassText], use_words: bool) -> TextEncoder:
    tokens = _class_tokens(cfg, clip.context_length, classes, use_words)
    adapters = _adapters(cfg, cfg.adapter.use_text, clip.transformer.width, len(clip.transformer.resblocks))
    centring = ClassCentring() if cfg.text_centre else None
    return TextEncoder(clip, *tokens, adapters, use_words, centring)


def build_text_encoder_for(cfg: ModelConfig, text: TextEncoder, classes: list[ClassText]) -> TextEncoder:
    """A text encoder over other class texts that shares `text`'s frozen tower, adapters and centring.

    Open vocabulary (`pevl predict --labels`): the trained text path, run on new texts. Its
    cached frozen states are computed on `text`'s device; labels are 0..C-1 as in `build_model`.
    """
    classes = _sorted_classes(classes)
    device = text.positional_embedding.device
    tokens = _class_tokens(cfg, text.positional_embedding.shape[0], classes, text.use_words)
    tokens = tuple(t.to(device) if t is not None else None for t in tokens)
    # the trained encoder has the text tower's attributes: it stands in for the CLIP model it was built from
    return TextEncoder(text, *tokens, text.adapters, text.use_words, text.centring)


def _ucmr(cfg: ModelConfig, width: int, grid: tuple[int, int]) -> UCMR | None:
    u = cfg.ucmr
    if not (u.use_ucmr and cfg.use_video and cfg.use_pose and (u.use_p2v or u.use_v2p)):
        return None
    p2v = P2VRefiner(width, u.heads, grid, u.mask_sigma, u.mask_samples, u.mask_eps) if u.use_p2v else None
    v2p = None
    if u.use_v2p:
        v2p = V2PRefiner(width, u.heads, grid, u.group_radius, u.score_threshold, u.v2p_cls_keys, u.use_v2p_mix)
    return UCMR(p2v, v2p, u.order)


def _readouts(cfg: ModelConfig, visual: nn.Module) -> tuple[TokenReadout | None, TokenReadout | None]:
    """Video and pose token readouts (model.readout=tokens), else (None, None) = class tokens."""
    if cfg.readout == "cls":
        return None, None
    width, patches = visual.transformer.width, 1 + visual.grid_size[0] * visual.grid_size[1]
    video = TokenReadout(patches, width) if cfg.use_video else None
    pose_tokens = 1 + cfg.num_joints if cfg.pose_input == "coords" else patches
    return video, TokenReadout(pose_tokens, width) if cfg.use_pose else None


def _sorted_classes(classes: list[ClassText]) -> list[ClassText]:
    ordered = sorted(classes, key=lambda c: c.label)
    if [c.label for c in ordered] != list(range(len(ordered))):
        raise ValueError("class labels must be 0..C-1, each once")
    return ordered


def build_model(cfg: ModelConfig, classes: list[ClassText]) -> PeVL:
    """Build PeVL from the model config and the class texts (backbones frozen, new parts trainable).

    Args:
        cfg: the model section of the pipeline config.
        classes: one ClassText per label 0..C-1 (any order); encoded and cached here.
    """
    classes = _sorted_classes(classes)
    clip = load_clip(cfg.backbone, cfg.pretrained, cfg.image_size)
    check_supported(clip)
    freeze(clip)
    visual = clip.visual
    width = visual.transformer.width
    scores = active_scores(cfg)
    video = None
    if cfg.use_video:
        temporal = _temporal(cfg, cfg.adapter.use_video, visual, cfg.num_frames, cfg.temporal.ratio,
                             tuple(visual.grid_size), cfg.temporal.kernel_s)
        video = VideoEncoder(_adapters(cfg, cfg.adapter.use_video, width, len(visual.transformer.resblocks)), temporal)
    pose = _pose_encoder(cfg, visual) if cfg.use_pose else None
    if cfg.use_text:
        text = _text_encoder(cfg, clip, classes, use_words="fw" in scores)
    else:
        text = ClassEmbedding(len(classes), visual.proj.shape[1])
    model = PeVL(
        visual, video, pose, text, _ucmr(cfg, width, tuple(visual.grid_size)),
        ScoreHead(scores, cfg.sgmc.word_reduce), float(clip.logit_scale), *_readouts(cfg, visual),
    )
    n_train = sum(p.numel() for p in model.trainable_parameters())
    log.info("built PeVL %s (%d classes, %.2f M trainable parameters)", cfg.backbone, len(classes), n_train / 1e6)
    return model


def build_seeded(cfg: ModelConfig, classes: list[ClassText], seed: int, restore: bool = False) -> PeVL:
    """`build_model` with torch's global RNG seeded to `seed`, under a process-wide lock.

    Threads of one process share that RNG, so two builds at once (the flow's train stage beside a
    grid's cost estimate, grid rows on the thread runner) would draw each other's numbers and the
    same config would train differently. Training draws nothing from it after the build. With
    `restore`, the RNG is left as it was (for a throwaway model, e.g. a FLOP count).
    """
    with _GLOBAL_RNG, (torch.random.fork_rng(devices=[]) if restore else contextlib.nullcontext()):
        torch.manual_seed(seed)
        return build_model(cfg, classes)

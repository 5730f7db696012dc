"""Text encoder: class texts through the frozen CLIP text transformer and its adapter.

Features per class (METHOD.md sections 2 and 5):
- sentence `S (C, E)`: the EOT token of the action-level sentence, projected;
- words `W (C, L, E)` + mask: either the sentence's token embeddings between SOT and EOT
  ("tokens"), or one EOT embedding per sub-action phrase ("phrases"; a class without phrases
  uses its sentence as its only phrase).
The class texts are fixed, so the frozen part of the encoder runs once at build time: the hidden
states entering the first adapted block are cached in buffers (persistent, so a checkpoint always
matches its backbone); each forward runs only the adapted rest. The semantic distance of the
class texts, `1 - cos(t_i, t_j)` between frozen (un-adapted) sentence embeddings, is cached too.

Class centring (`model.text_centre`, off by default): the sentence features minus their mean over the
class set, renormalised. Sentences built on one template ("a diver performs a ... takeoff, ...
somersaults, ...") land in a narrow cone through a small text tower (the shipped synthclip-tiny: nearest-
neighbour cosine 0.994), where a cosine can tell the classes apart by only a few hundredths; removing
the shared direction leaves what differs between the classes. The semantic distance stays that of the
frozen, uncentred sentences.
"""

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from pevl.model.adapters import AdapterStack, run_blocks


@dataclass
class TextFeatures:
    """L2-normalised class text features."""

    sentence: torch.Tensor  # (C, E)
    words: torch.Tensor | None = None  # (C, L, E)
    word_mask: torch.Tensor | None = None  # (C, L) bool


def eot_positions(tokens: torch.Tensor) -> torch.Tensor:
    """Index of the end-of-text token (the largest id in CLIP's BPE vocab).

    Args:
        tokens: (n, L) token ids.
    Returns:
        (n,) long.
    """
    return tokens.argmax(dim=-1)


class ClassCentring(nn.Module):
    """Class sentence features minus their mean over the classes, L2-normalised (module doc)."""

    def forward(self, sentence: torch.Tensor) -> torch.Tensor:
        """(C, E) -> (C, E)."""
        return F.normalize(sentence - sentence.mean(0, keepdim=True), dim=-1)


class TextEncoder(nn.Module):
    """Frozen CLIP text transformer + adapter over a fixed set of class texts (module doc).

    Args:
        clip: an open_clip CLIP model; its text tower modules are taken over (frozen).
        sentence_tokens: (C, L) token ids of the class sentences.
        phrase_tokens: (P, L) token ids of all sub-action phrases, or None ("tokens" words).
        phrase_owner: (P,) class index of each phrase (with phrase_tokens).
        adapters: the text adapters, or None.
        use_words: compute word-level features (S_FW is on).
        centring: `ClassCentring` on the sentence features (model.text_centre), or None.
    """

    def __init__(
        self,
        clip: nn.Module,
        sentence_tokens: torch.Tensor,
        phrase_tokens: torch.Tensor | None,
        phrase_owner: torch.Tensor | None,
        adapters: AdapterStack | None,
        use_words: bool,
        centring: nn.Module | None = None,
    ):
        super().__init__()
        self.token_embedding = clip.token_embedding
        self.positional_embedding = clip.positional_embedding
        self.transformer = clip.transformer
        self.ln_final = clip.ln_final
        self.text_projection = clip.text_projection
        self.register_buffer("attn_mask", clip.attn_mask, persistent=False)
        self.adapters = adapters
        self.use_words = use_words
        self.centring = centring if centring is not None else nn.Identity()
        self.start = adapters.first_block if adapters is not None else len(self.transformer.resblocks)
        with torch.no_grad():
            sentence_hidden, sentence_eot = self._prefix(sentence_tokens)
            frozen = self._pooled(self._rest(sentence_hidden, adapters=None), sentence_eot)
        positions = torch.arange(sentence_hidden.shape[1])
        self.register_buffer("sentence_hidden", sentence_hidden)
        self.register_buffer("sentence_eot", sentence_eot)
        self.register_buffer("word_mask", (positions > 0) & (positions < sentence_eot[:, None]))
        self.register_buffer("class_distance", 1.0 - frozen @ frozen.T)
        phrase_hidden = phrase_eot = phrase_index = None
        if phrase_tokens is not None:
            with torch.no_grad():
                phrase_hidden, phrase_eot = self._prefix(phrase_tokens)
            phrase_index = _phrase_index(phrase_owner, len(sentence_tokens))
        self.register_buffer("phrase_hidden", phrase_hidden)
        self.register_buffer("phrase_eot", phrase_eot)
        self.register_buffer("phrase_index", phrase_index)

    def _prefix(self, tokens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Hidden states entering the first adapted block, trimmed to the longest text."""
        eot = eot_positions(tokens)
        length = int(eot.max()) + 1
        tokens = tokens[:, :length]
        x = self.token_embedding(tokens) + self.positional_embedding[:length]
        blocks = self.transformer.resblocks[: self.start]
        return run_blocks(blocks, x, None, attn_mask=self.attn_mask[:length, :length]), eot

    def _rest(self, hidden: torch.Tensor, adapters: AdapterStack | None) -> torch.Tensor:
        """Adapted blocks, ln_final, output adapter and projection: (n, L, D) -> (n, L, E)."""
        length = hidden.shape[1]
        x = run_blocks(self.transformer.resblocks, hidden, adapters, self.attn_mask[:length, :length], self.start)
        x = self.ln_final(x)
        if adapters is not None:
            x = adapters.after_output(x)
        proj = self.text_projection
        return proj(x) if isinstance(proj, nn.Linear) else x @ proj

    @staticmethod
    def _pooled(x: torch.Tensor, eot: torch.Tensor) -> torch.Tensor:
        """Normalised EOT features, float32: (n, L, E) -> (n, E)."""
        return F.normalize(x[torch.arange(x.shape[0], device=x.device), eot].float(), dim=-1)

    def forward(self) -> TextFeatures:
        """Features of every class text (see TextFeatures)."""
        x = self._rest(self.sentence_hidden, self.adapters)  # (C, L, E)
        out = TextFeatures(self.centring(self._pooled(x, self.sentence_eot)))
        if not self.use_words:
            return out
        if self.phrase_hidden is None:
            out.words, out.word_mask = F.normalize(x.float(), dim=-1), self.word_mask
            return out
        phrases = self._pooled(self._rest(self.phrase_hidden, self.adapters), self.phrase_eot)  # (P, E)
        out.words = phrases[self.phrase_index.clamp_min(0)]  # (C, Pmax, E)
        out.word_mask = self.phrase_index >= 0
        return out


def _phrase_index(owner: torch.Tensor, num_classes: int) -> torch.Tensor:
    """(C, Pmax) phrase indices per class, -1 for padding."""
    counts = torch.bincount(owner, minlength=num_classes)
    index = torch.full((num_classes, int(counts.max())), -1, dtype=torch.long)
    slot = torch.zeros(num_classes, dtype=torch.long)
    for p, c in enumerate(owner.tolist()):
        index[c, slot[c]] = p
        slot[c] += 1
    return index


class ClassEmbedding(nn.Module):
    """Learned class embeddings replacing the text modality (the V+P input ablation).

    No words and no semantic distance: S_FW and semantic guidance are unavailable.

    Args:
        num_classes: C.
        embed_dim: E.
    """

    def __init__(self, num_classes: int, embed_dim: int):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(num_classes, embed_dim) * embed_dim**-0.5)
        self.class_distance = None

    def forward(self) -> TextFeatures:
        """Normalised class embeddings as sentence features."""
        return TextFeatures(F.normalize(self.weight, dim=-1))

"""Per-frame readout of encoder tokens: CLIP's class token, or a learned map over all tokens.

"cls" (default, METHOD.md section 4): the refined class token of each frame. This relies on a
pretrained CLIP whose attention has learned to gather the frame into its class token.

"tokens" (demo option for randomly initialised backbones): a trainable linear map of the frame's
concatenated tokens `(1+L)*D -> D`, initialised to pick the class token, so training starts from
the "cls" readout. Measured on SynthDive with a random frozen pevl-tiny: the class token of a
random transformer barely depends on the input (its near-uniform attention averages the tokens),
while the joint / patch tokens keep it, so only this readout lets the clip features learn.
It costs (1+L) * D^2 parameters per modality (0.27 M video, 0.07 M pose at pevl-tiny), far too
many for ViT-B/16 video (116 M): real-data presets keep "cls".
"""

import torch
from torch import nn


class TokenReadout(nn.Module):
    """Linear map of a frame's concatenated tokens to one feature, starting as the class token.

    Args:
        num_tokens: tokens per frame, class token first (1 + K or 1 + N).
        width: D.
    """

    def __init__(self, num_tokens: int, width: int):
        super().__init__()
        self.num_tokens = num_tokens
        self.linear = nn.Linear(num_tokens * width, width)
        with torch.no_grad():
            self.linear.weight.zero_()
            self.linear.weight[:, :width] = torch.eye(width)
            self.linear.bias.zero_()

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """Read out each frame.

        Args:
            tokens: (B, T, num_tokens, D).
        Returns:
            (B, T, D).
        """
        if tokens.shape[2] != self.num_tokens:
            raise ValueError(f"{tokens.shape[2]} tokens per frame; the readout was built for {self.num_tokens}")
        return self.linear(tokens.flatten(2))

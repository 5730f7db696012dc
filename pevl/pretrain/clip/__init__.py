"""The tiny CLIP pretrained on captioned SynthDive frames (`pevl pretrain clip`)."""

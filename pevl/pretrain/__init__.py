"""The project's own stand-in models, pretrained on SynthDive (`pevl pretrain KIND`)."""

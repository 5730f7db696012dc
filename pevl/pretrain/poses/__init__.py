"""The SynthDive pose detector and keypoint models, trained and exported to ONNX (`pevl pretrain poses`)."""

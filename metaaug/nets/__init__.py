"""Pure ``nn.Module`` networks, built from their configuration; no training logic."""
from metaaug.nets.conv4 import Conv4, Conv4Classifier, conv_block

__all__ = ["Conv4", "Conv4Classifier", "conv_block"]

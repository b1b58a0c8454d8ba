"""Pure ``nn.Module`` networks, built from their configuration; no training logic."""

from metaaug.nets.conv4 import Conv4, Conv4Classifier, conv_block
from metaaug.nets.modes import eval_mode

__all__ = ["Conv4", "Conv4Classifier", "conv_block", "eval_mode"]

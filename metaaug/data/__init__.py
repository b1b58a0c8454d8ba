"""Images, episodes and the torch Dataset adapters."""

from metaaug.data.adapters import AugmentedDataset, TaskDataset, collate_tasks
from metaaug.data.digits import load_digits
from metaaug.data.embedded_omniglot import load_omniglot_subset
from metaaug.data.images import as_images, as_labels, check_image_shape
from metaaug.data.learn2learn_bridge import L2LTaskSource, task_to_l2l, to_l2l_metadataset
from metaaug.data.omniglot import download_omniglot, load_omniglot, omniglot_alphabets
from metaaug.data.protocols import Augmenter, TaskSampler
from metaaug.data.rotations import add_rotated_classes
from metaaug.data.sources import ImageFolderDataset, ImageSource, as_image_source
from metaaug.data.tasks import LabeledTaskSampler, Task, TransformedTaskSampler, split_episodes

__all__ = [
    "AugmentedDataset",
    "Augmenter",
    "ImageFolderDataset",
    "ImageSource",
    "L2LTaskSource",
    "LabeledTaskSampler",
    "Task",
    "TaskDataset",
    "TaskSampler",
    "TransformedTaskSampler",
    "add_rotated_classes",
    "as_image_source",
    "as_images",
    "as_labels",
    "check_image_shape",
    "collate_tasks",
    "download_omniglot",
    "load_digits",
    "load_omniglot",
    "load_omniglot_subset",
    "omniglot_alphabets",
    "split_episodes",
    "task_to_l2l",
    "to_l2l_metadataset",
]

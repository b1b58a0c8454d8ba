"""Animal Faces (FUNIT) with its 119 seen / 30 unseen classes, as LoFGAN uses them.

The layout FUNIT's ``tools/extract_animalfaces.py`` writes: one folder per class,
named by its ImageNet WordNet id, holding the face crops::

    <root>/n02085620/n02085620_10074_...jpg ...

The split is FUNIT's (github NVlabs/FUNIT, ``datasets/animals_train_class_names.txt``
and ``animals_test_class_names.txt``): 119 seen and 30 unseen classes. LoFGAN's
code takes the first 119 classes of its preprocessed array
``animal_c149_s128_data_rgb.npy`` as seen and the other 30 as unseen, at
128 x 128; the class lists of that array are not published, and we take them
to be FUNIT's, whose sizes they match.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from metaaug.datasets.folder import IMAGE_EXTENSIONS, SEEN_UNSEEN_SPLITS, ImageListDataset, check_split

ANIMAL_FACES_SPLITS: dict[str, tuple[str, ...]] = {
    "seen": (
        "n02085620", "n02085782", "n02085936", "n02086079", "n02086646", "n02086910", "n02087046", "n02087394",
        "n02088094", "n02088238", "n02088364", "n02088466", "n02088632", "n02089078", "n02089867", "n02089973",
        "n02090379", "n02090622", "n02090721", "n02091032", "n02091134", "n02091244", "n02091635", "n02091831",
        "n02092339", "n02093256", "n02093428", "n02093647", "n02093754", "n02093859", "n02093991", "n02094114",
        "n02094258", "n02094433", "n02095570", "n02096051", "n02096177", "n02096294", "n02096585", "n02097047",
        "n02097130", "n02097209", "n02097298", "n02097474", "n02097658", "n02098105", "n02098413", "n02099267",
        "n02099601", "n02099712", "n02100236", "n02100583", "n02100735", "n02100877", "n02101388", "n02101556",
        "n02102040", "n02102177", "n02102318", "n02102973", "n02104029", "n02104365", "n02105056", "n02105162",
        "n02105251", "n02105505", "n02105641", "n02106166", "n02106550", "n02106662", "n02107312", "n02107574",
        "n02107683", "n02107908", "n02108000", "n02108089", "n02108422", "n02108551", "n02108915", "n02109047",
        "n02109525", "n02109961", "n02110063", "n02110185", "n02110341", "n02111129", "n02111277", "n02111500",
        "n02111889", "n02112137", "n02112706", "n02113186", "n02113624", "n02113712", "n02113978", "n02114367",
        "n02114548", "n02114712", "n02114855", "n02116738", "n02117135", "n02119022", "n02119789", "n02120079",
        "n02120505", "n02123159", "n02123597", "n02127052", "n02128385", "n02128757", "n02128925", "n02129165",
        "n02129604", "n02130308", "n02132136", "n02133161", "n02134084", "n02134418", "n02137549",
    ),
    "unseen": (
        "n02086240", "n02091467", "n02092002", "n02095314", "n02095889", "n02096437", "n02098286", "n02099429",
        "n02099849", "n02101006", "n02102480", "n02105412", "n02105855", "n02106030", "n02106382", "n02107142",
        "n02110627", "n02110806", "n02110958", "n02112018", "n02112350", "n02113023", "n02113799", "n02115641",
        "n02115913", "n02123045", "n02123394", "n02124075", "n02125311", "n02138441",
    ),
}  # fmt: skip

_SPLITS = SEEN_UNSEEN_SPLITS
_HOW_TO_GET = (
    "Expected one folder per class named by its WordNet id (<root>/n02085620/*.jpg), as FUNIT's "
    "tools/extract_animalfaces.py writes them from ImageNet; torchvision does not download this dataset."
)


def load_animal_faces(
    root: str | Path,
    split: str = "seen",
    image_size: int | None = 128,
    transform: Callable[[Any], Any] | None = None,
) -> ImageListDataset:
    """Animal Faces, the seen (119) or unseen (30) classes of FUNIT's split.

    Parameters
    ----------
    root : path
        The folder holding one sub-folder of images per class (WordNet ids).
    split : {"seen", "unseen", "all"}
        ``"train"`` / ``"test"`` are accepted for ``"seen"`` / ``"unseen"``.
    image_size : int or None, default 128
        Resize to ``image_size x image_size`` when read (128 as LoFGAN's data).
    transform : callable, optional
        Applied to each ``(3, H, W)`` uint8 image tensor.

    Returns
    -------
    ImageListDataset
        ``(image, label)`` items; ``classes`` the WordNet ids of the split's
        classes found under ``root``, in the split's order. Folders of other
        names are ignored.

    Raises
    ------
    ValueError
        For an unknown split, or when ``root`` holds no class of the split.
    """
    split = check_split(split, _SPLITS, "Animal Faces")
    root = Path(root).expanduser()
    wanted = (
        ANIMAL_FACES_SPLITS["seen"] + ANIMAL_FACES_SPLITS["unseen"] if split == "all" else ANIMAL_FACES_SPLITS[split]
    )
    classes = [wnid for wnid in wanted if (root / wnid).is_dir()]
    if not classes:
        raise ValueError(f"Animal Faces: no class folder of the {split!r} split under {root}. {_HOW_TO_GET}")
    paths, targets = [], []
    for label, wnid in enumerate(classes):
        files = sorted(p for p in (root / wnid).iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS)
        paths += files
        targets += [label] * len(files)
    return ImageListDataset(paths, targets, classes, split, image_size, transform)

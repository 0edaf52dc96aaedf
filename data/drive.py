"""The DRIVE folder layout: where each file of a sample lives.

DRIVE (https://drive.grand-challenge.org/) unzips into `DRIVE/training/` (ids 21-40) and
`DRIVE/test/` (ids 01-20), each with `images/NN_<subset>.tif`, `1st_manual/NN_manual1.gif`
and `mask/NN_<subset>_mask.gif`. The synthetic generator writes the same layout.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from data.manifest import DataError, Sample

if TYPE_CHECKING:
    import numpy as np

SUBSETS = ("training", "test")


def sample_files(subset: str, number: int) -> dict[str, str]:
    """Paths of one sample's files relative to the dataset root, as DRIVE names them."""
    files = {
        "image": f"{subset}/images/{number:02d}_{subset}.tif",
        "label": f"{subset}/1st_manual/{number:02d}_manual1.gif",
        "fov": f"{subset}/mask/{number:02d}_{subset}_mask.gif",
    }
    if subset == "test":  # a second observer labelled the test images only
        files["label2"] = f"{subset}/2nd_manual/{number:02d}_manual2.gif"
    return files


def save_binary(mask: np.ndarray, path: Path) -> None:
    """Write a label or FOV mask as DRIVE does: a 0/255 GIF."""
    from PIL import Image

    # Without palette optimisation the GIF reads back as 0/255 grey, as DRIVE's do.
    Image.fromarray(mask.astype("uint8") * 255).save(path, optimize=False)


def find_samples(root: Path, subset: str) -> list[Sample]:
    """List the samples of a DRIVE subset (`training` or `test`), sorted by id."""
    if subset not in SUBSETS:
        raise ValueError(f"unknown DRIVE subset {subset!r}; expected one of {SUBSETS}")
    # By id, not by name: a set of more than 99 (python -m data.pairs) has 100_ after 99_.
    images = sorted(
        (Path(root) / subset / "images").glob(f"*_{subset}.tif"),
        key=lambda path: int(path.name.split("_")[0]),
    )
    samples = []
    for image in images:
        files = sample_files(subset, int(image.name.split("_")[0]))
        samples.append(Sample(files["image"], files["label"], files["fov"]))
    return samples


def require_drive(root: Path) -> None:
    """Raise a DataError that says where to unzip DRIVE when its images are not under root."""
    root = Path(root)
    missing = [s for s in SUBSETS if not any((root / s / "images").glob(f"*_{s}.tif"))]
    if missing:
        folders = ", ".join(str(root / subset / "images") for subset in missing)
        raise DataError(
            f"DRIVE was not found: no images in {folders}.\n"
            "  DRIVE cannot be downloaded automatically: register at "
            "https://drive.grand-challenge.org/,\n"
            f"  download DRIVE.zip and unzip it so that {root}/training/images/21_training.tif "
            f"exists\n  (for example `unzip DRIVE.zip -d {root.parent}`).\n"
            "  To try the template without it, use the built-in synthetic data: "
            "data=synthetic instead of data=drive (the default)"
        )

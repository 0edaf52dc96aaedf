"""Prepare a dataset for training: import the raw files, check every one, write the manifests.

    python -m data.prepare synthetic          # generate data/synthetic/ (if absent) + manifests
    python -m data.prepare drive              # index data/DRIVE/ as unzipped by you + manifests

Manifests that already exist are kept and checked, never rewritten (`--rewrite` asks for it),
except in a folder the synthetic generator made, where they are generated content too.

The validation split is the last `val_count` training images by id: fixed, so every experiment
validates on the same images.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from data.drive import find_samples, require_drive
from data.manifest import (
    SPLITS,
    DataError,
    Sample,
    load_sample,
    manifest_path,
    read_manifest,
    split_leaks,
    write_manifest,
)
from data.normalize import dataset_statistics
from utils.base import UserError, exit_cleanly_on

SOURCES = ("synthetic", "drive")
DEFAULT_ROOTS = {"synthetic": Path("data/synthetic"), "drive": Path("data/DRIVE")}


def split_samples(root: Path, val_count: int) -> dict[str, list[Sample]]:
    """Split DRIVE's training subset into train/validate; its test subset is the test split."""
    training = find_samples(root, "training")
    if not 0 < val_count < len(training):
        raise DataError(
            f"{root}/training has {len(training)} images: cannot hold out "
            f"val_count={val_count} for validation and still train on the rest."
        )
    return {
        "train": training[:-val_count],
        "validate": training[-val_count:],
        "test": find_samples(root, "test"),
    }


def check_samples(root: Path, splits: dict[str, list[Sample]]) -> None:
    """Decode every listed file; raise one DataError listing every problem found.

    Also refuses an empty split and an image listed in two splits (it would leak test data).
    """
    problems = split_leaks(root, splits)
    for split, samples in splits.items():
        if not samples:
            problems.append(f"split {split!r} is empty")
        for sample in samples:
            try:
                load_sample(root, sample)
            except DataError as error:
                problems.append(str(error))
    if problems:
        raise DataError(f"{len(problems)} problem(s) in {root}:\n  " + "\n  ".join(problems))


def prepare(
    root: Path,
    source: str,
    val_count: int = 4,
    seed: int = 0,
    rewrite: bool = False,
    camera: str = "drive",
) -> None:
    """Create the data if it is generated, check it, and write train/validate/test manifests.

    Manifests that exist are kept (and checked) unless `rewrite`: they may be yours. In a folder
    the synthetic generator made, they are generated content and always written.
    """
    root = Path(root)
    if source == "synthetic":
        from data.synthetic import generate, outdated

        # Refuses a folder holding anything the generator did not write.
        reason = outdated(root, camera)
        if reason:
            print(f"Generating the synthetic dataset in {root} (seed {seed}): {reason} ...")
            generate(root, seed=seed, camera=camera)
        rewrite = True
    elif source == "drive":
        require_drive(root)
    else:
        raise DataError(
            f"data.source={source!r} cannot write manifests: use synthetic (generate the "
            "built-in data), drive (index an unzipped DRIVE) or null (manifests you wrote)."
        )
    existing = [split for split in SPLITS if manifest_path(root, split).is_file()]
    if existing and not rewrite:
        keep_manifests(root, existing)
        return
    splits = split_samples(root, val_count)
    check_samples(root, splits)
    for split, samples in splits.items():
        write_manifest(manifest_path(root, split), samples)
    dataset_statistics(root)  # data.normalize=dataset: the training split's mean and std, once
    counts = ", ".join(f"{len(s)} {name}" for name, s in splits.items())
    print(f"Wrote manifests in {root}: {counts}.")


def keep_manifests(root: Path, existing: list[str]) -> None:
    """Check the manifests already in `root` instead of writing new ones; refuse a partial set."""
    missing = [split for split in SPLITS if split not in existing]
    if missing:
        raise DataError(
            f"{root} has {', '.join(s + '.txt' for s in existing)} but no "
            f"{', '.join(s + '.txt' for s in missing)}. Existing manifests are never rewritten: "
            "write the missing one(s), or delete them all to have every split written again "
            "(or run `python -m data.prepare <source> --root <folder> --rewrite`)."
        )
    check_samples(root, {split: read_manifest(manifest_path(root, split)) for split in SPLITS})
    print(f"Kept the manifests in {root} (checked); --rewrite writes them again.")


@exit_cleanly_on(UserError)
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("source", choices=SOURCES)
    parser.add_argument(
        "--root", type=Path, help="dataset folder (default: data/synthetic or data/DRIVE)"
    )
    parser.add_argument(
        "--val-count", type=int, default=4, help="training images held out for validation"
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the synthetic generator")
    parser.add_argument(
        "--rewrite", action="store_true", help="write the manifests even where they exist"
    )
    args = parser.parse_args()
    root = args.root or DEFAULT_ROOTS[args.source]
    prepare(root, args.source, args.val_count, args.seed, rewrite=args.rewrite)


if __name__ == "__main__":
    main()

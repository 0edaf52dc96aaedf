"""Turn predict.py's vessel maps of unlabelled photographs into a training set of (map,
photograph) pairs in DRIVE's layout, with its manifests: what pix2pix synthesis trains on.

    python -m data.pairs <predictions> <photographs> <out> [--test-share 0.2] [--val-count 4]

<predictions> is a predict.py output folder (experiment/<exp>/result/predict/<input>/: each
photograph's <stem>_vessels.png and <stem>_fov.png); <photographs> the folder, glob or file
predict.py was given. <out> must be absent or empty: nothing is overwritten. A share of the
photographs, drawn with a fixed seed, is the test subset; they are numbered as DRIVE numbers
them (test first, 01...), and pairs.json keeps which photograph each number is.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from data.manifest import DataError
from utils.base import UserError, exit_cleanly_on

MARKER = "pairs.json"


def paired_files(predictions: Path, photos: list[Path]) -> list[tuple[Path, Path, Path]]:
    """(photograph, vessel map, FOV) of each photograph; one DataError lists every missing map."""
    triples, missing = [], []
    for photo in photos:
        vessels = predictions / f"{photo.stem}_vessels.png"
        fov = predictions / f"{photo.stem}_fov.png"
        absent = [path.name for path in (vessels, fov) if not path.is_file()]
        if absent:
            missing.append(f"{photo.name}: no {' or '.join(absent)}")
        triples.append((photo, vessels, fov))
    if missing:
        raise DataError(
            f"{predictions} is not predict.py's output for these photographs:\n  "
            + "\n  ".join(missing)
            + "\n  Run python predict.py exp_name=<segmentation experiment> input=<photographs> "
            "first, and give its result/predict/<input>/ folder."
        )
    return triples


def write_pairs(
    predictions: Path,
    photographs: str,
    out: Path,
    test_share: float = 0.2,
    val_count: int = 4,
    seed: int = 0,
) -> dict[str, list[str]]:
    """Write the pairs dataset into `out` (see the module docstring); return {subset: names}.

    Everything that can be checked is checked before a file is written, and the files go to a
    sibling folder renamed to `out` at the end: a failure leaves no half-made dataset behind.
    """
    import random
    import shutil

    from PIL import Image

    from data.drive import sample_files, save_binary
    from data.photographs import find_photographs, read_mask, read_photograph
    from data.prepare import prepare

    out, predictions = Path(out), Path(predictions)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise DataError(f"{out} already exists and is not empty: give a new folder.")
    if not 0 < test_share < 1:
        raise DataError(f"--test-share={test_share}: expected a share between 0 and 1.")
    if val_count < 1:
        raise DataError(f"--val-count={val_count}: expected at least 1 validation image.")
    triples = paired_files(predictions, find_photographs(photographs))
    n_test = max(1, round(len(triples) * test_share))
    if len(triples) - n_test <= val_count:
        raise DataError(
            f"{len(triples)} photographs: {n_test} for test leave {len(triples) - n_test} for "
            f"training, which must be more than --val-count={val_count}."
        )
    # Shuffled with a fixed seed: names often follow the acquisition date or the clinic, and a
    # test split of the first names would be one period's or one clinic's photographs.
    random.Random(seed).shuffle(triples)
    subsets = {"test": triples[:n_test], "training": triples[n_test:]}
    partial = out.with_name(f".{out.name}.partial")
    shutil.rmtree(partial, ignore_errors=True)
    numbered: dict[str, list[str]] = {}
    number = 0
    try:
        for subset, chosen in subsets.items():
            numbered[subset] = []
            for photo, vessels, fov in chosen:
                number += 1
                image = read_photograph(photo)
                files = sample_files(subset, number)
                for kind, mask in (("label", vessels), ("fov", fov)):
                    (partial / files[kind]).parent.mkdir(parents=True, exist_ok=True)
                    save_binary(read_mask(mask, image.shape[:2]), partial / files[kind])
                (partial / files["image"]).parent.mkdir(parents=True, exist_ok=True)
                Image.fromarray(image).save(partial / files["image"], compression="tiff_lzw")
                numbered[subset].append(f"{number:02d} {photo}")
        record = {"predictions": str(predictions), "photographs": photographs, **numbered}
        (partial / MARKER).write_text(json.dumps(record, indent=2) + "\n")
        prepare(partial, "drive", val_count=val_count)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    if out.exists():
        out.rmdir()  # empty, as checked above
    partial.rename(out)
    return numbered


@exit_cleanly_on(UserError)
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("predictions", type=Path, help="predict.py's output folder")
    parser.add_argument("photographs", help="the photographs predict.py was given")
    parser.add_argument("out", type=Path, help="the new dataset's folder, e.g. data/messidor")
    parser.add_argument("--test-share", type=float, default=0.2, help="share held out for test")
    parser.add_argument(
        "--val-count", type=int, default=4, help="training images held out for validation"
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the test/training draw")
    args = parser.parse_args()
    numbered = write_pairs(
        args.predictions, args.photographs, args.out, args.test_share, args.val_count, args.seed
    )
    counts = ", ".join(f"{len(names)} {subset}" for subset, names in numbered.items())
    print(f"Wrote the pairs dataset in {args.out}: {counts} photographs.")
    print(
        f"Train on it: python train.py experiment=synthesis data=manifests "
        f"data.name={args.out.name} data.root={args.out}"
    )


if __name__ == "__main__":
    main()

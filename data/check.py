"""The data-quality gate: check a dataset's manifests and every file they list.

    python -m data.check data/synthetic [--report data/synthetic/quality.json]

Fails with one report of every problem (file, problem): a manifest entry that points nowhere, an
unreadable or truncated image, a label or mask whose size differs from its image, a label that is
not binary, an empty split, a sample in two splits. The DVC pipeline runs it before training.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from data.manifest import SPLITS, DataError, manifest_path, read_manifest
from data.prepare import check_samples
from utils.base import UserError, exit_cleanly_on


def check_dataset(root: Path) -> dict[str, int]:
    """Check the three split manifests of `root`; return the number of samples per split."""
    splits, problems = {}, []
    for split in SPLITS:
        try:
            splits[split] = read_manifest(manifest_path(root, split))
        except DataError as error:
            problems.append(str(error))
    if problems:
        raise DataError(f"{len(problems)} problem(s) in {root}:\n  " + "\n  ".join(problems))
    check_samples(Path(root), splits)
    return {split: len(samples) for split, samples in splits.items()}


@exit_cleanly_on(UserError)
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("root", type=Path, help="dataset folder holding train/validate/test.txt")
    parser.add_argument("--report", type=Path, help="write the sample counts here as JSON")
    args = parser.parse_args()
    counts = check_dataset(args.root)
    if args.report:
        args.report.write_text(json.dumps({"samples": counts}, indent=2) + "\n")
    print(f"{args.root}: OK ({', '.join(f'{n} {s}' for s, n in counts.items())})")


if __name__ == "__main__":
    main()

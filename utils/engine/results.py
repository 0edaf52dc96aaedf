"""What the result writers of any task share: the per-image table, worst first, and the JSON of
scores that the reports read."""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Sequence
from pathlib import Path


def write_per_image(
    path: Path, rows: list[dict], sort_by: str, higher_is_worse: Sequence[str] = ()
) -> None:
    """Write `rows` (one dict per image, the same keys in each) as CSV, worst first by `sort_by`
    (highest first for a score in `higher_is_worse`, lowest first otherwise): error analysis
    starts at the top of the file."""
    worse = -1 if sort_by in higher_is_worse else 1
    ordered = sorted(rows, key=lambda row: worse * row[sort_by])
    with open(path, "w", newline="") as file:
        writer = csv.DictWriter(file, fieldnames=list(ordered[0]))
        writer.writeheader()
        writer.writerows(
            {k: (f"{v:.6f}" if isinstance(v, float) else v) for k, v in row.items()}
            for row in ordered
        )


def write_scores(path: Path, scores: dict) -> None:
    """Write `scores` as JSON, a score that is not a finite number (an undefined one, or the PSNR
    of a perfect image) as null: JSON has no NaN or infinity."""
    finite = {
        k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in scores.items()
    }
    Path(path).write_text(json.dumps(finite, indent=2) + "\n")

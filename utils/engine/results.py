"""What the result writers of any task share: the per-image table, worst first, and the JSON of
scores that the reports read."""

from __future__ import annotations

import csv
import json
import math
import shutil
import time
from collections.abc import Sequence
from pathlib import Path

import lightning as L


class TimedResultWriter(L.Callback):
    """The base of a task's result writer: it times the model on each test batch (loading,
    forward pass and scores, not the writing of files: `seconds`), empties its files and folders
    when a test run starts, and hands each batch's records to `write_records`."""

    def __init__(self, files: Sequence[Path], folders: Sequence[Path] = ()) -> None:
        self.files, self.folders = list(files), list(folders)
        self.rows: list[dict] = []
        self.seconds = 0.0
        self._batch_start = 0.0

    def on_test_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        # Results of an earlier test run must not mix with this one's.
        self.rows, self.seconds = [], 0.0
        for folder in self.folders:
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir(parents=True)
        for path in self.files:
            path.unlink(missing_ok=True)

    def on_test_batch_start(self, *args: object, **kwargs: object) -> None:
        self._batch_start = time.perf_counter()

    def on_test_batch_end(
        self,
        trainer: L.Trainer,
        pl_module: L.LightningModule,
        outputs: list[dict],
        batch: dict,
        batch_idx: int,
        dataloader_idx: int = 0,
    ) -> None:
        self.seconds += time.perf_counter() - self._batch_start
        self.write_records(outputs)

    def write_records(self, records: list[dict]) -> None:
        """Write what the test step returned for one batch's images; add rows to `rows`."""
        raise NotImplementedError


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

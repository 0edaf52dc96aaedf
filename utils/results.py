"""The callback that writes a test run's results into experiment/<exp-name>/result/."""

from __future__ import annotations

import csv
import json
import math
import shutil
from pathlib import Path

import lightning as L
import torch

from utils.base import save_png, to_rgb_uint8
from utils.metrics import METRIC_NAMES, THRESHOLD

# Error overlay colours (RGB): hits in white, false alarms in red, misses in blue.
TRUE_POSITIVE = (255, 255, 255)
FALSE_POSITIVE = (255, 40, 40)
FALSE_NEGATIVE = (40, 120, 255)


def error_overlay(probs: torch.Tensor, label: torch.Tensor, fov: torch.Tensor) -> torch.Tensor:
    """(3, H, W) uint8 map of true positives, false positives and false negatives.

    True negatives are black inside the FOV; outside it is dark grey, since it is not scored.
    """
    predicted, actual, inside = probs[0] > THRESHOLD, label[0] > THRESHOLD, fov[0].bool()
    overlay = torch.zeros(3, *predicted.shape, dtype=torch.uint8)
    overlay[:, ~inside] = 40
    for colour, where in (
        (TRUE_POSITIVE, predicted & actual),
        (FALSE_POSITIVE, predicted & ~actual),
        (FALSE_NEGATIVE, ~predicted & actual),
    ):
        overlay[:, where & inside] = torch.tensor(colour, dtype=torch.uint8)[:, None]
    return overlay


class ResultWriter(L.Callback):
    """Write `metrics.json`, `per_image.csv` (worst F1 first), and per-image PNGs of the
    predicted vessel probabilities (`predictions/`) and of the errors (`errors/`)."""

    def __init__(self, result_dir: str) -> None:
        self.result_dir = Path(result_dir)
        self.rows: list[dict] = []

    def on_test_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        # Results of an earlier test run must not mix with this one's.
        self.rows = []
        for folder in ("predictions", "errors"):
            shutil.rmtree(self.result_dir / folder, ignore_errors=True)
            (self.result_dir / folder).mkdir(parents=True)
        for name in ("metrics.json", "per_image.csv"):
            (self.result_dir / name).unlink(missing_ok=True)

    def on_test_batch_end(
        self,
        trainer: L.Trainer,
        pl_module: L.LightningModule,
        outputs: list[dict],
        batch: dict,
        batch_idx: int,
        dataloader_idx: int = 0,
    ) -> None:
        for record in outputs:
            name = record["name"]
            save_png(to_rgb_uint8(record["probs"]), self.result_dir / "predictions" / f"{name}.png")
            save_png(
                error_overlay(record["probs"], record["label"], record["fov"]),
                self.result_dir / "errors" / f"{name}.png",
            )
            self.rows.append({"name": name, **record["metrics"]})

    def on_test_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not self.rows:
            return
        # Worst first: error analysis starts at the top of the file.
        rows = sorted(self.rows, key=lambda row: row["f1"])
        with open(self.result_dir / "per_image.csv", "w", newline="") as file:
            writer = csv.DictWriter(file, fieldnames=["name", *METRIC_NAMES])
            writer.writeheader()
            writer.writerows(
                {k: (f"{v:.6f}" if isinstance(v, float) else v) for k, v in row.items()}
                for row in rows
            )
        scores = {name: float(trainer.callback_metrics[f"test/{name}"]) for name in METRIC_NAMES}
        summary = {
            **scores,
            "images": len(rows),
            "worst_image": rows[0]["name"],
            "worst_f1": rows[0]["f1"],
        }
        (self.result_dir / "metrics.json").write_text(
            json.dumps(
                {
                    k: (None if isinstance(v, float) and math.isnan(v) else v)
                    for k, v in summary.items()
                },
                indent=2,
            )
            + "\n"
        )

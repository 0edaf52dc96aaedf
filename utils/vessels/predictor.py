"""What predict.py does for the vessel task: photographs in, vessel maps, a summary and the shift
report out (conf/predictor/vessels.yaml names it and its keys)."""

from __future__ import annotations

import csv
import json
import logging
from pathlib import Path
from typing import Any, Literal

log = logging.getLogger("predict")


class VesselPredictor:
    """Predict vessel maps for every photograph PIL reads in a folder, a glob or one file (any
    size, colour or grey), at the scale the model was trained at.

    Writes per photograph a probability map, a vessel map and an overlay; summary.csv (one row
    each, with scores where `labels` has the photograph's label); scores.json (pooled over the
    labelled ones); and shift.png, how the photographs differ from the training images.
    `masks` and `labels` are folders paired with the photographs by name (data/photographs.py);
    without a mask the field of view is estimated. `scale`: "auto" matches the training FOV
    diameter, a number resizes by it. `tile` and `overlap` (pixels) bound the memory;
    `threshold` makes a probability a vessel, as in test.py.
    """

    def __init__(
        self,
        masks: str | None = None,
        labels: str | None = None,
        scale: float | Literal["auto"] = "auto",
        tile: int = 1024,
        overlap: int = 32,
        threshold: float = 0.5,
    ) -> None:
        self.masks, self.labels = masks, labels
        self.scale, self.tile, self.overlap, self.threshold = scale, tile, overlap, threshold
        self.pairs: dict[str, dict[Path, Path]] = {}

    def find(self, where: str) -> list[Path]:
        """The photographs `where` names, paired with their masks and labels; a missing input or
        folder stops here, before anything is written."""
        from data.photographs import find_photographs, pair_by_stem

        photos = find_photographs(where)
        for kind, folder in (("masks", self.masks), ("labels", self.labels)):
            self.pairs[kind], strays = pair_by_stem(photos, folder)
            for stray in strays:
                log.warning("%s matches no photograph of input=%s: not used", stray, where)
        return photos

    def __call__(
        self, model: Any, photos: list[Path], out: Path, statistics: dict, params: Any, device: str
    ) -> list[dict]:
        """Predict `photos` (from `find`) with `model` as it was trained (`params`: its data's
        normalisation, its trainer's precision), against the training `statistics`."""
        from utils.engine.precision import on_device
        from utils.vessels.inference import PhotographPredictor
        from utils.vessels.metrics import tuned_metrics, vessel_metrics
        from utils.vessels.shift import draw_shift, shift_summary

        # Where and how the experiment's trainer ran it: its device kind, memory format, precision.
        runner = on_device(model, device, params.trainer.get("precision", "32-true"))
        masks, labels = self.pairs.get("masks", {}), self.pairs.get("labels", {})
        pooled = vessel_metrics(prefix="")
        tuned = tuned_metrics(prefix="")  # at the threshold chosen on the validation split
        tuned_threshold = getattr(model, "tuned_threshold", None)
        tuned_threshold = None if tuned_threshold is None else float(tuned_threshold)
        predictor = PhotographPredictor(
            runner,
            statistics,
            out,
            pooled,
            tuned=tuned if tuned_threshold is not None else None,
            tuned_threshold=tuned_threshold or 0.5,
            normalize=params.data.normalize,
            scale=self.scale,
            tile=self.tile,
            overlap=self.overlap,
            threshold=self.threshold,
        )
        rows = [predictor(photo, masks.get(photo), labels.get(photo)) for photo in photos]
        write_csv(out / "summary.csv", rows)
        predicted = [row for row in rows if not row.get("error")]
        if predicted:
            draw_shift(predicted, statistics, out / "shift.png")
        if labels:
            scores = {k: float(v) for k, v in pooled.compute().items()}
            if tuned_threshold is not None:
                scores.update({k: float(v) for k, v in tuned.compute().items()})
                scores["threshold_tuned"] = tuned_threshold
            (out / "scores.json").write_text(json.dumps(scores, indent=2) + "\n")
            log.info("Pooled scores over %d labelled photographs: %s", len(labels), scores)
        flags = [row["flags"].split("; ") if row["flags"] else [] for row in predicted]
        log.info(shift_summary(flags))
        log.info("Predictions for %d of %d photographs in %s", len(predicted), len(rows), out)
        return rows


def write_csv(path: Path, rows: list[dict]) -> None:
    columns = list(dict.fromkeys(key for row in rows for key in row))
    with open(path, "w", newline="") as file:
        writer = csv.DictWriter(file, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)

"""Predict vessel maps for any photographs: `python predict.py exp_name=<name> input=<folder>`.

Runs an experiment's best checkpoint on every photograph PIL reads in a folder, a glob or one
file (any size, colour or grey), at the scale the model was trained at, and writes to
experiment/<exp_name>/result/predict/<input name>/: per photograph a probability map, a vessel
map and an overlay; summary.csv (one row each, with scores when labels=<folder> is given);
and shift.png, how the photographs differ from the training images (summary.csv flags each one).
"""

import csv
import json
import logging
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import hydra
from omegaconf import DictConfig

from bookkeeping.config import load_env_file, register_resolvers
from bookkeeping.folder import ExperimentError, ExperimentFolder
from utils.base import UserError, exit_cleanly_on

log = logging.getLogger("predict")
register_resolvers()


@hydra.main(config_path="conf", config_name="predict", version_base="1.3")
@exit_cleanly_on(UserError)
def main(cfg: DictConfig) -> list[dict]:
    from data.photographs import find_photographs, pair_by_stem

    load_env_file()
    if not cfg.exp_name:
        raise ExperimentError("say which experiment predicts: python predict.py exp_name=<name>")
    folder = ExperimentFolder(cfg.paths.experiment_root, cfg.exp_name)
    params = folder.load_params()
    checkpoint = folder.checkpoint(cfg.checkpoint)
    photos = find_photographs(str(cfg.input))
    masks, stray_masks = pair_by_stem(photos, cfg.masks)
    labels, stray_labels = pair_by_stem(photos, cfg.labels)
    for stray in [*stray_masks, *stray_labels]:
        log.warning("%s matches no photograph of input=%s: not used", stray, cfg.input)
    out = folder.prediction_dir(cfg.name or input_name(str(cfg.input)))
    reference = training_reference(folder, params)

    from hydra.utils import instantiate

    from bookkeeping.experiment import log_lightning_once
    from utils.checkpoint import load_weights
    from utils.metrics import vessel_metrics
    from utils.shift import draw_shift, shift_summary

    log_lightning_once()
    model = instantiate(params.model)
    load_weights(model, checkpoint)
    model.eval()
    out.mkdir(parents=True, exist_ok=True)
    pooled = vessel_metrics(prefix="")
    normalize = params.data.get("normalize", "none")
    predictor = Predictor(model, reference, cfg, out, pooled, normalize)
    rows = [predictor(photo, masks.get(photo), labels.get(photo)) for photo in photos]
    write_csv(out / "summary.csv", rows)
    predicted = [row for row in rows if not row.get("error")]
    if predicted:
        draw_shift(predicted, reference, out / "shift.png")
    if labels:
        scores = {k: float(v) for k, v in pooled.compute().items()}
        (out / "scores.json").write_text(json.dumps(scores, indent=2) + "\n")
        log.info("Pooled scores over %d labelled photographs: %s", len(labels), scores)
    log.info(shift_summary([row["flags"].split("; ") if row["flags"] else [] for row in predicted]))
    log.info("Predictions for %d of %d photographs in %s", len(predicted), len(rows), out)
    return rows


@dataclass
class Predictor:
    """What the photographs of one prediction run share: the model, the training data's
    statistics, the settings, the output folder and the pooled scores."""

    model: Any
    reference: dict
    cfg: DictConfig
    out: Path
    pooled: Any
    normalize: str

    def __call__(self, photo: Path, mask: Path | None, label: Path | None) -> dict:
        """Predict one photograph and write its maps; a photograph that cannot be read gives a row
        with its error, and the others go on."""
        import numpy as np
        import torch

        from data.manifest import DataError
        from data.photographs import estimate_fov, image_statistics, read_mask, read_photograph
        from utils.inference import predict_photograph
        from utils.metrics import image_metrics, inside_fov
        from utils.results import save_prediction
        from utils.shift import shift_flags

        start = time.perf_counter()
        row: dict = {"name": photo.name}
        try:
            image = read_photograph(photo)
            fov = read_mask(mask, image.shape[:2]) if mask else estimate_fov(image)
            truth = read_mask(label, image.shape[:2]) if label else None
        except DataError as error:
            log.warning("skipped: %s", error)
            return {**row, "error": str(error), "flags": ""}
        stats = image_statistics(image, fov)
        wanted = self.reference["fov_diameter"]["median"]
        scale = (
            float(self.cfg.scale)
            if self.cfg.scale != "auto"
            else wanted / max(stats["fov_diameter"], 1.0)
        )
        if fov.any():
            probs = fov * predict_photograph(
                self.model, image, fov, scale, self.normalize, self.cfg.tile, self.cfg.overlap
            )
        else:  # nothing to look at: a blank photograph gets an empty map and a flag
            probs, scale = np.zeros(fov.shape, np.float32), 1.0
        stats["vessel_fraction"] = (
            float((probs[fov] > self.cfg.threshold).mean()) if fov.any() else 0.0
        )
        save_prediction(self.out, photo.stem, image, probs, self.cfg.threshold)
        height, width = image.shape[:2]
        row.update(width=width, height=height, fov="given" if mask else "estimated", scale=scale)
        row.update({k: round(v, 4) for k, v in stats.items()})
        row["flags"] = "; ".join(shift_flags(stats, self.reference))
        if truth is not None and fov.any():
            tensors = [torch.from_numpy(a)[None].float() for a in (probs, truth)]
            row.update(image_metrics(*tensors, torch.from_numpy(fov)[None]))
            self.pooled.update(*inside_fov(*tensors, torch.from_numpy(fov)[None]))
        row["seconds"] = round(time.perf_counter() - start, 3)
        return row


def training_reference(folder: ExperimentFolder, params: DictConfig) -> dict:
    """The training split's statistics kept with the experiment, or computed from its data
    for experiments trained before they were kept (and then not saved: predict writes nothing
    outside its own folder)."""
    if folder.data_statistics.is_file():
        return json.loads(folder.data_statistics.read_text())
    from hydra.utils import instantiate

    datamodule = instantiate(params.data)
    datamodule.prepare_data()
    return datamodule.training_statistics()


def input_name(where: str) -> str:
    """The output folder's name for an input: the folder's or file's name, as a plain name."""
    stem = Path(where.split("*")[0].split("?")[0]).stem or "input"
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", stem).strip("-.") or "input"


def write_csv(path: Path, rows: list[dict]) -> None:
    columns = list(dict.fromkeys(key for row in rows for key in row))
    with open(path, "w", newline="") as file:
        writer = csv.DictWriter(file, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)


if __name__ == "__main__":
    main()

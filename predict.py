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
from pathlib import Path

import hydra
from omegaconf import DictConfig

from bookkeeping.config import load_env_file, register_resolvers
from bookkeeping.folder import ExperimentError, ExperimentFolder, name_from
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
    name = cfg.name or input_name(str(cfg.input))
    folder.prediction_dir(name)  # the name checked before anything is loaded
    reference = folder.load_data_statistics()

    from bookkeeping.build import build
    from bookkeeping.experiment import log_lightning_once
    from utils.checkpoint import load_weights
    from utils.inference import PhotographPredictor, on_device
    from utils.metrics import tuned_metrics, vessel_metrics
    from utils.shift import draw_shift, shift_summary

    log_lightning_once()
    model = build(params.model, "model")
    load_weights(model, checkpoint)
    # Where and how the experiment's trainer ran it: its device kind, memory format, precision.
    runner = on_device(model, cfg.device, params.trainer.get("precision", "32-true"))
    out = folder.fresh_prediction_dir(name)
    pooled = vessel_metrics(prefix="")
    tuned = tuned_metrics(prefix="")  # at the threshold chosen on the validation split
    tuned_threshold = float(model.tuned_threshold) if hasattr(model, "tuned_threshold") else None
    predictor = PhotographPredictor(
        runner,
        reference,
        out,
        pooled,
        tuned=tuned if tuned_threshold is not None else None,
        tuned_threshold=tuned_threshold or 0.5,
        normalize=params.data.normalize,
        scale=cfg.scale,
        tile=cfg.tile,
        overlap=cfg.overlap,
        threshold=cfg.threshold,
    )
    rows = [predictor(photo, masks.get(photo), labels.get(photo)) for photo in photos]
    write_csv(out / "summary.csv", rows)
    predicted = [row for row in rows if not row.get("error")]
    if predicted:
        draw_shift(predicted, reference, out / "shift.png")
    if labels:
        scores = {k: float(v) for k, v in pooled.compute().items()}
        if tuned_threshold is not None:
            scores.update({k: float(v) for k, v in tuned.compute().items()})
            scores["threshold_tuned"] = tuned_threshold
        (out / "scores.json").write_text(json.dumps(scores, indent=2) + "\n")
        log.info("Pooled scores over %d labelled photographs: %s", len(labels), scores)
    log.info(shift_summary([row["flags"].split("; ") if row["flags"] else [] for row in predicted]))
    log.info("Predictions for %d of %d photographs in %s", len(predicted), len(rows), out)
    return rows


def input_name(where: str) -> str:
    """The output folder's name for an input: the folder's or file's name, as a plain name."""
    stem = Path(where.split("*")[0].split("?")[0]).stem or "input"
    return name_from(stem).strip("-.") or "input"


def write_csv(path: Path, rows: list[dict]) -> None:
    columns = list(dict.fromkeys(key for row in rows for key in row))
    with open(path, "w", newline="") as file:
        writer = csv.DictWriter(file, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)


if __name__ == "__main__":
    main()

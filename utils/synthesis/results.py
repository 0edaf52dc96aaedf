"""The callback that writes a synthesis test run's results: scores, vessel agreement, a per-image
table and map | synthesised | real images."""

from __future__ import annotations

import json
from pathlib import Path

import lightning as L
import torch

from utils.base import UserError
from utils.engine.results import TimedResultWriter, write_per_image, write_scores
from utils.synthesis.metrics import SCORE_NAMES, image_scores

# per_image.csv's orders, worst first: highest first for these, lowest first for the others.
HIGHER_IS_WORSE = ("l1",)
VESSEL_NAMES = ("vessel_f1", "vessel_auroc")


class JudgeError(UserError):
    """The segmentation experiment that judges vessel agreement cannot be used."""


def check_judge(files: dict) -> None:
    """Raise JudgeError unless each file of the judge experiment exists."""
    for key in ("params", "checkpoint", "data_statistics"):
        if not Path(files[key]).is_file():
            raise JudgeError(
                f"task.judge: {files[key]} does not exist. Train the segmentation experiment "
                "that judges vessel agreement first (and keep it), or train this one with "
                "task.judge=null (no vessel scores)."
            )


class Judge:
    """A trained segmentation experiment that segments synthesised photographs, fed as it was
    trained (its data statistics: normalisation and FOV diameter), as predict.py feeds it.
    `files` holds the paths of its params.yaml, checkpoint and data_statistics.json
    (conf/task/synthesis.yaml gets them from `${exp_files:<experiment>}`)."""

    def __init__(self, files: dict, device: torch.device) -> None:
        from hydra.utils import instantiate
        from omegaconf import OmegaConf

        from utils.engine.checkpoint import load_weights
        from utils.engine.precision import on_device

        params = OmegaConf.load(files["params"])
        task = OmegaConf.select(params, "task.name")
        if task != "vessels":
            raise JudgeError(
                f"task.judge: {files['params']} is a {task} experiment; the judge must be a "
                "vessel segmentation one (task vessels), whose model maps photographs to vessels."
            )
        model = instantiate(params.model)
        load_weights(model, Path(files["checkpoint"]))
        # As its trainer ran it, as predict.py runs it: device kind, memory format, precision.
        self.run = on_device(model, str(device), params.trainer.get("precision", "32-true"))
        self.statistics = json.loads(Path(files["data_statistics"]).read_text())
        self.normalize = str(params.data.normalize)

    def vessels(self, photograph: torch.Tensor, fov: torch.Tensor) -> torch.Tensor:
        """(H, W) vessel probabilities of a (3, H, W) photograph in [0, 1], (1, H, W) FOV given."""
        from data.photographs import fov_diameter
        from utils.vessels.images import to_rgb_uint8
        from utils.vessels.inference import predict_photograph

        inside = fov[0].bool().numpy()
        image = to_rgb_uint8(photograph).permute(1, 2, 0).numpy()  # as its PNG is
        scale = self.statistics["fov_diameter"]["median"] / max(fov_diameter(inside), 1.0)
        probs = predict_photograph(
            self.run,
            image,
            inside,
            scale,
            self.normalize,
            normalization=self.statistics.get("normalization"),
        )
        return torch.from_numpy(probs)


class SynthesisWriter(TimedResultWriter):
    """Write a synthesis test run's results: the scores (`metrics`, JSON: L1, PSNR, SSIM inside
    the FOV; with a `judge`, vessel_f1 and vessel_auroc of its vessel maps of the synthesised
    photographs against the input maps), and in `results_dir` per_image.csv (worst first by
    `sort_by`) and side_by_side/<name>.png: map | synthesised | real.
    """

    def __init__(
        self, metrics: str, results_dir: str, judge: dict | None = None, sort_by: str = "l1"
    ) -> None:
        allowed = (*SCORE_NAMES, *(VESSEL_NAMES if judge else ()))
        if sort_by not in allowed:
            raise ValueError(f"sort_by={sort_by!r}: expected one of {', '.join(allowed)}")
        self.metrics = Path(metrics)
        self.per_image = Path(results_dir) / "per_image.csv"
        self.side_by_side = Path(results_dir) / "side_by_side"
        self.judge_files = dict(judge) if judge else None
        if self.judge_files:
            check_judge(self.judge_files)  # before anything is tested
        self.sort_by = sort_by
        super().__init__([self.metrics, self.per_image], [self.side_by_side])

    def on_test_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        from torchmetrics import MetricCollection
        from torchmetrics.classification import BinaryAUROC, BinaryF1Score

        super().on_test_start(trainer, pl_module)
        self.judge = Judge(self.judge_files, pl_module.device) if self.judge_files else None
        self.agreement = MetricCollection(
            {"f1": BinaryF1Score(), "auroc": BinaryAUROC(thresholds=200)}, prefix="vessel_"
        )

    def write_records(self, records: list[dict]) -> None:
        from utils.vessels.images import save_png, to_rgb_uint8

        for record in records:
            synthesised, real, fov = (
                record["synthesised"],
                record["real"] * record["fov"],
                record["fov"],
            )
            panels = [record["map"], synthesised, real]
            row = torch.cat([to_rgb_uint8(panel) for panel in panels], dim=-1)
            save_png(row, self.side_by_side / f"{record['name']}.png")
            scores = {"name": record["name"], **image_scores(synthesised, real, fov)}
            if self.judge is not None:
                scores.update(self.agreement_of(synthesised, record["map"], fov))
            self.rows.append(scores)

    def agreement_of(
        self, synthesised: torch.Tensor, vessel_map: torch.Tensor, fov: torch.Tensor
    ) -> dict:
        """The judge's vessels in `synthesised` against the map it was made from, inside the FOV:
        added to the split's scores, returned for this image."""
        from torchmetrics.functional.classification import binary_auroc, binary_f1_score

        inside = fov.bool()
        probs = self.judge.vessels(synthesised, fov)[None][inside]
        target = vessel_map[inside].round().int()
        self.agreement.update(probs, target)
        return {
            "vessel_f1": float(binary_f1_score(probs, target)),
            "vessel_auroc": float(binary_auroc(probs, target, thresholds=200)),
        }

    def on_test_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not self.rows:
            return
        write_per_image(self.per_image, self.rows, self.sort_by, HIGHER_IS_WORSE)
        summary = {name: float(trainer.callback_metrics[f"test/{name}"]) for name in SCORE_NAMES}
        if self.judge is not None:
            summary.update({k: float(v) for k, v in self.agreement.compute().items()})
            summary["judge"] = str(self.judge_files["checkpoint"])
        summary["images"] = len(self.rows)
        summary["seconds_per_image"] = round(self.seconds / len(self.rows), 4)
        write_scores(self.metrics, summary)

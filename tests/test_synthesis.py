"""The second worked task: photographs synthesised from vessel maps (conf/task/synthesis.yaml),
its scores, its L1-only baseline, and the pairs dataset made from predict.py's maps."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import lightning as L
import pytest
import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf
from PIL import Image

from bookkeeping.build import build
from data.manifest import DataError
from data.pairs import write_pairs
from tests.conftest import copy_repository, run_module, script_env
from tests.readme import readme_command
from tests.test_config import compose_config
from utils.synthesis.metrics import image_scores

SMALL = [
    "experiment=synthesis",
    "model.generator.base_channels=4",
    "model.generator.depth=2",
    "model.discriminator.base_channels=4",
    "data.patch_size=32",
    "data.batch_size=2",
]


def fitted(dataset: Path, *overrides: str) -> tuple[L.LightningModule, dict]:
    """A small synthesis model after two training steps, and its weights before them."""
    cfg = compose_config([*SMALL, f"data.root={dataset}", *overrides])
    model = instantiate(cfg.model)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    trainer = L.Trainer(
        max_steps=2,
        limit_val_batches=0,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    trainer.fit(model, datamodule=build(cfg.data, "data"))
    return model, before


def changed(model: L.LightningModule, before: dict, prefix: str) -> bool:
    return any(
        not torch.equal(value, before[key])
        for key, value in model.state_dict().items()
        if key.startswith(prefix) and value.is_floating_point()
    )


@pytest.mark.parametrize("gan_weight", [0.0, 1.0])
def test_the_l1_only_baseline_never_trains_the_discriminator(
    dataset: Path, gan_weight: float
) -> None:
    model, before = fitted(dataset, f"model.gan_weight={gan_weight}")
    assert changed(model, before, "net.")
    assert changed(model, before, "discriminator.") == bool(gan_weight)


def test_normalised_photographs_are_refused_with_the_key_to_set(dataset: Path) -> None:
    with pytest.raises(ValueError, match="data.normalize=none"):
        fitted(dataset, "data.normalize=dataset")


def test_scores_are_counted_inside_the_field_of_view() -> None:
    real = torch.rand(3, 48, 48)
    fov = torch.zeros(1, 48, 48, dtype=torch.bool)
    fov[:, 8:40, 8:40] = True
    outside_differs = torch.where(fov, real, torch.rand(3, 48, 48))
    same = image_scores(outside_differs, real, fov)
    assert same["l1"] == 0 and same["ssim"] == pytest.approx(1.0, abs=1e-4)
    worse = image_scores((real + 0.1).clamp(0, 1), real, fov)
    assert worse["l1"] > 0.05 and worse["psnr"] < 30 and worse["ssim"] < 1


def test_the_judge_is_named_by_experiment_and_checked() -> None:
    cfg = compose_config(["experiment=synthesis", "task.judge=unet_synthetic_noaug"])
    judge = OmegaConf.to_container(cfg.task.result_writer, resolve=True)["judge"]
    assert judge == {
        "params": "experiment/unet_synthetic_noaug/params.yaml",
        "checkpoint": "experiment/unet_synthetic_noaug/model/best.ckpt",
        "data_statistics": "experiment/unet_synthetic_noaug/data_statistics.json",
    }
    assert compose_config(["experiment=synthesis"]).task.result_writer.judge is None
    bad = compose_config(["experiment=synthesis", "task.judge='../up'"])
    with pytest.raises(Exception) as raised:
        OmegaConf.to_container(bad.task.result_writer, resolve=True)
    message = str(raised.value)
    assert "task.judge='../up' is not a valid experiment name" in message


def test_the_recipe_sets_task_model_and_raw_photographs_for_any_data() -> None:
    cfg = compose_config(["experiment=synthesis", "data=drive"])
    assert (cfg.task.name, cfg.task.monitor, cfg.task.mode) == ("synthesis", "val/l1", "min")
    assert cfg.model._target_ == "src.pix2pix.synthesis.MapToPhotograph"
    assert (cfg.data.name, cfg.data.normalize) == ("drive", "none")
    assert cfg.exp_name == "synthesis_pix2pix_drive_aug"


def test_the_recipe_names_its_runs_apart_from_segmentation_pix2pix() -> None:
    assert compose_config(["experiment=synthesis"]).exp_name == "synthesis_pix2pix_synthetic_noaug"
    assert compose_config(["model=pix2pix"]).exp_name == "pix2pix_synthetic_noaug"


def test_pairs_are_made_only_from_predict_output_into_a_new_folder(
    dataset: Path, tmp_path: Path
) -> None:
    photographs = str(dataset / "test" / "images")
    with pytest.raises(DataError, match=r"01_test.tif: no 01_test_vessels.png or 01_test_fov.png"):
        write_pairs(tmp_path / "not_predictions", photographs, tmp_path / "pairs")
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "mine.txt").write_text("someone's")
    with pytest.raises(DataError, match="not empty"):
        write_pairs(tmp_path, photographs, tmp_path / "taken")
    assert (tmp_path / "taken" / "mine.txt").read_text() == "someone's"


def test_a_pairs_run_that_fails_on_the_way_leaves_no_folder(dataset: Path, tmp_path: Path) -> None:
    photographs = str(dataset / "*/images/*.tif")  # 8 photographs of 565 x 584
    predictions = tmp_path / "predictions"
    predictions.mkdir()
    for photo in sorted(dataset.glob("*/images/*.tif")):
        size = (32, 32) if photo.stem == "02_test" else (565, 584)  # one map of another size
        for kind in ("vessels", "fov"):
            Image.new("L", size, 255).save(predictions / f"{photo.stem}_{kind}.png")
    out = tmp_path / "pairs"
    with pytest.raises(DataError, match="02_test_vessels.png: size 32x32 differs"):
        write_pairs(predictions, photographs, out, test_share=0.5, val_count=1)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["predictions"]
    with pytest.raises(DataError, match="--val-count=0"):
        write_pairs(predictions, photographs, out, val_count=0)


def test_drive_layout_ids_sort_as_numbers(tmp_path: Path) -> None:
    from data.drive import find_samples

    (tmp_path / "training/images").mkdir(parents=True)
    for number in (100, 99, 21):
        (tmp_path / f"training/images/{number:02d}_training.tif").touch()
    names = [Path(sample.image).name for sample in find_samples(tmp_path, "training")]
    assert names == ["21_training.tif", "99_training.tif", "100_training.tif"]


def test_the_judge_must_be_a_vessel_experiment(tmp_path: Path) -> None:
    from utils.synthesis.results import Judge, JudgeError, check_judge

    files = {
        key: tmp_path / name
        for key, name in [
            ("params", "params.yaml"),
            ("checkpoint", "best.ckpt"),
            ("data_statistics", "s.json"),
        ]
    }
    with pytest.raises(JudgeError, match="params.yaml does not exist"):
        check_judge(files)
    files["params"].write_text("task:\n  name: synthesis\n")
    files["checkpoint"].touch()
    files["data_statistics"].write_text("{}")
    with pytest.raises(JudgeError, match="is a synthesis experiment"):
        Judge(files, torch.device("cpu"))


def test_scores_that_are_not_finite_are_written_as_null(tmp_path: Path) -> None:
    from utils.engine.results import write_scores

    write_scores(tmp_path / "m.json", {"psnr": float("inf"), "f1": float("nan"), "l1": 0.0})
    assert json.loads((tmp_path / "m.json").read_text()) == {"psnr": None, "f1": None, "l1": 0.0}


def check_ok(result: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    assert result.returncode == 0, (
        f"stdout:\n{result.stdout[-3000:]}\nstderr:\n{result.stderr[-3000:]}"
    )
    return result


QUICK = [
    "trainer.max_epochs=1",
    "data.samples_per_epoch=8",
    "data.batch_size=4",
    "trainer.limit_val_batches=1",
    "logger=csv",
    "callbacks.progress_bar=null",
    "+trainer.enable_progress_bar=false",
]


def run_readme(words: list[str], *extra: str, cwd: Path) -> subprocess.CompletedProcess:
    """Run a command the README shows (`readme_command`), from `cwd`, with `extra` overrides
    after its own."""
    return check_ok(
        subprocess.run(
            [sys.executable, *words[1:], *extra],
            cwd=cwd,
            env=script_env(),
            capture_output=True,
            text=True,
            timeout=600,
        )
    )


@pytest.mark.slow
def test_the_second_task_trains_from_photographs_without_labels(
    dataset: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The README's second task as written, in a fork: synthesis on the built-in data judged by
    a U-Net, then the seed's MESSIDOR direction with the built-in photographs standing in, their
    labels withheld: predict.py's maps, the pairs dataset in one command, the branch named by the
    seed's rule, pix2pix synthesis trained and tested there, listed beside the segmenter."""
    fork = copy_repository(tmp_path / "fork")
    photographs = fork / "data/MESSIDOR/images"  # the photographs alone: no label, no mask
    photographs.mkdir(parents=True)
    for image in sorted(dataset.glob("*/images/*.tif")):
        shutil.copy(image, photographs / image.name)
    small = [o for o in SMALL if o != "experiment=synthesis"] + QUICK
    # The judge, named as `make train` names it; trained in this process, as train.py would.
    from bookkeeping.config import run_config
    from train import train

    monkeypatch.chdir(fork)
    judge = ["exp_name=unet_synthetic_noaug", "model.net.base_channels=4", "model.net.depth=2"]
    given = [f"data.root={dataset}", *judge, *QUICK]
    train(*run_config(compose_config(given), given))

    run_readme(
        readme_command("python train.py experiment=synthesis task.judge=unet_synthetic_noaug"),
        f"data.root={dataset}",
        *small,
        cwd=fork,
    )
    run_readme(
        readme_command("python test.py exp_name=synthesis_pix2pix_synthetic_noaug"), cwd=fork
    )
    result = fork / "experiment/synthesis_pix2pix_synthetic_noaug/result"
    scores = json.loads((result / "metrics.json").read_text())
    assert 0 <= scores["l1"] <= 1 and 0 <= scores["ssim"] <= 1 and scores["psnr"] > 0
    assert 0 <= scores["vessel_f1"] <= 1 and 0 <= scores["vessel_auroc"] <= 1
    side_by_side = Image.open(result / "side_by_side/01_test.png")
    photograph = Image.open(dataset / "test/images/01_test.tif")
    assert side_by_side.size == (3 * photograph.width, photograph.height)
    report = check_ok(run_module("bookkeeping.report", cwd=fork)).stdout
    tasks = {line.split()[0]: line.split()[1] for line in report.splitlines()[1:] if line}
    assert tasks == {
        "synthesis_pix2pix_synthetic_noaug": "synthesis",
        "unet_synthetic_noaug": "vessels",
    }
    assert "test L1" in report and "val F1" in report

    run_readme(
        readme_command(
            "python predict.py exp_name=unet_synthetic_noaug input=data/MESSIDOR/images"
        ),
        cwd=fork,
    )
    predictions = fork / "experiment/unet_synthetic_noaug/result/predict/images"
    assert len(list(predictions.glob("*_fov.png"))) == 8
    run_readme(
        readme_command(
            "python -m data.pairs experiment/unet_synthetic_noaug/result/predict/images "
            "data/MESSIDOR/images data/messidor"
        ),
        cwd=fork,
    )
    record = json.loads((fork / "data/messidor/pairs.json").read_text())
    assert len(record["test"]) == 2 and len(record["training"]) == 6
    run_readme(
        readme_command(
            "python -m bookkeeping.branch new --long-term experiment=synthesis data=manifests "
            "data.name=messidor data.augment=true"
        ),
        cwd=fork,
    )
    branch = subprocess.run(
        ["git", "branch", "--show-current"], cwd=fork, capture_output=True, text=True, check=True
    )
    assert branch.stdout.strip() == "MAIN_PIX2PIX_MESSIDOR_AUG"
    run_readme(
        readme_command(
            "python train.py experiment=synthesis data=manifests data.name=messidor "
            "data.augment=true task.judge=unet_synthetic_noaug"
        ),
        *small,
        cwd=fork,
    )
    run_readme(readme_command("python test.py exp_name=MAIN_PIX2PIX_MESSIDOR_AUG"), cwd=fork)
    scores = json.loads(
        (fork / "experiment/MAIN_PIX2PIX_MESSIDOR_AUG/result/metrics.json").read_text()
    )
    assert scores["images"] == 2 and 0 <= scores["vessel_f1"] <= 1

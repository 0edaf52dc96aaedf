"""Scaling out with real processes: DDP on two CPU processes, an Optuna sweep, a submitit launch,
a multirun over both models, and the auto-resume a requeued cluster job relies on."""

from __future__ import annotations

import ast
import re
import subprocess
import time
from pathlib import Path

import pytest
import torch
import yaml

from tests.conftest import run_script

pytestmark = pytest.mark.slow
QUIET = ("callbacks.progress_bar=null", "+trainer.enable_progress_bar=false")


def check_ok(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 0, f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    return result.stdout + result.stderr


def test_ddp_cpu_two_processes_one_folder(tmp_path: Path, dataset: Path) -> None:
    output = check_ok(
        run_script(
            "train.py",
            "trainer=ddp_cpu",
            "debug=fast",
            "trainer.limit_val_batches=2",  # one validation image per process
            f"data.root={dataset}",
            "exp_name=ddp",
            *QUIET,
            cwd=tmp_path,
        )
    )
    assert [p.name for p in (tmp_path / "experiment").iterdir()] == ["ddp"]
    exp = tmp_path / "experiment/ddp"
    assert sorted(p.name for p in (exp / "model").iterdir()) == ["best.ckpt", "last.ckpt"]
    assert (exp / "log/train.log").read_text().count("Experiment ddp:") == 1
    assert len(yaml.safe_load((exp / "record.yaml").read_text())["sessions"]) == 1
    assert yaml.safe_load((exp / "params.yaml").read_text())["trainer"]["devices"] == 2

    finals = dict(re.findall(r"Final metrics \(rank (\d)\): (\{.*\})", output))
    assert set(finals) == {"0", "1"}, output
    ranks = [ast.literal_eval(finals[r]) for r in ("0", "1")]
    validation = [{k: v for k, v in m.items() if k.startswith("val/")} for m in ranks]
    assert validation[0] and validation[0] == validation[1], "validation metrics are synchronised"
    assert ranks[0]["train/loss"] != ranks[1]["train/loss"], (
        "each process trains on its own patches"
    )


def test_optuna_search_twice_gives_each_trial_a_folder(tmp_path: Path, dataset: Path) -> None:
    search = (
        "train.py",
        "-m",
        "hparams_search=unet_optuna",
        "hydra.sweeper.n_trials=2",
        "model.net.base_channels=choice(4, 8)",  # narrows the search space: small, quick nets
        "debug=fast",
        f"data.root={dataset}",
        *QUIET,
    )
    check_ok(run_script(*search, cwd=tmp_path))
    time.sleep(1)  # searches are told apart by their start time, to the second
    check_ok(run_script(*search, cwd=tmp_path))  # the same seed: the same trials, new folders
    trials = sorted((tmp_path / "experiment").glob("unet_synthetic_optuna_*/params.yaml"))
    assert len(trials) == 4
    params = [yaml.safe_load(t.read_text()) for t in trials]
    assert len({p["model"]["optimizer"]["lr"] for p in params}) == 2, "the same seed repeats"
    assert {p["model"]["net"]["base_channels"] for p in params} <= {4, 8}, "command line narrows"
    results = sorted((tmp_path / "experiment/multirun").glob("*/optimization_results.yaml"))
    assert len(results) == 2
    best = yaml.safe_load(results[0].read_text())
    assert set(best["best_params"]) == {
        "model.optimizer.lr",
        "model.net.base_channels",
        "data.augment",
    }
    assert 0.0 <= best["best_value"] <= 1.0


def test_multirun_over_both_models(tmp_path: Path, dataset: Path) -> None:
    check_ok(
        run_script(
            "train.py",
            "-m",
            "model=unet,pix2pix",
            "debug=fast",
            f"data.root={dataset}",
            *QUIET,
            cwd=tmp_path,
        )
    )
    for model in ("unet", "pix2pix"):
        params = tmp_path / f"experiment/{model}_synthetic_debug_fast_model-{model}/params.yaml"
        assert yaml.safe_load(params.read_text())["model"]["name"] == model


def test_submitit_local_launch(tmp_path: Path, dataset: Path) -> None:
    check_ok(
        run_script(
            "train.py",
            "-m",
            "hydra/launcher=submitit_local",
            "debug=fast",
            f"data.root={dataset}",
            "exp_name=submitted",
            *QUIET,
            cwd=tmp_path,
        )
    )
    assert (tmp_path / "experiment/submitted/model/best.ckpt").is_file()
    assert list((tmp_path / "experiment/multirun").glob("*/.submitit/*/*_result.pkl"))


def test_requeued_job_resumes_itself(tmp_path: Path, dataset: Path) -> None:
    """A requeued job repeats its command line; resume=auto makes it continue, not fail."""
    job = (
        "resume=auto",
        f"data.root={dataset}",
        "exp_name=requeued",
        "model.net.base_channels=4",
        "trainer.max_epochs=2",
        "trainer.limit_train_batches=3",
        "trainer.limit_val_batches=1",
        *QUIET,
    )
    check_ok(run_script("train.py", *job, cwd=tmp_path))
    last = tmp_path / "experiment/requeued/model/last.ckpt"
    step = torch.load(last, weights_only=True)["global_step"]
    output = check_ok(run_script("train.py", *job, cwd=tmp_path))
    assert "resuming" in output
    assert torch.load(last, weights_only=True)["global_step"] == step == 6
    record = yaml.safe_load((tmp_path / "experiment/requeued/record.yaml").read_text())
    assert [s["resumed"] for s in record["sessions"]] == [False, True]

"""Experiment records and tracking through the real command line: loggers (TensorBoard, CSV and
W&B offline), the record beside params.yaml, resume after a real signal, repeat from the record."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import pytest
import torch
import yaml
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from tests.conftest import REPO, run_module, run_script, script_env

pytestmark = pytest.mark.slow
SECRET = "sekrit-4f9a2c"  # stands for a W&B key or any other secret in the environment
# A small run that takes a few seconds, long enough to be interrupted mid-training.
SMALL = (
    "model.net.base_channels=4",
    "data.patch_size=32",
    "data.batch_size=2",
    "trainer.limit_val_batches=1",
)


def check_ok(result: subprocess.CompletedProcess) -> None:
    assert result.returncode == 0, f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"


def test_every_logger_gets_scalars_and_images_and_no_secret(tmp_path: Path, dataset: Path) -> None:
    home = tmp_path / "home"  # W&B writes settings and caches under HOME
    env = {"HOME": str(home), "WANDB_API_KEY": SECRET, "MY_DB_PASSWORD": SECRET}
    check_ok(
        run_script(
            "train.py",
            "debug=fast",
            f"data.root={dataset}",
            "logger=[tensorboard,csv,wandb]",
            f"+wandb_token={SECRET}",  # a secret-named config key is redacted too
            "exp_name=logged",
            cwd=tmp_path,
            env=env,
        )
    )
    exp = tmp_path / "experiment/logged"

    events = EventAccumulator(
        str(exp / "log/tensorboard"), size_guidance={"scalars": 0, "images": 0}
    )
    events.Reload()
    assert {"train/loss", "val/f1", "val/auroc"} <= set(events.Tags()["scalars"])
    assert "val/input_prediction_label" in events.Tags()["images"]

    csv_log = exp / "log/csv"
    assert {"train/loss", "val/f1"} <= set(
        (csv_log / "metrics.csv").read_text().splitlines()[0].split(",")
    )
    assert list((csv_log / "images/val_input_prediction_label").glob("*.png"))

    [run] = (exp / "log/wandb").glob("offline-run-*")
    assert list(run.glob("run-*.wandb"))
    assert list((run / "files/media/images").rglob("*.png")), "prediction images reach W&B"
    params = yaml.safe_load((exp / "params.yaml").read_text())
    record = yaml.safe_load((exp / "record.yaml").read_text())
    assert params["logger"]["wandb"]["id"] is None, "the run id is record, not configuration"
    assert run.name.endswith(record["run_id"])
    assert not {"run_id", "overrides", "branch"} & set(params)

    for path in [*exp.rglob("*"), *home.rglob("*")]:
        if path.is_file():
            assert SECRET.encode() not in path.read_bytes(), f"secret written to {path}"
    assert params["wandb_token"] == "<redacted>"


def test_record_beside_params(tmp_path: Path, dataset: Path) -> None:
    check_ok(
        run_script("train.py", "debug=fast", f"data.root={dataset}", "exp_name=rec", cwd=tmp_path)
    )
    record = yaml.safe_load((tmp_path / "experiment/rec/record.yaml").read_text())
    assert "train.py debug=fast" in record["command"]
    assert len(record["git"]["commit"]) == 40 and record["git"]["branch"]
    assert record["python"] == ".".join(map(str, sys.version_info[:3]))
    assert record["packages"]["torch"] == torch.__version__
    every_file = [path for path in dataset.rglob("*") if path.is_file()]
    assert record["data"]["files"] == len(every_file) and len(record["data"]["sha256"]) == 64
    assert record["hardware"]["cpu_count"] == os.cpu_count()
    [session] = record["sessions"]
    assert session["status"] == "finished" and session["wall_time_s"] > 0
    assert 0.0 <= session["metrics"]["val/f1"] <= 1.0

    assert record["overrides"] == ["debug=fast", f"data.root={dataset}", "exp_name=rec"]
    table = run_module("bookkeeping.report", cwd=tmp_path)
    check_ok(table)
    assert "rec" in table.stdout and "finished" in table.stdout


def start_training(tmp_path: Path, dataset: Path, *overrides: str) -> subprocess.Popen:
    """train.py in the background, its output going to tmp_path/output.txt (a pipe could fill)."""
    command = [sys.executable, str(REPO / "train.py"), f"data.root={dataset}", *SMALL, *overrides]
    with open(tmp_path / "output.txt", "wb") as output:
        return subprocess.Popen(
            command,
            cwd=tmp_path,
            env=script_env(),
            stdout=output,
            stderr=subprocess.STDOUT,
            # As from a terminal: a suite started in the background (`make test-all &`, some CI
            # runners) passes SIGINT on as ignored, and Python then never raises KeyboardInterrupt.
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        )


def saved_step(checkpoint: Path) -> int:
    return torch.load(checkpoint, map_location="cpu", weights_only=True)["global_step"]


@pytest.mark.parametrize(
    ("stop", "status", "exit_code"),
    [
        (signal.SIGINT, "interrupted", 128 + signal.SIGINT),
        (signal.SIGTERM, "interrupted", 128 + signal.SIGTERM),
        (signal.SIGKILL, "running", -signal.SIGKILL),  # no chance to record anything
    ],
)
def test_killed_run_resumes_to_the_same_end(
    tmp_path: Path, dataset: Path, stop: signal.Signals, status: str, exit_code: int
) -> None:
    # Long enough after the first last.ckpt (step 10) that the signal lands mid-training even
    # with bf16 steps of a few milliseconds.
    epochs, batches, every = 2, 150, 10
    run = (
        "exp_name=killed",
        f"trainer.max_epochs={epochs}",
        f"trainer.limit_train_batches={batches}",
        f"callbacks.last_checkpoint.every_n_train_batches={every}",
        "logger=many",
    )
    process = start_training(tmp_path, dataset, *run)
    last = tmp_path / "experiment/killed/model/last.ckpt"
    deadline = time.monotonic() + 120
    while not last.exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    process.send_signal(stop)
    process.wait(timeout=120)
    output = (tmp_path / "output.txt").read_text()
    assert process.returncode == exit_code, output
    stopped_at = saved_step(last)
    assert 0 < stopped_at < epochs * batches, "the run was stopped mid-training"
    if stop != signal.SIGKILL:
        assert "Continue with resume=true" in output
    record = yaml.safe_load((tmp_path / "experiment/killed/record.yaml").read_text())
    assert record["sessions"][-1]["status"] == status

    check_ok(run_script("train.py", "exp_name=killed", "resume=true", cwd=tmp_path))
    assert saved_step(last) == epochs * batches  # the same end as an uninterrupted run
    record = yaml.safe_load((tmp_path / "experiment/killed/record.yaml").read_text())
    assert [s["resumed"] for s in record["sessions"]] == [False, True]
    assert record["sessions"][-1]["status"] == "finished"
    # The loggers continued: one validation row per epoch in the CSV, steps increasing.
    lines = (tmp_path / "experiment/killed/log/csv/metrics.csv").read_text().splitlines()
    header = lines[0].split(",")
    rows = [dict(zip(header, line.split(","), strict=True)) for line in lines[1:]]
    assert sorted(int(r["epoch"]) for r in rows if r["val/f1"]) == list(range(epochs))
    live = tmp_path / "experiment/killed/log/dvclive/plots/metrics"
    assert len((live / "val/f1.tsv").read_text().splitlines()) == 1 + epochs, "DVCLive's too"


def test_repeat_from_record_reproduces_validation_metrics(tmp_path: Path, dataset: Path) -> None:
    check_ok(
        run_script(
            "train.py",
            f"data.root={dataset}",
            *SMALL,
            "exp_name=original",
            "trainer.max_epochs=2",
            "trainer.limit_train_batches=8",
            "trainer.deterministic=true",
            cwd=tmp_path,
        )
    )
    changed = run_script("train.py", "repeat_of=original", "seed=3", cwd=tmp_path)
    assert changed.returncode == 1 and "cannot change seed" in changed.stderr
    check_ok(run_script("train.py", "repeat_of=original", "exp_name=again", cwd=tmp_path))
    runs = [
        yaml.safe_load((tmp_path / f"experiment/{name}/record.yaml").read_text())["sessions"][-1]
        for name in ("original", "again")
    ]
    metrics = [run["metrics"] for run in runs]
    assert {"val/f1", "val/auroc", "train/loss"} <= set(metrics[0])
    for key in metrics[0]:
        assert metrics[1][key] == pytest.approx(metrics[0][key], abs=1e-6), key
    assert (tmp_path / "experiment/again/model/best.ckpt").is_file()

    comparison = run_module("bookkeeping.report", "original", "again", cwd=tmp_path)
    check_ok(comparison)
    differences = comparison.stdout.split("\n\n")[0].splitlines()
    assert len(differences) == 2 and differences[1].split() == ["repeat_of", "-", "original"]


def wandb_stream(run: Path) -> dict[str, dict]:
    """What wandb-core logged of an offline run's stream (logs/debug-internal.log, JSON lines):
    {message: the first entry with it, its "time" parsed}."""
    entries = {}
    for line in (run / "logs/debug-internal.log").read_text().splitlines():
        entry = json.loads(line)
        entries.setdefault(entry["msg"], {**entry, "time": datetime.fromisoformat(entry["time"])})
    return entries


def test_each_sweep_job_is_its_own_wandb_run(tmp_path: Path, dataset: Path) -> None:
    """All jobs of a basic-launcher sweep share one process; each must still get its own run,
    finished before the next job opens one."""
    check_ok(
        run_script(
            "train.py",
            "-m",
            "seed=1,2",
            "debug=fast",
            f"data.root={dataset}",
            "logger=wandb",
            "exp_name=sweep",
            cwd=tmp_path,
            env={"HOME": str(tmp_path / "home")},
        )
    )
    jobs = ["sweep_seed-1", "sweep_seed-2"]
    runs, streams, processes = {}, {}, set()
    for job in jobs:
        record = yaml.safe_load((tmp_path / f"experiment/{job}/record.yaml").read_text())
        [run] = (tmp_path / f"experiment/{job}/log/wandb").glob("offline-run-*")
        assert run.name.endswith(record["run_id"]) and list(run.glob("run-*.wandb"))
        runs[job], streams[job] = run, wandb_stream(run)
        assert streams[job]["stream: created new stream"]["id"] == record["run_id"]
        assert "stream: all finished" in streams[job], f"{job}'s W&B run was never finished"
        processes |= set(re.findall(r"MainThread:(\d+)", (run / "logs/debug.log").read_text()))
    assert len({run.name for run in runs.values()}) == 2
    assert len(processes) == 1, "the basic launcher runs every job in one process"
    # The first job's run was closed before the second job's run was opened: not at exit.
    closed = streams[jobs[0]]["stream: all finished"]["time"]
    assert closed < streams[jobs[1]]["stream: created new stream"]["time"]
    # Each run's console holds its own job only.
    for job, run in runs.items():
        console = (run / "files/output.log").read_text()
        assert f"experiment/{job}/" in console
        assert not [other for other in jobs if other != job and f"experiment/{other}/" in console]

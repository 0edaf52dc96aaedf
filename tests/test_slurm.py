"""A real one-node SLURM cluster (`bash .ci/slurm.sh start`): sweeps, pre-emption, time limits.

Every job goes through `python train.py -m hydra/launcher=slurm ...` as a user submits it, and real
sbatch, srun, scontrol and scancel. The jobs are submitted together at the start of the module and
driven by one thread that plays the scheduler's part: it requeues a job once it has a checkpoint
(pre-emption) or before it has one, sends a job SIGUSR2 mid-training (what SLURM sends
`signal_delay_s` before a time limit), and starts requeued jobs at once instead of after SLURM's
minute of delay. So the module costs about what its longest job does. `.ci/run` starts the cluster;
elsewhere these tests say how to in their skip reason, and in CI they fail instead of skipping.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import torch
import yaml

from tests.conftest import REPO, script_env

pytestmark = pytest.mark.slow
SUBMIT = (
    "-m",
    "hydra/launcher=slurm",
    "hydra.launcher.partition=cpu",
    "hydra.launcher.gpus_per_node=0",
    "hydra.launcher.cpus_per_task=1",
    "hydra.launcher.mem_gb=2",
    "trainer=cpu",
    "model.net.base_channels=4",
    "trainer.limit_val_batches=1",
    "logger=csv",
    "callbacks.progress_bar=null",
    "+trainer.enable_progress_bar=false",
)
STEPS_PER_EPOCH = 10  # data.samples_per_epoch=160 at batch 16
LONG = ("data.samples_per_epoch=160", "resume=auto")
DEADLINE_S = 600


def slurm_answers() -> bool:
    if not shutil.which("sinfo"):
        return False
    states = subprocess.run(["sinfo", "-h", "-o", "%T"], capture_output=True, text=True)
    return states.returncode == 0 and any(
        s in states.stdout for s in ("idle", "mixed", "allocated")
    )


@pytest.fixture(scope="module")
def cluster() -> None:
    if not slurm_answers() and os.geteuid() == 0:
        subprocess.run(["bash", str(REPO / ".ci/slurm.sh"), "start"], timeout=600)
    if not slurm_answers():
        reason = "no SLURM cluster answers: `sudo bash .ci/slurm.sh start` starts one here"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)


class Submission:
    """One `train.py -m hydra/launcher=slurm ...` in its own project folder."""

    def __init__(self, root: Path, dataset: Path, *overrides: str) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        if not (root / "data").exists():
            shutil.copytree(dataset, root / "data")
        command = [sys.executable, str(REPO / "train.py"), *SUBMIT, "data.root=data", *overrides]
        self.log = open(root / "submit.log", "w")  # noqa: SIM115  (closed in wait)
        self.process = subprocess.Popen(
            command, cwd=root, env=script_env(), stdout=self.log, stderr=subprocess.STDOUT
        )
        self.requeued = False

    def job_ids(self) -> list[str]:
        folders = self.root.glob("experiment/multirun/*/.submitit/*")
        return sorted({f.name.split("_")[0] for f in folders if f.name[0].isdigit()})

    def scheduler_says(self, *command: str) -> bool:
        """Run an scontrol or scancel command on this submission's jobs; True once it worked."""
        jobs = self.job_ids()
        done = [subprocess.run([*command, job], capture_output=True) for job in jobs]
        return bool(jobs) and all(d.returncode == 0 for d in done)

    def wait(self) -> str:
        self.process.wait(timeout=DEADLINE_S)
        self.log.close()
        output = (self.root / "submit.log").read_text()
        for log in sorted(self.root.glob("experiment/multirun/*/.submitit/*/*_log.*")):
            output += f"\n--- {log.name}\n" + log.read_text()[-4000:]
        assert self.process.returncode == 0, output[-8000:]
        return output


def release_requeued_jobs() -> None:
    """Start requeued jobs now: SLURM holds a requeued job back for a while (BeginTime)."""
    pending = subprocess.run(
        ["squeue", "-h", "-t", "PENDING", "-o", "%i %r"], capture_output=True, text=True
    ).stdout
    for line in pending.splitlines():
        job, reason = line.split(maxsplit=1)
        if "BeginTime" in reason:
            subprocess.run(["scontrol", "update", f"jobid={job}", "StartTime=now"], check=False)


def killed_before_its_first_checkpoint(root: Path, dataset: Path) -> Path:
    """A project whose experiment `early` lost its job before any checkpoint: SIGKILL (what
    follows SIGTERM when a job does not end in time) once its folder exists, before any save."""
    root.mkdir(parents=True)
    shutil.copytree(dataset, root / "data")
    command = [sys.executable, str(REPO / "train.py"), "data.root=data", "exp_name=early"]
    job = subprocess.Popen(
        [*command, *SUBMIT[7:], "callbacks.last_checkpoint.every_n_minutes=null"],
        cwd=root,
        env=script_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    while job.poll() is None and not (root / "experiment/early/params.yaml").is_file():
        time.sleep(0.05)
    job.kill()
    job.wait()
    assert not (root / "experiment/early/model/last.ckpt").exists()
    return root


@pytest.fixture(scope="module")
def runs(cluster: None, tmp_path_factory: pytest.TempPathFactory, dataset: Path) -> dict:
    """Every scenario submitted at once, and a thread that plays the scheduler's part."""
    base = tmp_path_factory.mktemp("slurm")
    runs = {
        "sweep": Submission(base / "sweep", dataset, "debug=fast", "seed=1,2"),
        "preempted": Submission(
            base / "preempted",
            dataset,
            *LONG,
            "exp_name=pre",
            "trainer.max_epochs=6",
            "callbacks.last_checkpoint.every_n_train_batches=2",
        ),
        "early": Submission(
            killed_before_its_first_checkpoint(base / "early", dataset),
            dataset,
            *LONG,
            "exp_name=early",
            "trainer.max_epochs=2",
        ),
        "time_limit": Submission(
            base / "time_limit",
            dataset,
            *LONG,
            "exp_name=limited",
            "trainer.max_epochs=3",
            "data.samples_per_epoch=1600",  # 100 steps an epoch: the signal falls mid-epoch
            "callbacks.last_checkpoint.every_n_train_batches=null",  # saves: epoch ends, signal
        ),
    }
    preempted, limited = runs["preempted"], runs["time_limit"]

    def exists(run: Submission, path: str) -> bool:
        return (run.root / "experiment" / path).is_file()

    def act() -> None:
        """One look at the jobs, doing what is due: each action once, retried until it works."""
        if not preempted.requeued and exists(preempted, "pre/model/last.ckpt"):
            preempted.requeued = preempted.scheduler_says("scontrol", "requeue")
        # What SLURM sends signal_delay_s before a job's time limit (submitit asks for USR2),
        # sent once the first epoch has ended, so that it falls mid-training.
        if not limited.requeued and exists(limited, "limited/model/last.ckpt"):
            limited.requeued = limited.scheduler_says("scancel", "--signal=USR2")
        release_requeued_jobs()

    def scheduler() -> None:
        start = time.monotonic()
        while time.monotonic() - start < DEADLINE_S:
            try:
                act()
            except (OSError, ValueError) as error:  # a scheduler command that failed: retried
                print(f"scheduler thread: {error}")
            if all(run.process.poll() is not None for run in runs.values()):
                return
            time.sleep(1)

    thread = threading.Thread(target=scheduler, daemon=True)
    thread.start()
    yield runs
    thread.join(timeout=5)
    for run in runs.values():  # a failed test leaves nothing running behind it
        if run.process.poll() is None:
            run.process.terminate()
        for job in run.job_ids():
            subprocess.run(["scancel", job], capture_output=True)


def sessions(root: Path, name: str) -> list[str]:
    record = yaml.safe_load((root / f"experiment/{name}/record.yaml").read_text())
    return [session["status"] for session in record["sessions"]]


def last_step(root: Path, name: str) -> tuple[int, int]:
    state = torch.load(root / f"experiment/{name}/model/last.ckpt", weights_only=True)
    return state["epoch"], state["global_step"]


def test_a_sweep_lands_one_folder_per_job(runs: dict) -> None:
    run = runs["sweep"]
    run.wait()
    folders = sorted(p.parent.name for p in run.root.glob("experiment/*/params.yaml"))
    assert len(folders) == 2 and "seed-1" in folders[0] and "seed-2" in folders[1], folders
    assert all((run.root / "experiment" / f / "model/best.ckpt").is_file() for f in folders)


def test_a_preempted_job_continues_to_the_same_end(runs: dict) -> None:
    run = runs["preempted"]
    run.wait()
    assert run.requeued
    # One job with an explicit exp_name keeps it, even though -m is how it was submitted.
    assert [p.parent.name for p in run.root.glob("experiment/*/params.yaml")] == ["pre"]
    assert sessions(run.root, "pre") == ["interrupted", "finished"]
    assert last_step(run.root, "pre") == (5, 6 * STEPS_PER_EPOCH)  # epochs count from 0


def test_a_job_requeued_before_any_checkpoint_starts_over(runs: dict) -> None:
    run = runs["early"]
    output = run.wait()
    assert "has no checkpoint yet; starting it over" in output
    assert sessions(run.root, "early") == ["finished"]
    assert last_step(run.root, "early") == (1, 2 * STEPS_PER_EPOCH)


def test_a_time_limit_saves_on_the_signal_and_the_job_finishes(runs: dict) -> None:
    run = runs["time_limit"]
    run.wait()
    assert run.requeued, "the time limit's signal was sent"
    log = (run.root / "experiment/limited/log/train.log").read_text()
    assert "Time limit signal: saved" in log, log[-3000:]
    statuses = sessions(run.root, "limited")
    assert len(statuses) >= 2 and statuses[-1] == "finished", statuses
    assert set(statuses[:-1]) == {"interrupted"}, statuses
    assert last_step(run.root, "limited") == (2, 3 * 100)


def test_srun_starts_every_rank_and_a_mistake_stops_them_all(
    cluster: None, tmp_path: Path, dataset: Path
) -> None:
    command = [
        "srun",
        "-N1",
        "--ntasks-per-node=2",
        sys.executable,
        str(REPO / "train.py"),
        "trainer=ddp_cpu",
        "debug=fast",
        "overwrite=false",
        f"data.root={dataset}",
        "exp_name=ranks",
        "callbacks.progress_bar=null",
    ]
    env = script_env()
    trained = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True)
    assert trained.returncode == 0, trained.stderr[-4000:]
    assert (tmp_path / "experiment/ranks/model/last.ckpt").is_file()
    assert "Final metrics (rank 1)" in trained.stdout + trained.stderr
    start = time.monotonic()
    taken = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True)
    assert time.monotonic() - start < 20 + 10, "every rank ended within seconds"
    assert taken.returncode == 1, taken.stderr[-3000:]
    assert (taken.stdout + taken.stderr).count("already exists") == 1, taken.stderr

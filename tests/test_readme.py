"""The README cannot rot: every command of its fenced bash blocks, and of its lifecycle table, is
run here as written, in a fresh fork of the repository, cut short. Training runs a few batches
(overrides appended, and the same overrides in the fork's params.yaml for the DVC pipeline), testing
one batch (the fork's trainer config), benchmarks `--quick` on a small dataset, and `make test` /
`make test-all` collect the suite without running it. A command that another test takes with
`readme_command(...)` (tests/readme.py) runs there instead, once, with that test's checks. Only
what cannot run at all is skipped (SKIPPED: an account, the internet, shell set-up), and each block
prints what it skipped or left to another test, and why.

A quick test checks that the README still documents the commands the template exists for.
"""

from __future__ import annotations

import filecmp
import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from tests.conftest import REPO, cli_env, copy_repository
from tests.readme import readme_blocks, readme_commands, taken_commands, without_comment

# Appended to every training command (the last value of a key wins in Hydra): the commands are
# checked here, not the models.
SHRINK_TRAIN = "trainer.max_epochs=1 trainer.limit_train_batches=2 trainer.limit_val_batches=1"
# The only commands not run, by how they start, with the reason.
SKIPPED = {
    "source .venv/bin/activate": "shell set-up: every command here runs in that environment",
    "wandb sync ": "needs a W&B account and the internet; tests/test_tracking.py checks the "
    "offline run it would upload",
    "WANDB_API_KEY=": "needs a W&B account and the internet",
}
# What the template exists for: each must start a command of a bash block or the lifecycle table.
MISSION = (
    "python train.py model=pix2pix data=drive",
    "python test.py",
    "python predict.py",
    "dvc repro",
    "dvc exp run",
    "python -m bookkeeping.branch new",
    "python -m bookkeeping.branch list",
    "python -m bookkeeping.branch promote",
)
HEADINGS = ("Reproducing with DVC", "One experiment, one branch")
QUEUE_WAIT_S = 420  # two queued pipeline runs, each cut short, on a busy 2-core machine


def skip_reason(command: str) -> str | None:
    """Why `command` is not run here, or None when it is."""
    command = without_comment(command)
    if command in taken_commands():
        return f"run by {taken_commands()[command]}, which checks what it does"
    return next((why for start, why in SKIPPED.items() if command.startswith(start)), None)


@dataclass
class Fork:
    """A fresh fork to run one block in, and the places its commands are pointed at."""

    repo: Path
    remote: Path  # every `dvc remote add` URL becomes this local folder
    collaborator: Path  # `dvc pull` runs in a fresh clone here, as the README says
    small_data: Path  # the benchmarks' --data-root


def as_run_here(command: str, fork: Fork) -> str:
    """The command without its comment, with this environment's tools, cut short."""
    command = without_comment(command)
    venv = Path(sys.executable).parents[1]
    if command.startswith("make train"):
        return f'{command} VENV={venv} ARGS="{SHRINK_TRAIN}"'
    if command.startswith("make test"):  # collected, not run: the suite is what runs this test
        return f'PYTEST_ADDOPTS="--collect-only -q" {command} VENV={venv}'
    if command.startswith("make "):
        return f"{command} VENV={venv}"
    if command == "dvc pull":
        return f"git clone -q {fork.repo} {fork.collaborator} && cd {fork.collaborator} && dvc pull"
    if command.startswith("dvc remote add "):
        return re.sub(r"\S+$", str(fork.remote), command)
    if command.startswith("dvc "):  # several overrides in one -S: the last of each key wins
        return re.sub(r'(overrides="[^"]*)"', rf'\1 {SHRINK_TRAIN}"', command)
    command = re.sub(r"^python ", f"{sys.executable} ", command)
    if benchmark := re.search(r"-m benchmarks\.(\w+)", command):
        source = (fork.repo / "benchmarks" / f"{benchmark.group(1)}.py").read_text()
        data = f" --data-root {fork.small_data}" if "add_data_root(" in source else ""
        return f"{command} --quick{data}"
    if "resume=true" in command:  # resume may only change max_epochs: one epoch more
        return re.sub(r"trainer\.max_epochs=\d+", "trainer.max_epochs=2", command)
    if "repeat_of=" in command or "debug=fast" in command:  # a short run already
        return command
    if "train.py" in command:
        return f"{command} {SHRINK_TRAIN}"
    return command


def cut_short(path: Path, pattern: str, replacement: str) -> None:
    """Replace the one line of `path` that matches `pattern`."""
    text, count = re.subn(pattern, replacement, path.read_text(), count=1, flags=re.M)
    assert count == 1, f"{path}: no line matches {pattern!r}"
    path.write_text(text)


def make_fork(root: Path, drive_like: Path, small_data: Path) -> Fork:
    """A fork with DRIVE unzipped in place and the DVC pipeline cut short, all committed (so the
    tree is clean, as `bookkeeping.branch new` requires)."""
    repo = copy_repository(root / "fork")
    shutil.copytree(drive_like, repo / "data/DRIVE")
    cut_short(repo / "params.yaml", r"^overrides: .*$", f'overrides: "{SHRINK_TRAIN}"')
    # The pipeline's test stage passes no overrides: one batch through the fork's trainer config.
    trainer = repo / "conf/trainer/default.yaml"
    cut_short(trainer, r"^limit_test_batches: null", "limit_test_batches: 1")
    subprocess.run(
        ["git", "commit", "-qam", "README test: cut short"],
        cwd=repo,
        env=cli_env(),
        check=True,
        capture_output=True,
    )
    return Fork(repo, root / "remote", root / "collaborator", small_data)


def dvc(fork: Fork, *args: str) -> str:
    """Run `dvc <args>` in the fork; return its output."""
    done = subprocess.run(
        ["dvc", *args], cwd=fork.repo, env=cli_env(), capture_output=True, text=True
    )
    assert done.returncode == 0, f"dvc {' '.join(args)}:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def wait_for_queue(fork: Fork) -> None:
    """Before `dvc queue status`: wait until every queued experiment has ended, successfully."""
    deadline = time.monotonic() + QUEUE_WAIT_S
    tasks = 0
    while True:
        status = dvc(fork, "queue", "status")
        states = re.findall(r"\b(Queued|Running|Success|Failed)$", status, re.M)
        tasks = max(tasks, len(states))  # a task being handed to the worker is briefly in no list
        if len(states) == tasks and set(states) <= {"Success", "Failed"}:
            break
        assert time.monotonic() < deadline, f"queue still busy after {QUEUE_WAIT_S} s:\n{status}"
        time.sleep(3)
    assert tasks and "Failed" not in states, status


def collaborator_has_the_same_bytes(fork: Fork, output: str) -> None:
    """After `dvc pull` in a fresh clone: what `dvc add` tracks, and every output DVC caches,
    arrived byte for byte."""
    listed = subprocess.run(
        ["git", "ls-files", "*.dvc"], cwd=fork.collaborator, capture_output=True, text=True
    ).stdout.split()
    paths = [
        str(Path(name).parent / out["path"])
        for name in listed
        for out in yaml.safe_load((fork.collaborator / name).read_text())["outs"]
    ]
    from dvc.repo import Repo

    with Repo(str(fork.collaborator)) as repo:
        paths += [os.path.relpath(o.fs_path, repo.root_dir) for o in repo.index.outs if o.use_cache]
    differing = {
        path: len(names)
        for path in dict.fromkeys(paths)
        if (names := differing_files(fork.repo / path, fork.collaborator / path))
    }
    assert not differing, (
        f"dvc pull did not bring back, byte for byte (path: files lacking or changed): {differing}"
    )


def differing_files(mine: Path, theirs: Path) -> list[str]:
    """Files of `mine` (a file or folder) that `theirs` lacks or holds otherwise ("" for a file)."""
    if mine.is_file():
        return [] if theirs.is_file() and filecmp.cmp(mine, theirs, shallow=False) else [""]
    names = [str(p.relative_to(mine)) for p in mine.rglob("*") if p.is_file()]
    return [
        name
        for name in names
        if not (theirs / name).is_file() or not filecmp.cmp(mine / name, theirs / name, False)
    ]


def exp_show(fork: Fork) -> list[dict]:
    """`dvc exp show --json`: one entry per experiment, with its params and metrics."""
    table = json.loads(dvc(fork, "exp", "show", "--json"))
    return [e["revs"][0]["data"] for commit in table for e in (commit.get("experiments") or [])]


def pipeline_ran(fork: Fork, output: str) -> None:
    """After a `dvc repro`: every stage ran on the dataset params.yaml names, with test scores."""
    params = yaml.safe_load((fork.repo / "params.yaml").read_text())
    lock = yaml.safe_load((fork.repo / "dvc.lock").read_text())
    assert set(lock["stages"]) == {"train", "test", "curves"}
    data_lock = yaml.safe_load((fork.repo / "data/dvc.lock").read_text())
    prepared = {
        f"{stage}@{name}" for name in params["vessel_datasets"] for stage in ("prepare", "check")
    }
    assert set(data_lock["stages"]) == {"generate", *prepared}, "the example's data stages"
    root = fork.repo / params["data_root"]
    assert (root / "validate.txt").is_file(), "prepare wrote the dataset's manifests"
    resolved = yaml.safe_load((fork.repo / "experiment/pipeline/params.yaml").read_text())
    assert (resolved["data"]["name"], resolved["data"]["root"]) == (
        params["data"],
        params["data_root"],
    ), "train ran on the folder the quality gate checked"
    assert f"Running stage 'data/dvc.yaml:check@{params['data']}'" in output
    if params["data"] == "drive":  # the dvc-added raw folders: hashed as they were, untouched
        assert "up to date" in dvc(fork, "status", "data/DRIVE/training.dvc", "data/DRIVE/test.dvc")
    metrics = json.loads(dvc(fork, "metrics", "show", "--json"))
    scores = next(iter(metrics.values()))["data"]["experiment/pipeline/result/metrics.json"]
    assert {"f1", "auroc", "sensitivity"} <= set(scores["data"])


def only_importing_stages_go_stale(fork: Fork, output: str) -> None:
    """After `make repro` has found nothing to do: an edit of a file no stage imports makes
    nothing stale, one of the loss makes train and test stale (not the data stages), and one of
    conf/ the same; undone, the pipeline is up to date again."""
    assert "Data and pipelines are up to date" in output + dvc(fork, "status")
    edits = {
        "bookkeeping/report.py": ("\n# a new column, some day\n", False),
        "utils/loss.py": ("\n# a tweak of the loss\n", True),
        "conf/model/unet.yaml": ("\n# a wider net, some day\n", True),
    }
    for path, (line, stale) in edits.items():
        file = fork.repo / path
        original = file.read_text()
        file.write_text(original + line)
        status = dvc(fork, "status")
        file.write_text(original)
        if not stale:
            assert "Data and pipelines are up to date" in status, f"{path}:\n{status}"
            continue
        assert "train:" in status and "test:" in status, f"{path}:\n{status}"
        assert "prepare@" not in status and "check@" not in status, f"{path}:\n{status}"
    assert "Data and pipelines are up to date" in dvc(fork, "status")


def every_experiment_is_scored(fork: Fork, output: str) -> None:
    """After `dvc exp show`: the README's pix2pix run and both queued models, with test scores."""
    experiments = exp_show(fork)
    scored = [
        e["params"]["params.yaml"]["data"]["model"]
        for e in experiments
        if e.get("metrics", {}).get("experiment/pipeline/result/metrics.json")
    ]
    assert sorted(scored) == ["pix2pix", "pix2pix", "unet"], (scored, output)
    # DVCLive's last validation scores, beside the test scores, for every experiment.
    live = [e["metrics"].get("experiment/pipeline/log/dvclive/metrics.json") for e in experiments]
    assert all(0.0 <= m["data"]["val"]["f1"] <= 1.0 for m in live), (live, output)


def curves_are_overlaid(fork: Fork, output: str) -> None:
    """After `dvc plots diff $(dvc exp list --name-only) ...`: one page with DVCLive's validation
    F1 of each of the three experiments."""
    names = dvc(fork, "exp", "list", "--name-only").split()
    assert len(names) == 3, names
    page = (fork.repo / "dvc_plots/experiments/index.html").read_text()
    assert "val/f1.tsv" in page and all(name in page for name in names), output


def plots_page_has_the_curves(fork: Fork, output: str) -> None:
    """After `dvc plots show`: the page holds DVC's own plots and the offline curves.svg."""
    svg = (fork.repo / "experiment/pipeline/log/curves.svg").read_text()
    # The fork trains 2 batches an epoch: too few for a train/loss row, so validation's alone.
    assert all(f">{metric} (last " in svg for metric in ("val/f1", "val/auroc")), svg
    page = (fork.repo / "dvc_plots/index.html").read_text()
    assert "curves.svg" in page and "val/f1" in page


# What the README's own words ask for around a command: wait before it, or check what it did.
BEFORE: dict[str, Callable[[Fork], None]] = {"dvc queue status": wait_for_queue}
AFTER: dict[str, Callable[[Fork, str], None]] = {
    "dvc repro": pipeline_ran,
    "make repro": only_importing_stages_go_stale,
    "dvc exp show": every_experiment_is_scored,
    "dvc plots show": plots_page_has_the_curves,
    "dvc plots diff": curves_are_overlaid,
    "dvc pull": collaborator_has_the_same_bytes,
}


@pytest.fixture(scope="module")
def drive_like(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A dataset in DRIVE's unzipped layout, so the DRIVE commands run as written."""
    from data.synthetic import generate

    root = tmp_path_factory.mktemp("drive") / "DRIVE"
    generate(root, seed=1)
    return root


BLOCKS = readme_blocks()
# A block whose every command is skipped or taken by another test has nothing to run here.
RUN_HERE = [(name, list(c)) for name, c in BLOCKS if not all(skip_reason(x) for x in c)]


@pytest.mark.slow
@pytest.mark.parametrize(("name", "commands"), RUN_HERE, ids=[name for name, _ in RUN_HERE])
def test_readme_commands_run(
    name: str, commands: list[str], tmp_path: Path, drive_like: Path, dataset: Path
) -> None:
    assert commands, f"{name}: no command found"
    fork = make_fork(tmp_path, drive_like, dataset)
    env = cli_env(HOME=str(tmp_path / "home"), PYTHONUNBUFFERED="1")  # HOME: W&B's caches
    env.pop("PYTHONPATH", None)
    skipped = [(c, why) for c in commands if (why := skip_reason(c))]
    report = "".join(f"\n  skipped: {c}\n    why: {why}" for c, why in skipped)
    ran = []
    for command in commands:
        if skip_reason(command):
            continue
        plain = without_comment(command)
        started = time.monotonic()
        for start, step in BEFORE.items():
            if plain.startswith(start):
                step(fork)
        done = subprocess.run(
            ["bash", "-c", as_run_here(command, fork)],
            cwd=fork.repo,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert done.returncode == 0, (
            f"README: {command}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}{report}"
        )
        for start, check in AFTER.items():
            if plain.startswith(start):
                check(fork, done.stdout + done.stderr)
        ran.append(f"\n  {time.monotonic() - started:5.1f} s  {plain}")
    print(f"\n{name}: ran {len(ran)} of {len(commands)} commands{''.join(ran)}{report}")
    assert ran, f"{name}: none of its commands ran here{report}"


def test_readme_documents_the_mission() -> None:
    """The commands the template exists for stay in the README, in blocks this file runs."""
    commands = [without_comment(c) for _, block in BLOCKS for c in block]
    missing = [m for m in MISSION if not any(c.startswith(m) for c in commands)]
    assert not missing, (
        f"README.md no longer shows, in a bash block or the lifecycle table: {missing}"
    )
    skipped = [
        c
        for c in commands
        if any(c.startswith(m) for m in MISSION) and skip_reason(c) and c not in taken_commands()
    ]
    assert not skipped, (
        f"commands of the mission must run, here or in a test that takes them: {skipped}"
    )
    text = (REPO / "README.md").read_text()
    headings = re.findall(r"^#+ (.*)$", text, re.M)
    assert set(HEADINGS) <= set(headings), f"README.md lacks {set(HEADINGS) - set(headings)}"
    dangling = [ref for ref in re.findall(r'see "([^"]+)"', text) if ref not in headings]
    assert not dangling, f"README.md refers to sections that do not exist: {dangling}"


def test_every_taken_command_is_in_the_readme() -> None:
    """A test that takes a README command runs what the README shows: each one it takes is there
    (the quick tier says so at once, before the slow test that runs it)."""
    stale = {c: test for c, test in taken_commands().items() if c not in readme_commands()}
    assert taken_commands() and not stale, f"commands README.md no longer shows: {stale}"


def test_every_skip_is_still_needed() -> None:
    """Each entry of SKIPPED matches a README command, so the list cannot outgrow the README."""
    commands = [without_comment(c) for _, block in BLOCKS for c in block]
    unused = [start for start in SKIPPED if not any(c.startswith(start) for c in commands)]
    assert not unused, f"SKIPPED entries no README command needs: {unused}"

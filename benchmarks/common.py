"""Helpers the benchmarks share: argument parsing, timing, medians, Markdown tables, configs.

Imports nothing heavy at module level: `benchmarks.cli` measures start-up time and must not pay
for torch itself.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from omegaconf import DictConfig

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO / "data" / "synthetic"


def cores() -> int:
    """CPU cores this process may run on (what torch uses by default for its thread pool)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def default_threads() -> int:
    """What torch itself would use: OMP_NUM_THREADS when it is one number (a share of the cores,
    as the test suite's workers set it), else every core."""
    given = os.environ.get("OMP_NUM_THREADS", "")
    return int(given) if given.isdigit() and int(given) > 0 else cores()


def parser(description: str, threads: bool = True) -> argparse.ArgumentParser:
    """An argument parser with the options the benchmarks share: --quick and (for those that
    run torch) --threads."""
    parser = argparse.ArgumentParser(
        description=description, formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    parser.add_argument(
        "--quick", action="store_true", help="a few steps only: checks that it runs (tests use it)"
    )
    if threads:
        parser.add_argument(
            "--threads",
            type=int,
            default=default_threads(),
            help="torch intra-op threads (OMP_NUM_THREADS, or all cores)",
        )
    return parser


def add_data_root(parser: argparse.ArgumentParser) -> None:
    """Add --data-root: the dataset to read (generated there when its manifests are missing)."""
    parser.add_argument(
        "--data-root",
        type=Path,
        default=DEFAULT_DATA,
        help="dataset folder with train/validate/test manifests",
    )


def set_threads(threads: int) -> None:
    """Fix torch's thread count, so that a run does not depend on what the machine guesses."""
    import torch

    torch.set_num_threads(threads)


def median(values: Sequence[float]) -> float:
    """Median of the values: robust to the one slow run that a busy machine produces."""
    return float(statistics.median(values))


def step_times(stamps: Sequence[float], warmup: int) -> list[float]:
    """Seconds of each step from the start time of every step, dropping the first `warmup`.

    Start-to-start intervals include everything done between two steps (hooks, logging,
    checkpoints, fetching the next batch), which is what a training run pays.
    """
    return [
        later - earlier
        for earlier, later in zip(stamps[warmup:-1], stamps[warmup + 1 :], strict=True)
    ]


def mean(values: Sequence[float]) -> float:
    """Arithmetic mean: per-step cost including rare expensive steps (a checkpoint every N)."""
    return sum(values) / len(values)


def fmt(value: float | None, digits: int = 2) -> str:
    """A number for a table cell; None (not measured) prints as `n/a`."""
    return "n/a" if value is None else f"{value:.{digits}f}"


def verdict(met: bool) -> str:
    """The `target met` cell."""
    return "yes" if met else "NO"


def print_table(
    title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]], notes: Sequence[str] = ()
) -> None:
    """Print a Markdown table under a `### title` line, then one line per note."""
    print(f"\n### {title}\n")
    print("| " + " | ".join(columns) + " |")
    print("|" + "---|" * len(columns))
    for row in rows:
        print("| " + " | ".join(str(cell) for cell in row) + " |")
    for note in notes:
        print(f"\n{note}")
    sys.stdout.flush()


def parse_tables(text: str) -> dict[str, list[dict[str, str]]]:
    """The tables `print_table` wrote into `text`: title -> rows as {column: cell}."""
    tables: dict[str, list[dict[str, str]]] = {}
    title, columns = None, None
    for line in text.splitlines():
        if line.startswith("### "):
            title, columns = line[4:].strip(), None
            tables[title] = []
        elif title is not None and line.startswith("|") and not line.startswith("|---"):
            cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
            if columns is None:
                columns = cells
            else:
                tables[title].append(dict(zip(columns, cells, strict=True)))
    return tables


def machine_note(threads: int | None = None) -> str:
    """One line on the conditions of the run: cores, threads and the load from other processes."""
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    used = f", {threads} torch threads" if threads else ""
    warning = " (other processes are busy: expect noisy figures)" if load > 0.5 * cores() else ""
    return f"Machine: {cores()} cores{used}, load average {load:.2f} before the run{warning}."


def compose(overrides: Sequence[str] = (), config_name: str = "train") -> DictConfig:
    """Compose conf/<config_name>.yaml with `overrides`, as train.py / test.py would."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    from bookkeeping.config import register_resolvers

    register_resolvers()
    with initialize_config_dir(config_dir=str(REPO / "conf"), version_base="1.3"):
        return hydra_compose(config_name=config_name, overrides=list(overrides))


def quiet_lightning() -> None:
    """Silence Lightning's start-up messages and warnings that do not apply to a benchmark."""
    import logging
    import warnings

    import lightning  # noqa: F401  (its import sets its loggers to INFO: override after it)

    for name in ("lightning", "lightning.pytorch", "lightning.fabric"):
        logging.getLogger(name).setLevel(logging.ERROR)
    for message in (
        ".*does not have many workers.*",  # patches come from memory, see pyproject.toml
        ".*could not find the monitored key.*",  # benchmarks skip validation on purpose
        ".*LeafSpec.*",
        ".*GPU available but not used.*",
    ):
        warnings.filterwarnings("ignore", message=message)


def ensure_data(root: Path) -> Path:
    """`root` with its manifests, generating the synthetic dataset there when they are missing."""
    from data.manifest import manifest_path

    root = Path(root).resolve()
    if not all(manifest_path(root, split).is_file() for split in ("train", "validate", "test")):
        from data.prepare import prepare

        prepare(root, "synthetic")
    return root


def script_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """This environment with the repository importable from any directory, output unbuffered."""
    return {**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONPATH": str(REPO), **(extra or {})}


def run_timed(
    command: Sequence[str], cwd: Path, env: dict[str, str] | None = None, timeout: float = 1800
) -> tuple[float, subprocess.CompletedProcess]:
    """Run a command to its end; return its wall time in seconds and the finished process.

    `env` adds variables to this environment. Raises RuntimeError with the command's stderr
    when it fails: a failed run has no timing.
    """
    start = time.perf_counter()
    done = subprocess.run(
        list(command),
        cwd=cwd,
        env=script_env(env),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(
            f"{' '.join(command)} failed ({done.returncode}):\n{done.stderr[-3000:]}"
        )
    return seconds, done

"""Time to result: the README's main command, from a warm environment to result/metrics.json.

    python -m benchmarks.time_to_result            # `make train` as is: 10 epochs, then test
    python -m benchmarks.time_to_result --quick    # debug=fast and one test batch: seconds

Runs what `make train` runs, each step as a fresh process in an empty temporary folder (so the
relative paths of conf/paths/default.yaml land there, never in this repository's experiment/):
`python -m data.prepare synthetic`, `python train.py`, `python test.py exp_name=...`. The fit is
split into the time inside trainer.fit (the session wall time of record.yaml) and the rest of
train.py (imports, composing, checking the data, writing the experiment folder and record).
The total is timed on its own clock, from the first command's start to the last one's end.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.common import REPO, fmt, machine_note, parser, print_table, run_timed
from bookkeeping.folder import ExperimentFolder
from bookkeeping.record import read_record

EXP_NAME = "time_to_result"
TARGET_S = 240  # the README promises `make train` in under 4 minutes on 2 CPU cores


def fit_seconds(folder: ExperimentFolder) -> float | None:
    """Wall time of the last training session recorded in record.yaml (None if not recorded)."""
    sessions = read_record(folder).get("sessions") or [{}]
    seconds = sessions[-1].get("wall_time_s")
    return None if seconds is None else float(seconds)


def main() -> None:
    parser_ = parser(__doc__.split("\n\n")[0])
    parser_.add_argument(
        "--epochs", type=int, help="trainer.max_epochs for a shorter run (default: as in conf/)"
    )
    args = parser_.parse_args()
    train_overrides = [f"exp_name={EXP_NAME}"]
    test_overrides = [f"exp_name={EXP_NAME}"]
    if args.quick:
        train_overrides.append("debug=fast")
        test_overrides.append("trainer.limit_test_batches=1")
    if args.epochs:
        train_overrides.append(f"trainer.max_epochs={args.epochs}")
    # torch reads OMP_NUM_THREADS at start-up: the way to fix the thread count of child processes.
    threads_env = {"OMP_NUM_THREADS": str(args.threads)}
    env_note = machine_note(args.threads)

    python = sys.executable
    with tempfile.TemporaryDirectory(prefix="time_to_result_") as tmp:
        cwd = Path(tmp)
        stages = {
            "data preparation": [python, "-m", "data.prepare", "synthetic"],
            "fit": [python, str(REPO / "train.py"), *train_overrides],
            "test": [python, str(REPO / "test.py"), *test_overrides],
        }
        seconds = {}
        start = time.perf_counter()
        for stage, command in stages.items():
            seconds[stage] = run_timed(command, cwd, env=threads_env)[0]
        total = time.perf_counter() - start
        folder = ExperimentFolder(cwd / "experiment", EXP_NAME)
        metrics = json.loads(folder.metrics.read_text())  # the result must exist: no file, no time
        inside_fit = fit_seconds(folder)

    shown = {
        "data preparation": ("python -m data.prepare synthetic", seconds["data preparation"]),
        "fit": ("python train.py " + " ".join(train_overrides), seconds["fit"]),
        "fit: inside trainer.fit": ("(record.yaml session wall time)", inside_fit),
        "fit: start-up and set-up": (
            "(imports, config, data check, folder, record)",
            None if inside_fit is None else seconds["fit"] - inside_fit,
        ),
        "test": ("python test.py " + " ".join(test_overrides), seconds["test"]),
        "total": ("to result/metrics.json", total),
    }
    rows = [
        [stage, f"`{command}`", fmt(value, 1), "n/a" if value is None else f"{value / total:.0%}"]
        for stage, (command, value) in shown.items()
    ]
    target = (
        "not applicable to --quick"
        if args.quick or args.epochs
        else f"README's `make train` claim, under {TARGET_S} s: "
        + ("met" if total <= TARGET_S else "NOT met")
    )
    f1 = metrics.get("test/f1", metrics.get("f1"))
    print_table(
        "Time to result: seconds from a warm environment to result/metrics.json",
        ["stage", "command", "seconds", "share"],
        rows,
        notes=[
            f"Target: {target}. Test F1 of this run: {fmt(f1, 3) if f1 is not None else 'n/a'}.",
            env_note,
        ],
    )


if __name__ == "__main__":
    main()

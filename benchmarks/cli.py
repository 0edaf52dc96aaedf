"""Command line: start-up time of the entry points that should answer at once.

    python -m benchmarks.cli            # median of 5 whole-process runs of each command

`train.py --help`, `train.py --cfg job` and `test.py --help` only compose the configuration,
so they must not import torch or lightning (about 5 s here). Each command runs as a fresh
process from an empty temporary folder, as a user would type it; a separate run under
`python -X importtime` says which packages it imported and which top-level import cost most.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from benchmarks.common import REPO, fmt, machine_note, median, parser, print_table, run_timed

TARGET_S = 1.0
COMMANDS = {
    "train.py --help": ["train.py", "--help"],
    "train.py --cfg job": ["train.py", "--cfg", "job"],
    "test.py --help": ["test.py", "--help"],
}
HEAVY = ("torch", "lightning")


def imported_packages(importtime_log: str) -> dict[str, float]:
    """Modules named in `python -X importtime` output -> their cumulative import time in ms.

    Lines read `import time: <self us> | <cumulative us> | <indent><module>`; nested imports
    are indented by two spaces per level, so a name kept without indentation was imported at
    top level.
    """
    modules = {}
    for line in importtime_log.splitlines():
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        _, cumulative, name = line.removeprefix("import time:").split("|")
        modules[name.rstrip().removeprefix(" ")] = int(cumulative) / 1000
    return modules


def heavy_imported(modules: dict[str, float]) -> dict[str, bool]:
    """Whether each of HEAVY (or any of its submodules) was imported."""
    names = {name.strip().split(".")[0] for name in modules}
    return {package: package in names for package in HEAVY}


def slowest_top_level(modules: dict[str, float]) -> tuple[str, float]:
    """The top-level import (not nested in another) that took longest, with its time in ms."""
    top = {name: ms for name, ms in modules.items() if not name.startswith(" ")}
    name = max(top, key=top.get)
    return name, top[name]


def main() -> None:
    parser_ = parser(__doc__.split("\n\n")[0], threads=False)
    parser_.add_argument("--runs", type=int, default=5, help="whole-process runs per command")
    args = parser_.parse_args()
    if args.quick:
        args.runs = 1

    rows = []
    with tempfile.TemporaryDirectory(prefix="cli_") as tmp:
        cwd = Path(tmp)
        python = [sys.executable]
        bare = median([run_timed([*python, "-c", "pass"], cwd)[0] for _ in range(args.runs)])
        for label, (script, *options) in COMMANDS.items():
            command = [*python, str(REPO / script), *options]
            seconds = median([run_timed(command, cwd)[0] for _ in range(args.runs)])
            _, traced = run_timed([*python, "-X", "importtime", *command[1:]], cwd)
            modules = imported_packages(traced.stderr)
            heavy = heavy_imported(modules)
            slowest, slowest_ms = slowest_top_level(modules)
            rows.append(
                [
                    label,
                    fmt(seconds, 2),
                    "yes" if heavy["torch"] else "no",
                    "yes" if heavy["lightning"] else "no",
                    f"{slowest} ({slowest_ms:.0f} ms)",
                    f"<= {TARGET_S}",
                    "yes" if seconds <= TARGET_S and not any(heavy.values()) else "NO",
                ]
            )
    print_table(
        f"Command line: seconds per whole-process run, median of {args.runs}",
        [
            "command",
            "seconds",
            "torch imported",
            "lightning imported",
            "slowest top-level import",
            "target s",
            "met",
        ],
        rows,
        notes=[
            f"Python itself starts in {bare:.2f} s (`python -c pass`).",
            machine_note(),
        ],
    )


if __name__ == "__main__":
    main()

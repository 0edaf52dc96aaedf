"""Tables of experiments from their folders: what ran, and how well.

    python -m utils.report                  # every experiment: key parameters and metrics
    python -m utils.report <exp_a> <exp_b>  # two experiments, parameter by parameter

Reads experiment/<name>/params.yaml, record.yaml and result/metrics.json; imports no torch.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import yaml

from utils.experiment import PARAMS_FILE, ExperimentError, exit_cleanly_on
from utils.record import read_record

COLUMNS = ("experiment", "model", "data", "aug", "epochs", "status", "wall s")
METRICS = (("val F1", "val/f1"), ("test F1", "f1"), ("test AUC", "auroc"))


def flatten(tree: Any, prefix: str = "") -> dict[str, Any]:
    """{"a": {"b": 1}} -> {"a.b": 1}; lists stay values."""
    if not isinstance(tree, dict):
        return {prefix: tree}
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        flat.update(flatten(value, f"{prefix}.{key}" if prefix else str(key)))
    return flat


def summary(exp_dir: Path) -> dict[str, Any]:
    """One row: key parameters, the last session's status and metrics, and the test scores."""
    params = yaml.safe_load((exp_dir / PARAMS_FILE).read_text()) or {}
    record = read_record(exp_dir)
    sessions = record.get("sessions") or [{}]
    metrics_file = exp_dir / "result" / "metrics.json"
    test = json.loads(metrics_file.read_text()) if metrics_file.is_file() else {}
    fit = sessions[-1].get("metrics") or {}
    row = {
        "experiment": exp_dir.name,
        "model": params.get("model", {}).get("name"),
        "data": params.get("data", {}).get("name"),
        "aug": params.get("data", {}).get("augment"),
        "epochs": params.get("trainer", {}).get("max_epochs"),
        "status": sessions[-1].get("status", "?"),
        "wall s": round(record["wall_time_s"]) if "wall_time_s" in record else None,
    }
    for title, key in METRICS:
        row[title] = (fit if key.startswith("val/") else test).get(key)
    return row


def format_table(rows: list[dict[str, Any]]) -> str:
    """Rows of equal keys as an aligned plain-text table; floats to 4 decimals."""
    if not rows:
        return ""

    def cell(value: Any) -> str:
        if value is None:
            return "-"
        return f"{value:.4f}" if isinstance(value, float) else str(value)

    header = list(rows[0])
    cells = [[cell(row[key]) for key in header] for row in rows]
    widths = [max(len(h), *(len(c[i]) for c in cells)) for i, h in enumerate(header)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True))]
    lines += ["  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)) for line in cells]
    return "\n".join(lines)


def compare(exp_a: Path, exp_b: Path) -> str:
    """The parameters that differ between two experiments, then both rows of metrics."""
    flat = [flatten(yaml.safe_load((e / PARAMS_FILE).read_text())) for e in (exp_a, exp_b)]
    skip = {"exp_name", "run_id", "overrides"}
    rows = [
        {"parameter": key, exp_a.name: flat[0].get(key), exp_b.name: flat[1].get(key)}
        for key in sorted(set(flat[0]) | set(flat[1]))
        if flat[0].get(key) != flat[1].get(key)
        and key not in skip
        and not key.startswith("paths.")
        and not str(flat[0].get(key, "")).startswith(str(exp_a))  # folders named after a run
    ]
    differences = format_table(rows) if rows else "(no parameter differs)"
    return differences + "\n\n" + format_table([summary(exp_a), summary(exp_b)])


def experiments(root: Path) -> list[Path]:
    """Experiment folders under `root` (those with a params.yaml), by name."""
    return sorted(p.parent for p in Path(root).glob(f"*/{PARAMS_FILE}"))


@exit_cleanly_on(ExperimentError)
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("names", nargs="*", help="two experiments to compare (none: list all)")
    parser.add_argument("--root", type=Path, default=Path("experiment"))
    args = parser.parse_args()
    if args.names and len(args.names) != 2:
        raise ExperimentError("give no experiment (to list them all) or two (to compare them).")
    for name in args.names:
        if not (args.root / name / PARAMS_FILE).is_file():
            found = ", ".join(p.name for p in experiments(args.root)) or "none"
            raise ExperimentError(
                f"{args.root / name / PARAMS_FILE} does not exist. Found: {found}."
            )
    if args.names:
        print(compare(*(args.root / name for name in args.names)))
    else:
        found = experiments(args.root)
        print(
            format_table([summary(e) for e in found])
            if found
            else f"No experiment in {args.root}/."
        )


if __name__ == "__main__":
    main()

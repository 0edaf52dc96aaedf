"""Tables of experiments from their folders: what ran, and how well.

    python -m bookkeeping.report                  # every experiment: settings, scores and costs
    python -m bookkeeping.report <exp_a> <exp_b>  # two experiments, parameter by parameter

Reads experiment/<name>/params.yaml, record.yaml and result/metrics.json; imports no torch.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import yaml

from bookkeeping.folder import ExperimentFolder, experiments
from bookkeeping.record import read_record
from utils.base import UserError, exit_cleanly_on

METRICS = (("val F1", "val/f1"), ("test F1", "f1"), ("test AUC", "auroc"))


def flatten(tree: Any, prefix: str = "") -> dict[str, Any]:
    """{"a": {"b": 1}} -> {"a.b": 1}; lists stay values."""
    if not isinstance(tree, dict):
        return {prefix: tree}
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        flat.update(flatten(value, f"{prefix}.{key}" if prefix else str(key)))
    return flat


def summary(folder: ExperimentFolder) -> dict[str, Any]:
    """One row: key parameters, the last session's status and metrics, the test scores, and the
    costs to weigh them against (model size, training time, test time per image)."""
    params = yaml.safe_load(folder.params.read_text()) or {}
    record = read_record(folder)
    sessions = record.get("sessions") or [{}]
    test = json.loads(folder.metrics.read_text()) if folder.metrics.is_file() else {}
    fit = sessions[-1].get("metrics") or {}
    row = {
        "experiment": folder.name,
        "model": params.get("model", {}).get("name"),
        "data": params.get("data", {}).get("name"),
        "aug": params.get("data", {}).get("augment"),
        "epochs": params.get("trainer", {}).get("max_epochs"),
        "status": sessions[-1].get("status", "?"),
    }
    for title, key in METRICS:
        row[title] = (fit if key.startswith("val/") else test).get(key)
    parameters = sessions[-1].get("parameters")
    row["params M"] = round(parameters / 1e6, 2) if parameters else None
    row["train s"] = round(record["wall_time_s"], 1) if "wall_time_s" in record else None
    row["test s/img"] = test.get("seconds_per_image")
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


def compare(exp_a: ExperimentFolder, exp_b: ExperimentFolder) -> str:
    """The parameters that differ between two experiments, then both rows of metrics.

    Folder paths are compared as if both runs had the same name: every run has its own.
    """
    params = [yaml.safe_load(e.params.read_text()) or {} for e in (exp_a, exp_b)]
    flat = [
        flatten(exp_a.moved_params(p, e.name)) for p, e in zip(params, (exp_a, exp_b), strict=True)
    ]
    rows = [
        {"parameter": key, exp_a.name: flat[0].get(key), exp_b.name: flat[1].get(key)}
        for key in sorted(set(flat[0]) | set(flat[1]))
        if flat[0].get(key) != flat[1].get(key)
    ]
    differences = format_table(rows) if rows else "(no parameter differs)"
    return differences + "\n\n" + format_table([summary(exp_a), summary(exp_b)])


@exit_cleanly_on(UserError)
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("names", nargs="*", help="two experiments to compare (none: list all)")
    parser.add_argument("--root", type=Path, default=Path("experiment"))
    args = parser.parse_args()
    if args.names and len(args.names) != 2:
        parser.error("give no experiment (to list them all) or two (to compare them).")
    if args.names:
        print(compare(*(ExperimentFolder(args.root, name).require() for name in args.names)))
    else:
        found = experiments(args.root)
        print(
            format_table([summary(e) for e in found])
            if found
            else f"No experiment in {args.root}/."
        )


if __name__ == "__main__":
    main()

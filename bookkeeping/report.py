"""Tables of experiments from their folders: what ran, and how well.

    python -m bookkeeping.report                  # every experiment, repeated configurations,
                                                  # and trained-on x tested-on where tested so
    python -m bookkeeping.report <exp_a> <exp_b>  # two experiments, parameter by parameter

The scores shown are those each experiment's task names (`task.scores` in its params.yaml, from
conf/task/): experiments of several tasks share one table, each filling its own columns.
Experiments whose resolved configurations differ only in a key of REPEAT_KEYS (`seed`,
`data.fold`) are one configuration measured several times: the listing adds a row per such group
with each score as mean +- standard deviation over its n runs, and comparing two experiments
compares their groups. The rule for "larger than the spread": Welch's t-test (scipy, two-sided,
no equal-variance assumption) gives p < ALPHA; with fewer than two runs on a side there is no
verdict. An experiment scored on other datasets too (`test.py exp_name=<exp> data=<other>`) gets a
row in a trained-on x tested-on table, one per configuration, with the same spreads. Reads
experiment/<name>/params.yaml, record.yaml, result/metrics.json and
result/on_<dataset>/metrics.json; imports no torch.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
from pathlib import Path
from typing import Any

import yaml

from bookkeeping.folder import ExperimentFolder, experiments
from bookkeeping.naming import choices
from bookkeeping.record import read_record
from utils.base import UserError, exit_cleanly_on

# Keys that repeat a configuration instead of changing it (a seed sweep, the folds of K-fold).
REPEAT_KEYS = ("seed", "data.fold")
ALPHA = 0.05  # Welch's t-test: a difference of means with p below this exceeds the spread


def flatten(tree: Any, prefix: str = "") -> dict[str, Any]:
    """{"a": {"b": 1}} -> {"a.b": 1}; lists stay values."""
    if not isinstance(tree, dict):
        return {prefix: tree}
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        flat.update(flatten(value, f"{prefix}.{key}" if prefix else str(key)))
    return flat


def read_params(folder: ExperimentFolder) -> dict[str, Any]:
    return yaml.safe_load(folder.params.read_text()) or {}


def score_columns(params: dict[str, Any]) -> list[tuple[str, str]]:
    """(column title, key) of each score the experiment's task lists; `val/` keys are scores of
    the last validation, the others test.py's."""
    return list(((params.get("task") or {}).get("scores") or {}).items())


def test_columns(params: dict[str, Any]) -> list[tuple[str, str]]:
    return [(title, key) for title, key in score_columns(params) if not key.startswith("val/")]


def choice_words(params: dict[str, Any]) -> str:
    """The words the task names an experiment by, beyond its model and dataset."""
    from omegaconf import OmegaConf

    recorded = OmegaConf.create(params)
    name_parts = (params.get("task") or {}).get("name_parts")
    chosen = choices(name_parts, lambda key: OmegaConf.select(recorded, key, default=None))
    return " ".join(choice.word for choice in chosen)


def summary(folder: ExperimentFolder) -> dict[str, Any]:
    """One row: key parameters, the last session's status and metrics, the test scores, and the
    costs to weigh them against (model size, training time, test time per image)."""
    params = read_params(folder)
    record = read_record(folder)
    sessions = record.get("sessions") or [{}]
    test = json.loads(folder.metrics.read_text()) if folder.metrics.is_file() else {}
    fit = sessions[-1].get("metrics") or {}
    row = {
        "experiment": folder.name,
        "task": (params.get("task") or {}).get("name"),
        "model": params.get("model", {}).get("name"),
        "data": params.get("data", {}).get("name"),
        "choices": choice_words(params),
        "epochs": params.get("trainer", {}).get("max_epochs"),
        "status": sessions[-1].get("status", "?"),
    }
    for title, key in score_columns(params):
        row[title] = (fit if key.startswith("val/") else test).get(key)
    parameters = sessions[-1].get("parameters")
    row["params M"] = round(parameters / 1e6, 2) if parameters else None
    row["train s"] = round(record["wall_time_s"], 1) if "wall_time_s" in record else None
    row["test s/img"] = test.get("seconds_per_image")
    return row


def configuration(folder: ExperimentFolder) -> str:
    """The experiment's resolved configuration without its name, its folders or REPEAT_KEYS: equal
    for runs of one configuration (as a canonical JSON string)."""
    params = read_params(folder)
    anonymous = ExperimentFolder(folder.root, "any").moved_params(params, folder.name)
    flat = {k: v for k, v in flatten(anonymous).items() if k not in REPEAT_KEYS}
    return json.dumps(flat, sort_keys=True, default=str)


def groups(found: list[ExperimentFolder]) -> list[list[ExperimentFolder]]:
    """The experiments in groups of one configuration, in the order of their first member."""
    grouped: dict[str, list[ExperimentFolder]] = {}
    for folder in found:
        grouped.setdefault(configuration(folder), []).append(folder)
    return list(grouped.values())


def scores(rows: list[dict[str, Any]], title: str) -> list[float]:
    """The score `title` (a column of the task's scores) of each summary row that has it."""
    return [row[title] for row in rows if row.get(title) is not None]


def spread(values: list[float]) -> str | None:
    """`mean +- std` of the values (sample standard deviation), the value alone for one."""
    if not values:
        return None
    if len(values) == 1:
        return f"{values[0]:.4f}"
    return f"{statistics.mean(values):.4f} +- {statistics.stdev(values):.4f}"


def group_row(members: list[ExperimentFolder]) -> dict[str, Any]:
    """One row per configuration: its experiments' common name, n, and each score's spread."""
    summaries = [summary(m) for m in members]
    row = {
        "experiments": group_label(members),
        "n": len(members),
        **{key: summaries[0][key] for key in ("task", "model", "data", "choices", "epochs")},
    }
    for title, _ in score_columns(read_params(members[0])):
        row[title] = spread(scores(summaries, title))
    return row


def group_label(members: list[ExperimentFolder]) -> str:
    """A configuration's name in a table: its experiment's, or their common prefix and count."""
    names = [m.name for m in members]
    return names[0] if len(names) == 1 else f"{os.path.commonprefix(names)}* ({len(names)})"


def tested_on(folder: ExperimentFolder) -> dict[str, dict[str, Any]]:
    """{dataset: test scores} of each dataset the experiment was scored on, its own first."""
    params = read_params(folder)
    found = {}
    if folder.metrics.is_file():
        found[params.get("data", {}).get("name")] = json.loads(folder.metrics.read_text())
    for dataset, path in folder.tested_elsewhere().items():
        found[dataset] = json.loads(path.read_text())
    return found


def matrix(found: list[ExperimentFolder]) -> list[dict[str, Any]]:
    """Trained-on x tested-on: one row per configuration scored on another dataset, one column
    per dataset and test score of the task, each as mean +- std over the configuration's runs."""
    shown = []
    for members in groups(found):
        tested = [tested_on(m) for m in members]
        if any(len(t) > 1 or m.tested_elsewhere() for t, m in zip(tested, members, strict=True)):
            shown.append((members, tested))
    datasets = list(dict.fromkeys(d for _, tested in shown for t in tested for d in t))
    rows = []
    for members, tested in shown:
        params = read_params(members[0])
        row = {
            "experiments": group_label(members),
            "n": len(members),
            "trained on": params.get("data", {}).get("name"),
        }
        for dataset in datasets:
            for title, key in test_columns(params):
                values = [t[dataset].get(key) for t in tested if dataset in t]
                values = [value for value in values if value is not None]
                row[f"{dataset}: {title.removeprefix('test ')}"] = spread(values)
        rows.append(row)
    return rows


def welch(a: list[float], b: list[float]) -> tuple[float | None, str]:
    """Welch's t-test of two sets of scores: (p, verdict in words)."""
    if len(a) < 2 or len(b) < 2:
        return None, "no verdict: needs 2+ runs of each (e.g. -m seed=1,2,3)"
    if statistics.stdev(a) == statistics.stdev(b) == 0:  # no spread at all: the means decide
        same = statistics.mean(a) == statistics.mean(b)
        return (1.0, "equal") if same else (0.0, f"larger than the spread (p < {ALPHA})")
    from scipy.stats import ttest_ind

    p = float(ttest_ind(a, b, equal_var=False).pvalue)
    return p, f"larger than the spread (p < {ALPHA})" if p < ALPHA else "within the spread"


def compare_groups(a: list[ExperimentFolder], b: list[ExperimentFolder]) -> str:
    """Each score of two configurations over their runs, and whether they differ beyond noise."""
    summaries = [summary(m) for m in a], [summary(m) for m in b]
    rows = []
    for title, _ in score_columns(read_params(a[0])):
        values = scores(summaries[0], title), scores(summaries[1], title)
        if not all(values):
            continue
        p, verdict = welch(*values)
        rows.append(
            {
                "score": title,
                f"{a[0].name} (n={len(values[0])})": spread(values[0]),
                f"{b[0].name} (n={len(values[1])})": spread(values[1]),
                "difference": statistics.mean(values[1]) - statistics.mean(values[0]),
                "Welch p": p,
                "verdict": verdict,
            }
        )
    return format_table(rows)


def format_table(rows: list[dict[str, Any]]) -> str:
    """Rows as an aligned plain-text table, one column per key of any row ("-" where a row has
    none, as experiments of another task); floats to 4 decimals."""
    if not rows:
        return ""

    def cell(value: Any) -> str:
        if value is None:
            return "-"
        return f"{value:.4f}" if isinstance(value, float) else str(value)

    header = list(dict.fromkeys(key for row in rows for key in row))
    cells = [[cell(row.get(key)) for key in header] for row in rows]
    widths = [max(len(h), *(len(c[i]) for c in cells)) for i, h in enumerate(header)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True))]
    lines += ["  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)) for line in cells]
    return "\n".join(lines)


def compare(exp_a: ExperimentFolder, exp_b: ExperimentFolder) -> str:
    """The parameters that differ between two experiments, then both rows of metrics.

    Folder paths are compared as if both runs had the same name: every run has its own.
    """
    params = [read_params(e) for e in (exp_a, exp_b)]
    flat = [
        flatten(exp_a.moved_params(p, e.name)) for p, e in zip(params, (exp_a, exp_b), strict=True)
    ]
    rows = [
        {"parameter": key, exp_a.name: flat[0].get(key), exp_b.name: flat[1].get(key)}
        for key in sorted(set(flat[0]) | set(flat[1]))
        if flat[0].get(key) != flat[1].get(key)
    ]
    differences = format_table(rows) if rows else "(no parameter differs)"
    text = differences + "\n\n" + format_table([summary(exp_a), summary(exp_b)])
    group_of = {m.name: group for group in groups(experiments(exp_a.root)) for m in group}
    group_a, group_b = group_of[exp_a.name], group_of[exp_b.name]
    if group_a is group_b:
        return text + f"\n\nBoth are runs of one configuration ({len(group_a)} runs)."
    if len(group_a) > 1 or len(group_b) > 1:
        heading = "Their configurations over every run (differing only in " + (
            ", ".join(REPEAT_KEYS) + "):"
        )
        text += "\n\n" + heading + "\n" + compare_groups(group_a, group_b)
    return text


def listing(root: Path) -> str:
    """Every experiment, then one row per configuration run more than once."""
    found = experiments(root)
    if not found:
        return f"No experiment in {root}/."
    text = format_table([summary(e) for e in found])
    repeated = [group_row(g) for g in groups(found) if len(g) > 1]
    if repeated:
        keys = " or ".join(REPEAT_KEYS)
        text += f"\n\nRepeated configurations (differing only in {keys}), mean +- std:\n"
        text += format_table(repeated)
    crossed = matrix(found)
    if crossed:
        heading = "Trained on one dataset, tested on others (test.py data=<other>), mean +- std:"
        text += f"\n\n{heading}\n"
        text += format_table(crossed)
    return text


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
        print(listing(args.root))


if __name__ == "__main__":
    main()

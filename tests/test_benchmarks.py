"""The benchmarks run and print complete tables (`--quick`); speed itself is not asserted here.

Timings depend on the machine and its load, so the targets live in the benchmarks' own output.
What is asserted: every expected row is there with positive numbers, and the command-line paths
import neither torch nor lightning.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.common import parse_tables, print_table, step_times
from tests.conftest import REPO, script_env


def run_benchmark(name: str, *args: str) -> dict[str, list[dict[str, str]]]:
    """Run `python -m benchmarks.<name> --quick <args>` from the repository; return its tables."""
    result = subprocess.run(
        [sys.executable, "-m", f"benchmarks.{name}", "--quick", *args],
        cwd=REPO,
        env=script_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return parse_tables(result.stdout)


def table(tables: dict[str, list[dict[str, str]]], title_start: str) -> list[dict[str, str]]:
    """The rows of the one table whose title starts with `title_start`."""
    (rows,) = [rows for title, rows in tables.items() if title.startswith(title_start)]
    return rows


def positive(cell: str) -> bool:
    """A table cell holds a number above zero."""
    return float(cell) > 0


def test_tables_read_back_as_printed(capsys: pytest.CaptureFixture[str]) -> None:
    print_table("Demo: ms per step", ["name", "ms"], [["a", "1.5"], ["b", "n/a"]], notes=["x"])
    tables = parse_tables(capsys.readouterr().out)
    assert tables == {"Demo: ms per step": [{"name": "a", "ms": "1.5"}, {"name": "b", "ms": "n/a"}]}


def test_step_times_are_start_to_start_intervals_after_warmup() -> None:
    assert step_times([0.0, 5.0, 6.0, 8.0], warmup=1) == [1.0, 2.0]


@pytest.mark.slow
def test_overhead(dataset: Path) -> None:
    rows = table(run_benchmark("overhead", "--data-root", str(dataset)), "Framework overhead")
    assert [row["model"] for row in rows] == ["unet", "pix2pix"]
    for row in rows:
        assert positive(row["hand-written loop"]) and positive(row["template (Lightning)"])
        assert positive(row["ratio"])
        assert row["met"] in ("yes", "NO")


@pytest.mark.slow
def test_data_path(dataset: Path) -> None:
    tables = run_benchmark("data_path", "--data-root", str(dataset))
    rates = {row["path"]: row for row in table(tables, "Data path: samples per second")}
    assert len(rates) == 5
    assert any(path.startswith("loader, augment=true, first epoch") for path in rates)
    assert any(path.startswith("training step: pix2pix") for path in rates)
    assert all(
        positive(row["samples/s"]) and positive(row["ms per batch"]) for row in rates.values()
    )
    targets = table(tables, "Data path target")
    assert [row["model"] for row in targets] == ["unet", "pix2pix"]
    assert all(positive(row["loader / step"]) for row in targets)
    (decoding,) = table(tables, "Decoding")
    assert decoding["images"] == "6"  # the fixture's 4 training + 2 validation images
    assert positive(decoding["seconds"])


@pytest.mark.slow
def test_cli_paths_do_not_import_torch() -> None:
    rows = table(run_benchmark("cli"), "Command line")
    assert [row["command"] for row in rows] == [
        "train.py --help",
        "train.py --cfg job",
        "test.py --help",
    ]
    for row in rows:
        assert positive(row["seconds"])
        assert row["torch imported"] == "no", row
        assert row["lightning imported"] == "no", row


@pytest.mark.slow
def test_time_to_result() -> None:
    rows = {row["stage"]: row for row in table(run_benchmark("time_to_result"), "Time to result")}
    assert list(rows) == [
        "data preparation",
        "fit",
        "fit: inside trainer.fit",
        "fit: start-up and set-up",
        "test",
        "total",
    ]
    seconds = {stage: float(row["seconds"]) for stage, row in rows.items()}
    assert all(value > 0 for value in seconds.values())
    parts = seconds["data preparation"] + seconds["fit"] + seconds["test"]
    assert seconds["total"] == pytest.approx(parts, abs=0.2)  # cells are rounded to 0.1 s
    assert seconds["fit: inside trainer.fit"] < seconds["fit"]


@pytest.mark.slow
def test_switches(dataset: Path) -> None:
    rows = table(run_benchmark("switches", "--data-root", str(dataset)), "Speed switches")
    by_name = {row["switch"]: row for row in rows}
    assert len(rows) == 10
    for name, row in by_name.items():
        if "compile" in name:  # --quick skips torch.compile: its first compilation takes ~30 s
            assert row["ms/step"] == "skipped"
        else:
            assert positive(row["ms/step"]) and positive(row["speed-up vs plain"])
    assert by_name["plain (eager, fp32, contiguous, workers=0)"]["speed-up vs plain"] == "1.00"
    assert {"channels-last + bf16", "DataLoader workers=2, persistent"} <= set(by_name)


@pytest.mark.slow
def test_pix2pix_curves(dataset: Path, tmp_path: Path) -> None:
    svg = tmp_path / "curves.svg"
    args = ("--data-root", str(dataset), "--svg", str(svg))
    rows = table(run_benchmark("pix2pix_curves", *args), "pix2pix at equal steps")
    assert [row["run"].split(":")[0] for row in rows] == [
        "template",
        "hand-written loop, same recipe",
    ]
    for row in rows:
        assert len(row["validation F1 per epoch"].split()) == 2  # --quick: 2 epochs
        assert 0 <= float(row["test F1"]) <= 1 and 0 <= float(row["test AUC-ROC"]) <= 1
    assert svg.read_text().count("<polyline") == 4  # F1 and AUC, both runs


@pytest.mark.slow
def test_predict() -> None:
    rows = table(run_benchmark("predict"), "Prediction speed")
    assert [row["photograph"].split(",")[0] for row in rows] == ["DRIVE size", "large"]
    assert all(positive(row["photographs/s"]) and positive(row["process peak MB"]) for row in rows)

"""Draw the training curves of a run's CSV log as one self-contained SVG, viewable offline.

    python -m bookkeeping.curves <exp>/log/csv/metrics.csv <exp>/log/curves.svg

`dvc plots show` renders interactive charts with Vega, which its page loads from a CDN; this image
needs nothing but a browser or an image viewer, so the pipeline registers it as a plot too.
"""

from __future__ import annotations

import argparse
import csv
import math
from html import escape
from pathlib import Path

from utils.base import UserError, exit_cleanly_on

# (title, x column, prefix of the y columns): one panel each, of every column of the log the prefix
# starts, whatever the task logs.
PANELS = (
    ("training per step", "step", "train/"),
    ("validation per epoch", "epoch", "val/"),
)
COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2")
WIDTH, HEIGHT, MARGIN = 480, 260, 48


def read_series(path: Path) -> dict[str, list[tuple[float, float]]]:
    """Return {"x|y": [(x, y), ...]} for every panel's columns, from a Lightning CSVLogger file."""
    with open(path, newline="") as file:
        rows = list(csv.DictReader(file))
    columns = list(rows[0]) if rows else []
    series: dict[str, list[tuple[float, float]]] = {}
    for _, x, prefix in PANELS:
        for y in (column for column in columns if column.startswith(prefix)):
            points = [
                (float(row[x]), float(row[y]))
                for row in rows
                if row.get(x) not in (None, "") and row.get(y) not in (None, "")
            ]
            if points:
                series[f"{x}|{y}"] = points
    return series


def _panel(title: str, lines: dict[str, list[tuple[float, float]]], top: int) -> list[str]:
    """SVG elements of one chart: frame, axis ranges, one polyline and legend entry per series."""
    xs = [x for points in lines.values() for x, _ in points]
    ys = [y for points in lines.values() for _, y in points]
    x0, x1 = min(xs), max(xs) if max(xs) > min(xs) else min(xs) + 1
    y0, y1 = min(ys), max(ys) if max(ys) > min(ys) else min(ys) + 1
    inner_w, inner_h = WIDTH - 2 * MARGIN, HEIGHT - 2 * MARGIN

    def at(x: float, y: float) -> str:
        left = MARGIN + (x - x0) / (x1 - x0) * inner_w
        down = top + HEIGHT - MARGIN - (y - y0) / (y1 - y0) * inner_h
        return f"{left:.1f},{down:.1f}"

    parts = [
        f'<text x="{MARGIN}" y="{top + 20}" font-weight="bold">{escape(title)}</text>',
        f'<rect x="{MARGIN}" y="{top + MARGIN}" width="{inner_w}" height="{inner_h}" '
        'fill="none" stroke="#999"/>',
        f'<text x="4" y="{top + MARGIN + 4}">{y1:.3g}</text>',
        f'<text x="4" y="{top + HEIGHT - MARGIN}">{y0:.3g}</text>',
        f'<text x="{MARGIN}" y="{top + HEIGHT - MARGIN + 16}">{x0:.0f}</text>',
        f'<text x="{WIDTH - MARGIN}" y="{top + HEIGHT - MARGIN + 16}" text-anchor="end">'
        f"{x1:.0f}</text>",
    ]
    for index, (name, points) in enumerate(lines.items()):
        colour = COLOURS[index % len(COLOURS)]
        coordinates = " ".join(at(x, y) for x, y in points if math.isfinite(y))
        last_x, last_y = at(*points[-1]).split(",")
        parts.append(
            f'<polyline points="{coordinates}" fill="none" stroke="{colour}" stroke-width="1.5"/>'
            f'<circle cx="{last_x}" cy="{last_y}" r="2.5" fill="{colour}"/>'
        )
        parts.append(
            f'<text x="{WIDTH - MARGIN}" y="{top + 20 + 14 * index}" text-anchor="end" '
            f'fill="{colour}">{escape(name)} (last {points[-1][1]:.4g})</text>'
        )
    return parts


def write_svg(series: dict[str, list[tuple[float, float]]], path: Path) -> int:
    """Write one panel per PANELS entry that has data; return the number of panels drawn."""
    panels = []
    for title, x, prefix in PANELS:
        lines = {
            key.split("|", 1)[1]: points
            for key, points in series.items()
            if key.startswith(f"{x}|{prefix}")
        }
        if lines:
            panels.append((title, lines))
    return write_panels(panels, path)


def write_panels(panels: list[tuple[str, dict[str, list[tuple[float, float]]]]], path: Path) -> int:
    """Write charts, one under the other, in one SVG: each is (title, {line: [(x, y), ...]}).
    Return how many were drawn."""
    body, top = [], 0
    for title, lines in panels:
        body += _panel(title, lines, top)
        top += HEIGHT
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{max(top, 1)}" '
        f'font-family="sans-serif" font-size="11">\n' + "\n".join(body) + "\n</svg>\n"
    )
    return top // HEIGHT


@exit_cleanly_on(UserError)
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("metrics", type=Path, help="a CSVLogger metrics.csv")
    parser.add_argument("output", type=Path, help="the SVG to write")
    args = parser.parse_args()
    if not args.metrics.is_file():
        raise UserError(
            f"{args.metrics} does not exist; train with logger=csv or logger=many for it"
        )
    panels = write_svg(read_series(args.metrics), args.output)
    print(f"Wrote {args.output} ({panels} chart(s)).")


if __name__ == "__main__":
    main()

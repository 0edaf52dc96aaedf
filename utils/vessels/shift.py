"""How far new photographs are from the training data: flags, a summary, and one picture.

Each statistic of data/photographs.py (plus the predicted vessel fraction) is compared with its
range over the training split: a photograph beyond [min, max] of the training images, by more
than MARGIN of that range's width, gets a flag that says so in words ("darker than any training
image"). The margin keeps a few dozen training images from flagging their own test split.
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageDraw

# statistic: (word when below the training range, word when above it)
WORDS = {
    "brightness": ("darker", "brighter"),
    "contrast": ("lower in contrast", "higher in contrast"),
    "sharpness": ("blurrier", "sharper"),
    "red": ("less red", "redder"),
    "blue": ("less blue", "bluer"),
    "fov_diameter": ("smaller in field of view", "larger in field of view"),
    "fov_coverage": ("less filled by the field of view", "more filled by the field of view"),
    "vessel_fraction": ("poorer in predicted vessels", "richer in predicted vessels"),
}
NO_FOV = "no field of view found (a blank or black photograph?)"
MARGIN = 0.25


def shift_flags(stats: dict[str, float], reference: dict[str, dict[str, float]]) -> list[str]:
    """The ways one photograph lies outside the training range, as phrases."""
    if stats.get("fov_diameter", 0.0) == 0.0:
        return [NO_FOV]
    flags = []
    for name, (low, high) in WORDS.items():
        if name not in stats or name not in reference:
            continue
        low_end, high_end = reference[name]["min"], reference[name]["max"]
        margin = MARGIN * (high_end - low_end)
        if stats[name] < low_end - margin:
            flags.append(f"{low} than any training image")
        elif stats[name] > high_end + margin:
            flags.append(f"{high} than any training image")
    return flags


def shift_summary(flags: list[list[str]]) -> str:
    """One paragraph: how many of the photographs carry each flag."""
    total = len(flags)
    counts: dict[str, int] = {}
    for image_flags in flags:
        for flag in image_flags:
            counts[flag] = counts.get(flag, 0) + 1
    if not counts:
        return f"All {total} photographs lie within the training range of every statistic."
    parts = [
        f"{n} of {total} {'is' if n == 1 else 'are'} {flag}"
        for flag, n in sorted(counts.items(), key=lambda item: -item[1])
    ]
    inside = sum(1 for image_flags in flags if not image_flags)
    return (
        "Compared with the training images: "
        + "; ".join(parts)
        + f". {inside} of {total} lie within the training range of every statistic."
    )


def draw_shift(
    rows: list[dict[str, float]], reference: dict[str, dict[str, float]], path: Path
) -> None:
    """A PNG with one strip per statistic: the training range as a grey bar (its median as a
    tick) and each photograph as a dot, red when it is flagged."""
    names = [name for name in WORDS if name in reference and all(name in r for r in rows)]
    width, row_height, left, right = 720, 44, 150, 20
    image = Image.new("RGB", (width, row_height * len(names) + 20), "white")
    pen = ImageDraw.Draw(image)
    for index, name in enumerate(names):
        y = 20 + index * row_height + row_height // 2
        low, high = reference[name]["min"], reference[name]["max"]
        values = [row[name] for row in rows]
        lo, hi = min(low, *values), max(high, *values)
        span = (hi - lo) or 1.0

        def x(value: float, lo: float = lo, span: float = span) -> float:
            return left + (width - left - right) * (value - lo) / span

        pen.text((8, y - 6), name, fill="black")
        pen.rectangle((x(low), y - 6, x(high), y + 6), fill=(200, 200, 200))
        median = x(reference[name]["median"])
        pen.line((median, y - 9, median, y + 9), fill=(90, 90, 90), width=2)
        margin = MARGIN * (high - low)
        for value in values:
            colour = (40, 90, 200) if low - margin <= value <= high + margin else (220, 40, 40)
            pen.ellipse((x(value) - 3, y - 3, x(value) + 3, y + 3), fill=colour)
    legend = "grey: training range (tick: median); dots: photographs, red where flagged"
    pen.text((8, 4), legend, fill="black")
    image.save(path)

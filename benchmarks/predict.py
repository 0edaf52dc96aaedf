"""Prediction speed: photographs per second at DRIVE's size, and one large photograph in tiles.

    python -m benchmarks.predict            # 10 DRIVE-size photographs, one of 3,500 x 2,300

The model is the default U-Net of conf/ (untrained: speed does not depend on the weights),
run through utils.vessels.inference.predict_photograph as predict.py runs it: normalisation,
tiles of 1,024 px with 32 px overlap, the map resized back. The large photograph is predicted at
scale 1, the worst case (a real one of the same eye would be shrunk to the training FOV first),
to show that memory is bounded by the tile. Peak memory is the process's resident peak (ru_maxrss).
"""

from __future__ import annotations

import resource
import time

import numpy as np

from benchmarks.common import compose, fmt, machine_note, parser, print_table, set_threads

DRIVE_SIZE = (584, 565)  # height, width
LARGE_SIZE = (2300, 3500)


def peak_mb() -> float:
    """The resident peak of this process so far, in MB (Linux reports kB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def photograph(size: tuple[int, int], rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """A random photograph with a round field of view."""
    height, width = size
    rows, cols = np.ogrid[:height, :width]
    fov = (rows - height / 2) ** 2 + (cols - width / 2) ** 2 <= (0.48 * min(size)) ** 2
    image = rng.integers(0, 256, (height, width, 3), dtype=np.uint8) * fov[..., None]
    return image.astype(np.uint8), fov


def main() -> None:
    args = parser(__doc__.split("\n\n")[0]).parse_args()
    set_threads(args.threads)
    import torch
    from hydra.utils import instantiate

    from utils.vessels.inference import predict_photograph

    model = instantiate(compose().model).eval()
    rng = np.random.default_rng(0)
    count = 2 if args.quick else 10
    large_size = (700, 1000) if args.quick else LARGE_SIZE
    with torch.inference_mode():
        image, fov = photograph(DRIVE_SIZE, rng)
        predict_photograph(model, image, fov, 1.0)  # warm-up
        start = time.perf_counter()
        for _ in range(count):
            predict_photograph(model, image, fov, 1.0)
        drive_seconds = (time.perf_counter() - start) / count
        drive_peak = peak_mb()
        image, fov = photograph(large_size, rng)
        start = time.perf_counter()
        probs = predict_photograph(model, image, fov, 1.0)
        large_seconds = time.perf_counter() - start
    assert probs.shape == large_size
    height, width = large_size
    rows = [
        [
            f"DRIVE size, {DRIVE_SIZE[1]} x {DRIVE_SIZE[0]}",
            fmt(1 / drive_seconds),
            fmt(drive_seconds),
            fmt(drive_peak, 0),
        ],
        [
            f"large, {width} x {height}, scale 1, tiles of 1024",
            fmt(1 / large_seconds, 3),
            fmt(large_seconds),
            fmt(peak_mb(), 0),
        ],
    ]
    print_table(
        "Prediction speed",
        ["photograph", "photographs/s", "seconds each", "process peak MB"],
        rows,
        notes=[machine_note(args.threads)],
    )


if __name__ == "__main__":
    main()

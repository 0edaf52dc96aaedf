"""Data path: samples per second the DataModule delivers against what a training step consumes.

    python -m benchmarks.data_path           # 3 epochs of the template's 1600 patches, 20 steps

The loader is the template's VesselDataModule composed from conf/ with data.augment=true and its
default worker settings; it must deliver at least 3x what the U-Net and pix2pix training steps
consume, or the model waits for data. Images are decoded once and cached in memory, so the first
epoch pays for decoding and later epochs only cut and augment patches: both are reported. The
same loader with the worker processes that `data.num_workers=auto` starts beside a GPU
(min(CPUs, 8), persistent) is measured too: on a CPU training, `auto` starts none.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from benchmarks.common import (
    add_data_root,
    compose,
    ensure_data,
    fmt,
    machine_note,
    mean,
    median,
    parser,
    print_table,
    set_threads,
    step_times,
    verdict,
)

TARGET = 3.0  # the loader alone must be at least 3x faster than the step


def epoch_seconds(loader: Any) -> tuple[float, int]:
    """Wall time of one pass over a DataLoader and the number of samples it delivered."""
    samples = 0
    start = time.perf_counter()
    for batch in loader:
        samples += len(batch["image"])
    return time.perf_counter() - start, samples


def loader_rates(
    data_root: Path, augment: bool, samples: int, epochs: int, workers: int | str = "auto"
) -> dict[str, Any]:
    """Decoding time, first-epoch and cached-epoch rates (samples/s) of a fresh DataModule.

    The first epoch includes setup("fit"), which decodes the train and validate images, as a
    training run's first epoch does, and the start of any worker processes. One loader serves
    every epoch, as in a training run, so persistent workers are started once.
    """
    import torch
    from hydra.utils import instantiate

    cfg = compose([f"data.root={data_root}", f"data.augment={str(augment).lower()}"])
    cfg.data.samples_per_epoch = samples
    cfg.data.num_workers = workers
    torch.manual_seed(0)
    datamodule = instantiate(cfg.data)
    start = time.perf_counter()
    datamodule.setup("fit")
    decode = time.perf_counter() - start
    loader = datamodule.train_dataloader()
    first, delivered = epoch_seconds(loader)
    cached = [epoch_seconds(loader)[0] for _ in range(epochs - 1)]
    images = len(datamodule.cache("train")) + len(datamodule.cache("validate"))
    return {
        "decode_s": decode,
        "images": images,
        "first": delivered / (decode + first),
        "cached": delivered / median(cached),
        "batch_size": cfg.data.batch_size,
        "workers": loader.num_workers,
    }


def step_rate(model: str, data_root: Path, steps: int, warmup: int) -> float:
    """Samples per second the hand-written training step of `model` consumes (no data loading)."""
    from benchmarks.overhead import draw_batches, hand_pix2pix, hand_unet

    batches = draw_batches(data_root, warmup + steps + 1)
    loop = {"unet": hand_unet, "pix2pix": hand_pix2pix}[model]
    seconds = mean(step_times(loop(compose([f"model={model}"]), batches), warmup))
    return len(batches[0]["image"]) / seconds


def main() -> None:
    parser_ = parser(__doc__.split("\n\n")[0])
    add_data_root(parser_)
    parser_.add_argument("--samples", type=int, default=1600, help="patches per loader epoch")
    parser_.add_argument("--epochs", type=int, default=4, help="loader epochs (first + cached)")
    parser_.add_argument("--steps", type=int, default=20, help="timed training steps per model")
    args = parser_.parse_args()
    warmup = 2
    if args.quick:
        args.samples, args.epochs, args.steps, warmup = 64, 2, 2, 1

    from data.data import loader_workers

    set_threads(args.threads)
    data_root = ensure_data(args.data_root)
    augmented = loader_rates(data_root, True, args.samples, args.epochs)
    plain = loader_rates(data_root, False, args.samples, args.epochs)
    beside_gpu = loader_workers("auto", on_gpu=True)
    workers = loader_rates(data_root, True, args.samples, args.epochs, beside_gpu)
    steps = {
        model: step_rate(model, data_root, args.steps, warmup) for model in ("unet", "pix2pix")
    }

    batch = augmented["batch_size"]
    rows = [
        ["loader, augment=true, first epoch (decoding included)", augmented["first"]],
        ["loader, augment=true, later epochs (images cached)", augmented["cached"]],
        ["loader, augment=false, later epochs (images cached)", plain["cached"]],
        [
            f"loader, augment=true, later epochs, {beside_gpu} persistent workers "
            "(what num_workers=auto starts beside a GPU)",
            workers["cached"],
        ],
        *[
            [f"training step: {model} (forward, loss, backward, step)", steps[model]]
            for model in steps
        ],
    ]
    print_table(
        f"Data path: samples per second, batch {batch}, "
        f"num_workers={augmented['workers']} (what the default, auto, starts on a CPU) unless "
        f"said, {args.samples} patches per epoch",
        ["path", "samples/s", "ms per batch"],
        [[name, fmt(rate, 0), fmt(1000 * batch / rate, 2)] for name, rate in rows],
        notes=[machine_note(args.threads)],
    )
    print_table(
        "Data path target: cached augmented loader against each training step",
        ["model", "loader / step", "target", "met"],
        [
            [
                model,
                fmt(augmented["cached"] / rate, 1),
                f">= {TARGET:g}",
                verdict(augmented["cached"] / rate >= TARGET),
            ]
            for model, rate in steps.items()
        ],
    )
    print_table(
        "Decoding: paid once, in the first epoch (setup decodes train and validate images)",
        ["images", "seconds", "ms per image"],
        [
            [
                augmented["images"],
                fmt(augmented["decode_s"], 2),
                fmt(1000 * augmented["decode_s"] / augmented["images"], 1),
            ]
        ],
    )


if __name__ == "__main__":
    main()

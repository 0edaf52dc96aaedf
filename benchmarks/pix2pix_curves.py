"""pix2pix at equal steps: the template's `model=pix2pix` against a plain hand-written loop.

    python -m benchmarks.pix2pix_curves            # 10 epochs of 100 steps each, as `make train`
    python -m benchmarks.pix2pix_curves --quick    # 2 epochs of 2 steps: checks that it runs

The hand-written loop is the recipe pix2pix was checked against on the real DRIVE images, written
out with nothing of the template but its networks and data: the baseline's U-Net as generator
(sigmoid output), a 3-layer PatchGAN with 32 filters fed (image, map) pairs, vanilla GAN loss +
L1 x 100, Adam 2e-4 with betas (0.5, 0.999) for both, the learning rate constant for the first
half and then decaying linearly to zero, input standardised with the training split's FOV mean
and standard deviation, 64 x 64 patches in batches of 16, no augmentation. The template runs as
a user runs it (`python train.py model=pix2pix`, a separate process, CSV log). Both are scored
on the validation images after every epoch and on the test images at the end, inside the FOV at
threshold 0.5. `--svg` draws both validation curves.
"""

from __future__ import annotations

import csv
import json
import sys
import tempfile
from pathlib import Path

from benchmarks.common import (
    REPO,
    add_data_root,
    compose,
    ensure_data,
    fmt,
    machine_note,
    parser,
    print_table,
    run_timed,
    set_threads,
)

EXP_NAME = "pix2pix_curves"


def scores(generator, images) -> dict[str, float]:  # noqa: ANN001 (torch objects)
    """F1 and AUC-ROC pooled over whole images inside their FOV, at threshold 0.5."""
    import torch
    from torchmetrics.functional.classification import binary_auroc

    generator.eval()
    probs, labels = [], []
    with torch.no_grad():
        for item in images:
            image = item["image"][None]
            height, width = image.shape[-2:]
            multiple = generator.size_multiple  # the U-Net needs multiples of 2**depth
            pad = (0, -width % multiple, 0, -height % multiple)
            padded = torch.nn.functional.pad(image, pad, mode="reflect")
            prob = torch.sigmoid(generator(padded))[0, 0, :height, :width]
            inside = item["fov"][0]
            probs.append(prob[inside])
            labels.append(item["label"][0][inside].long())
    generator.train()
    prob, label = torch.cat(probs), torch.cat(labels)
    found = prob >= 0.5
    true_positives = (found & (label == 1)).sum().item()
    f1 = 2 * true_positives / max(found.sum().item() + label.sum().item(), 1)
    return {"f1": f1, "auroc": float(binary_auroc(prob, label))}


def hand_written(data_root: Path, epochs: int, steps: int, seed: int) -> dict:
    """Train the recipe above in a plain loop; validation scores per epoch and test scores."""
    import torch
    from torch import nn

    from data.data import VesselDataModule
    from src.pix2pix.discriminator import PatchDiscriminator
    from src.unet import UNet

    torch.manual_seed(seed)
    data = VesselDataModule(
        str(data_root), samples_per_epoch=steps * 16, batch_size=16, normalize="dataset"
    )
    data.setup("fit")
    generator = UNet(in_channels=3, out_channels=1, base_channels=16, depth=4)
    discriminator = PatchDiscriminator(image_channels=3, map_channels=1, base_channels=32)
    optimizers = [
        torch.optim.Adam(net.parameters(), lr=2e-4, betas=(0.5, 0.999))
        for net in (generator, discriminator)
    ]
    total = epochs * steps

    def factor(step: int) -> float:  # constant for the first half, then linear to zero
        return min(1.0, (total - step) / (total / 2))

    schedulers = [torch.optim.lr_scheduler.LambdaLR(o, factor) for o in optimizers]
    bce = nn.BCEWithLogitsLoss()
    validate = [data.cache("validate").item(i) for i in range(len(data.cache("validate")))]
    curve = []
    for epoch in range(epochs):
        for batch in data.train_dataloader():
            image, label = batch["image"], batch["label"]
            generated = torch.sigmoid(generator(image))
            real = discriminator(image, label)
            fake = discriminator(image, generated.detach())
            d_loss = 0.5 * (bce(real, torch.ones_like(real)) + bce(fake, torch.zeros_like(fake)))
            optimizers[1].zero_grad(set_to_none=True)
            d_loss.backward()
            optimizers[1].step()
            judged = discriminator(image, generated)
            g_loss = bce(judged, torch.ones_like(judged)) + 100 * (generated - label).abs().mean()
            optimizers[0].zero_grad(set_to_none=True)
            g_loss.backward()
            optimizers[0].step()
            for scheduler in schedulers:
                scheduler.step()
        curve.append((epoch, scores(generator, validate)))
    data.setup("test")
    test = [data.cache("test").item(i) for i in range(len(data.cache("test")))]
    return {"curve": curve, "test": scores(generator, test)}


def template(data_root: Path, epochs: int, steps: int, seed: int, threads: int) -> dict:
    """`python train.py model=pix2pix` and `python test.py` as processes, in a temporary folder."""
    python = sys.executable
    with tempfile.TemporaryDirectory(prefix="pix2pix_curves_") as tmp:
        shared = [f"exp_name={EXP_NAME}", f"paths.experiment_root={tmp}"]
        train = [
            *shared,
            "model=pix2pix",
            "logger=csv",
            f"data.root={data_root}",
            f"data.samples_per_epoch={steps * 16}",
            f"trainer.max_epochs={epochs}",
            f"seed={seed}",
        ]
        env = {"OMP_NUM_THREADS": str(threads)}
        run_timed([python, str(REPO / "train.py"), *train], REPO, env=env)
        run_timed([python, str(REPO / "test.py"), *shared], REPO, env=env)
        folder = Path(tmp) / EXP_NAME
        with open(folder / "log" / "csv" / "metrics.csv", newline="") as file:
            rows = [row for row in csv.DictReader(file) if row.get("val/f1")]
        curve = [
            (int(row["epoch"]), {"f1": float(row["val/f1"]), "auroc": float(row["val/auroc"])})
            for row in rows
        ]
        metrics = json.loads((folder / "result" / "metrics.json").read_text())
    return {"curve": curve, "test": {"f1": metrics["f1"], "auroc": metrics["auroc"]}}


def largest_drop(curve: list[tuple[int, dict]]) -> float:
    """The largest fall of validation F1 from one epoch to the next after the first third."""
    f1 = [point["f1"] for _, point in curve]
    later = f1[len(f1) // 3 :]
    return max([0.0] + [a - b for a, b in zip(later, later[1:], strict=False)])


def main() -> None:
    parser_ = parser(__doc__.split("\n\n")[0])
    add_data_root(parser_)
    parser_.add_argument("--epochs", type=int, default=10)
    parser_.add_argument("--steps-per-epoch", type=int, default=100)
    parser_.add_argument("--seed", type=int, default=42)
    parser_.add_argument("--svg", type=Path, help="draw both validation F1 curves into this SVG")
    args = parser_.parse_args()
    if args.quick:
        args.epochs, args.steps_per_epoch = 2, 2
    compose()  # fails early, with Hydra's message, if conf/ does not compose
    set_threads(args.threads)
    data_root = ensure_data(args.data_root)
    runs = {
        "template: python train.py model=pix2pix": template(
            data_root, args.epochs, args.steps_per_epoch, args.seed, args.threads
        ),
        "hand-written loop, same recipe": hand_written(
            data_root, args.epochs, args.steps_per_epoch, args.seed
        ),
    }
    rows = [
        [
            name,
            " ".join(fmt(point["f1"], 3) for _, point in run["curve"]),
            fmt(largest_drop(run["curve"]), 3),
            fmt(run["test"]["f1"], 3),
            fmt(run["test"]["auroc"], 3),
        ]
        for name, run in runs.items()
    ]
    print_table(
        f"pix2pix at equal steps: {args.epochs} epochs of {args.steps_per_epoch} steps",
        ["run", "validation F1 per epoch", "largest drop after 1/3", "test F1", "test AUC-ROC"],
        rows,
        notes=[f"Data: {data_root}.", machine_note(args.threads)],
    )
    if args.svg:
        from bookkeeping.curves import write_panels

        panels = [
            (
                f"validation {key} per epoch",
                {
                    name: [(epoch + 1, point[key]) for epoch, point in run["curve"]]
                    for name, run in runs.items()
                },
            )
            for key in ("f1", "auroc")
        ]
        write_panels(panels, args.svg)
        print(f"\nWrote {args.svg}")


if __name__ == "__main__":
    main()

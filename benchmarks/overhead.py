"""Framework overhead: the template's Lightning path against a hand-written PyTorch loop.

    python -m benchmarks.overhead              # U-Net and pix2pix, 5 rounds of 50 steps each
    python -m benchmarks.overhead --explain    # and which template feature costs what

Both paths train the same network, built from conf/ by hydra.utils.instantiate, on the same
pre-drawn batches, in one process, in alternating order (ABBA) so that a change in machine load
hits both. The template path is the real LightningModule (Segmenter / Pix2Pix) with the Trainer,
callbacks, logger and log_every_n_steps of conf/; the hand-written path is forward, loss,
backward, step. A step is timed from the start of one batch to the start of the next, so the
template pays for everything it does between steps (logging, progress bar, last.ckpt every
2 minutes). Validation is switched off: it is not per-step work.
"""

from __future__ import annotations

import contextlib
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

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
    quiet_lightning,
    set_threads,
    step_times,
    verdict,
)

if TYPE_CHECKING:
    import torch
    from omegaconf import DictConfig
    from torch.utils.data import DataLoader

TARGET = 1.05  # the template may take at most 5% longer per step than the hand-written loop
MODELS = ("unet", "pix2pix")
# Template variants for --explain: each removes one per-step cost of the template's Trainer.
EXPLAIN = {
    "template as configured": [],
    "no TensorBoard logger (logger=none)": ["logger=none"],
    "no progress bar": ["~callbacks.progress_bar", "+trainer.enable_progress_bar=false"],
    "no periodic last.ckpt": ["callbacks.last_checkpoint.every_n_minutes=null"],
    "log_every_n_steps=50": ["trainer.log_every_n_steps=50"],
    "no self.log in training_step": [],  # the module's log() replaced by a no-op, see below
}


def draw_batches(data_root: Path, count: int, seed: int = 0) -> list[dict]:
    """`count` training batches from the template's DataModule (its patch size and batch size)."""
    import torch
    from hydra.utils import instantiate

    cfg = compose([f"data.root={data_root}"])
    cfg.data.samples_per_epoch = count * cfg.data.batch_size
    datamodule = instantiate(cfg.data)
    datamodule.setup("fit")
    torch.manual_seed(seed)
    loader = iter(datamodule.train_dataloader())
    return [next(loader) for _ in range(count)]


def batch_loader(batches: list[dict]) -> DataLoader:
    """A DataLoader that replays ready batches: both paths fetch them the same way."""
    from torch.utils.data import DataLoader

    return DataLoader(batches, batch_size=None, shuffle=False)


def set_requires_grad(module: torch.nn.Module, flag: bool) -> None:
    """Freeze or unfreeze a module's weights (what Lightning's toggle_optimizer does)."""
    for parameter in module.parameters():
        parameter.requires_grad_(flag)


def hand_unet(cfg: DictConfig, batches: list[dict]) -> list[float]:
    """Hand-written U-Net training loop; returns the start time of every step."""
    import torch
    from hydra.utils import instantiate

    torch.manual_seed(0)
    net = instantiate(cfg.model.net)
    loss_fn = instantiate(cfg.model.loss)
    optimizer = instantiate(cfg.model.optimizer)(net.parameters())
    net.train()
    stamps = []
    for batch in batch_loader(batches):
        stamps.append(time.perf_counter())
        optimizer.zero_grad(set_to_none=True)
        loss = loss_fn(net(batch["image"]), batch["label"])
        loss.backward()
        optimizer.step()
    return stamps


def hand_pix2pix(cfg: DictConfig, batches: list[dict]) -> list[float]:
    """Hand-written pix2pix loop (discriminator step, then generator step), as Pix2Pix does it."""
    import torch
    from hydra.utils import instantiate

    torch.manual_seed(0)
    spec = cfg.model
    generator = instantiate(spec.generator)
    discriminator = instantiate(spec.discriminator)
    gan_loss = instantiate(spec.gan_loss)
    reconstruction_loss = instantiate(spec.reconstruction_loss)
    generator_opt = instantiate(spec.generator_optimizer)(generator.parameters())
    discriminator_opt = instantiate(spec.discriminator_optimizer)(discriminator.parameters())
    generator.train()
    discriminator.train()
    stamps = []
    for batch in batch_loader(batches):
        stamps.append(time.perf_counter())
        image, label = batch["image"], batch["label"]
        logits = generator(image)
        generated = torch.sigmoid(logits)

        set_requires_grad(discriminator, True)
        real = gan_loss(discriminator(image, label), real=True)
        fake = gan_loss(discriminator(image, generated.detach()), real=False)
        discriminator_loss = 0.5 * (real + fake)
        discriminator_opt.zero_grad(set_to_none=True)
        discriminator_loss.backward()
        discriminator_opt.step()

        # The generator step needs no gradient for the discriminator's weights.
        set_requires_grad(discriminator, False)
        adversarial = gan_loss(discriminator(image, generated), real=True)
        generator_loss = adversarial + spec.reconstruction_weight * reconstruction_loss(
            logits, label
        )
        generator_opt.zero_grad(set_to_none=True)
        generator_loss.backward()
        generator_opt.step()
    return stamps


def step_clock() -> Any:
    """A Lightning callback that records the start time of every training batch in `.stamps`."""
    import lightning as L

    class StepClock(L.Callback):
        def __init__(self) -> None:
            self.stamps: list[float] = []

        def on_train_batch_start(self, *args: object) -> None:
            self.stamps.append(time.perf_counter())

    return StepClock()


def template(
    overrides: list[str], batches: list[dict], silence_log: bool = False
) -> Callable[[], list[float]]:
    """The template path: model, Trainer, callbacks and logger composed from conf/ and
    instantiated as train.py does; returns a function that fits once and gives the step starts."""

    def run() -> list[float]:
        import torch
        from hydra.utils import instantiate

        from bookkeeping.build import build_each

        with tempfile.TemporaryDirectory(prefix="overhead_") as tmp:
            cfg = compose(
                [
                    *overrides,
                    f"paths.experiment_root={tmp}",
                    "exp_name=overhead",
                    "trainer.accelerator=cpu",
                    # The hand-written loops run eager fp32 in contiguous memory: so does this.
                    "trainer.precision=32-true",
                    "model.channels_last=false",
                    "trainer.max_epochs=1",
                    f"trainer.limit_train_batches={len(batches)}",
                    "trainer.limit_val_batches=0",
                    "+trainer.enable_model_summary=false",  # printed once, not per-step work
                ]
            )
            torch.manual_seed(0)
            model = instantiate(cfg.model)
            if silence_log:
                model.log = lambda *args, **kwargs: None
            clock = step_clock()
            trainer = instantiate(
                cfg.trainer,
                logger=build_each(cfg.logger, "logger") or False,
                callbacks=[*build_each(cfg.callbacks, "callbacks"), clock],
            )
            # Lightning's progress bar writes to stdout: keep stdout for the table.
            with contextlib.redirect_stdout(sys.stderr):
                trainer.fit(model, train_dataloaders=batch_loader(batches))
        return clock.stamps

    return run


def window_ms(run: Callable[[], list[float]], warmup: int, steps: int) -> list[float]:
    """Milliseconds of each of `steps` steps after `warmup` steps, in one fresh run."""
    stamps = run()
    return [1000 * t for t in step_times(stamps[: warmup + steps + 1], warmup)]


def compare(
    runs: dict[str, Callable[[], list[float]]], rounds: int, warmup: int, steps: int
) -> dict[str, list[list[float]]]:
    """Time each run `rounds` times, reversing the order every round (ABBA).

    Returns, for each run, the step times (ms) of every round.
    """
    names = list(runs)
    times: dict[str, list[list[float]]] = {name: [] for name in names}
    for index in range(rounds):
        for name in names if index % 2 == 0 else reversed(names):
            times[name].append(window_ms(runs[name], warmup, steps))
    return times


def save_cost_ms(rounds: list[list[float]], every: int | None, warmup: int) -> float | None:
    """Extra milliseconds of the step that writes last.ckpt over a typical step (median of rounds).

    LastCheckpoint saves after batch index `every - 1`; None when no save fell in the window.
    """
    index = (every or 0) - 1 - warmup
    if not every or not 0 <= index < len(rounds[0]):
        return None
    return median([times[index] - median(times) for times in rounds])


def main() -> None:
    parser_ = parser(__doc__.split("\n\n")[0])
    add_data_root(parser_)
    parser_.add_argument("--models", nargs="+", choices=MODELS, default=list(MODELS))
    parser_.add_argument("--rounds", type=int, default=5, help="runs of each path (median)")
    parser_.add_argument("--steps", type=int, default=50, help="timed steps per run")
    parser_.add_argument("--warmup", type=int, default=3, help="untimed steps first")
    parser_.add_argument(
        "--explain", action="store_true", help="also time the template without each feature"
    )
    args = parser_.parse_args()
    if args.quick:
        args.rounds, args.steps, args.warmup = 1, 2, 1

    set_threads(args.threads)
    quiet_lightning()
    data_root = ensure_data(args.data_root)
    # One batch more than timed: the last step ends where the next one starts.
    batches = draw_batches(data_root, args.warmup + args.steps + 1)
    hand = {"unet": hand_unet, "pix2pix": hand_pix2pix}
    rows, explained = [], []
    for model in args.models:
        cfg = compose([f"model={model}"])
        runs = {
            "hand": lambda hand_loop=hand[model], cfg=cfg: hand_loop(cfg, batches),
            "template": template([f"model={model}"], batches),
        }
        times = compare(runs, args.rounds, args.warmup, args.steps)
        hand_ms = [mean(steps) for steps in times["hand"]]
        template_ms = [mean(steps) for steps in times["template"]]
        # Ratio per round first: the two runs of a round saw the same machine load.
        ratio = median([t / h for t, h in zip(template_ms, hand_ms, strict=True)])
        every = cfg.callbacks.last_checkpoint.every_n_train_batches
        save_ms = save_cost_ms(times["template"], every, args.warmup)
        rows.append(
            [
                model,
                fmt(median(hand_ms), 1),
                fmt(median(template_ms), 1),
                fmt(ratio, 3),
                fmt(save_ms, 0),
                "n/a" if save_ms is None else f"{save_ms / every / median(hand_ms):.1%}",
                f"<= {TARGET}",
                verdict(ratio <= TARGET),
            ]
        )
        if args.explain:
            explained += explain(model, batches, median(hand_ms), args)

    print_table(
        f"Framework overhead: ms per training step, median of {args.rounds} round(s) of "
        f"{args.steps} steps, batch {len(batches[0]['image'])}",
        [
            "model",
            "hand-written loop",
            "template (Lightning)",
            "ratio",
            "last.ckpt save ms",
            "save per step",
            "target",
            "met",
        ],
        rows,
        notes=[
            "last.ckpt save ms: extra time of the step that writes model/last.ckpt (every "
            f"{every} batches); save per step: that cost spread over {every} steps, as a share "
            "of a hand-written step. It is included in the template's time.",
            machine_note(args.threads),
        ],
    )
    if explained:
        print_table(
            "Where the template's extra time goes: ms per step without one feature at a time",
            ["model", "template variant", "ms/step", "ratio to hand-written"],
            explained,
            notes=["Differences of a few percent are within the noise of a shared machine."],
        )


def explain(model: str, batches: list[dict], hand_ms: float, args: Any) -> list:
    """Rows of the --explain table: the template without each of its per-step features."""
    rows = []
    for name, overrides in EXPLAIN.items():
        run = template([f"model={model}", *overrides], batches, silence_log="self.log" in name)
        ms = median([mean(window_ms(run, args.warmup, args.steps)) for _ in range(args.rounds)])
        rows.append([model, name, fmt(ms, 1), fmt(ms / hand_ms, 3)])
    return rows


if __name__ == "__main__":
    main()

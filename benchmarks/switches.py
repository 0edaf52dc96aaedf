"""Speed switches: ms per U-Net training step with each switch, against a plain step.

    python -m benchmarks.switches            # 3 rounds of 2 epochs of 12 steps per switch
    python -m benchmarks.switches --quick    # a few steps, torch.compile skipped (it takes ~30 s)

The reference row is a plain step: eager fp32 in contiguous memory, --threads torch threads
(all cores unless OMP_NUM_THREADS says otherwise), patches from the DataModule with
num_workers=0. Each row changes one thing, or combines the
compute switches (conf/ turns on channels-last, and bf16 where the hardware computes it).
A step is timed from the start of one batch to the start of the next, across
epoch boundaries, so DataLoader workers pay for starting each epoch unless they persist.
The first steps of a switch are reported apart: they hold torch.compile's compilation.
The last column says what the timed steps really ran with, read from the run itself: the net
(compiled or eager, the memory format of its weights), the dtype of its output, torch's thread
count and the loader's workers.
"""

from __future__ import annotations

import time
from contextlib import nullcontext
from dataclasses import dataclass
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
)


@dataclass(frozen=True)
class Switch:
    """One configuration of the training step; `how` says how to turn it on in the template."""

    name: str
    how: str
    compile: bool = False
    channels_last: bool = False
    bf16: bool = False
    threads: int | None = None  # None: the --threads of the run
    workers: int = 0
    persistent: bool = False


SWITCHES = [
    Switch(
        "plain (eager, fp32, contiguous, workers=0)",
        "model.channels_last=false trainer.precision=32-true",
    ),
    Switch("torch.compile", "model.compile=true", compile=True),
    Switch("channels-last memory", "model.channels_last=true (default)", channels_last=True),
    Switch("bf16 autocast (CPU)", "trainer.precision=bf16-mixed", bf16=True),
    Switch(
        "channels-last + bf16",
        "the default where bf16 is native (trainer.precision=auto)",
        channels_last=True,
        bf16=True,
    ),
    Switch(
        "compile + channels-last + bf16",
        "model.compile=true on top of the default",
        compile=True,
        channels_last=True,
        bf16=True,
    ),
    Switch("torch.set_num_threads(1)", "OMP_NUM_THREADS=1", threads=1),
    Switch("torch.set_num_threads(2)", "OMP_NUM_THREADS=2", threads=2),
    Switch(
        "DataLoader workers=2, not persistent",
        "not reachable: conf/ persists workers whenever num_workers > 0",
        workers=2,
    ),
    Switch(
        "DataLoader workers=2, persistent",
        "data.num_workers=2",
        workers=2,
        persistent=True,
    ),
]


class Trainee:
    """A U-Net from conf/ with its loss, optimiser and loader, set up for one switch."""

    def __init__(self, switch: Switch, data_root: Path, steps_per_epoch: int) -> None:
        import torch
        from hydra.utils import instantiate
        from torch.utils.data import DataLoader

        cfg = compose([f"data.root={data_root}"])
        cfg.data.samples_per_epoch = steps_per_epoch * cfg.data.batch_size
        torch.manual_seed(0)
        self.switch = switch
        net = instantiate(cfg.model.net)
        if switch.channels_last:
            net = net.to(memory_format=torch.channels_last)
        self.optimizer = instantiate(cfg.model.optimizer)(net.parameters())
        self.net = torch.compile(net) if switch.compile else net
        self.loss = instantiate(cfg.model.loss)
        datamodule = instantiate(cfg.data)
        datamodule.setup("fit")
        patches = datamodule.train_dataloader().dataset
        # Built once: a persistent loader keeps its workers from one epoch to the next.
        self.loader = DataLoader(
            patches,
            batch_size=cfg.data.batch_size,
            num_workers=switch.workers,
            persistent_workers=switch.persistent,
        )
        self.output_dtype = None  # of the net's output in the last step: bf16 under autocast
        self.threads = None  # torch's intra-op threads in the last run

    def step(self, batch: dict) -> None:
        """One training step: forward, loss, backward, optimiser step."""
        import torch

        image, label = batch["image"], batch["label"]
        if self.switch.channels_last:
            image = image.contiguous(memory_format=torch.channels_last)
        autocast = (
            torch.autocast("cpu", dtype=torch.bfloat16) if self.switch.bf16 else nullcontext()
        )
        self.optimizer.zero_grad(set_to_none=True)
        with autocast:
            logits = self.net(image)
            loss = self.loss(logits, label)
        loss.backward()
        self.optimizer.step()
        self.output_dtype = logits.dtype

    def run(self, epochs: int) -> list[float]:
        """Train `epochs` epochs; the start time of every step, and the end time of the last."""
        import torch

        self.threads = torch.get_num_threads()
        stamps = []
        for _ in range(epochs):
            for batch in self.loader:
                stamps.append(time.perf_counter())
                self.step(batch)
        stamps.append(time.perf_counter())
        return stamps

    def in_effect(self) -> str:
        """What the last run really used, e.g. `eager, channels-last, bfloat16, 2 threads, 2
        workers persistent`: read from the net, its output and the loader, not from the switch."""
        import torch

        weights = [p for p in self.net.parameters() if p.dim() == 4]
        if all(p.is_contiguous(memory_format=torch.channels_last) for p in weights):
            memory = "channels-last"
        else:
            memory = "contiguous" if all(p.is_contiguous() for p in weights) else "mixed"
        workers = f"{self.loader.num_workers} workers"
        if self.loader.persistent_workers:
            workers += " persistent"
        return ", ".join(
            [
                "compiled" if hasattr(self.net, "_orig_mod") else "eager",
                memory,
                str(self.output_dtype).removeprefix("torch."),
                f"{self.threads} threads",
                workers,
            ]
        )


def measure(
    switches: list[Switch], args: Any, data_root: Path
) -> tuple[dict[str, list[float]], dict[str, float], dict[str, str]]:
    """ms per step of every switch in each round, seconds of the first warm-up steps, and what
    each switch's steps ran with (`Trainee.in_effect`)."""
    import torch

    trainees = {s.name: Trainee(s, data_root, args.steps_per_epoch) for s in switches}
    # One untimed step first: the process's first step pays one-off set-up costs of torch
    # (thread pool, allocator, kernel selection) that would otherwise land on the default row.
    default = trainees[switches[0].name]
    default.step(next(iter(default.loader)))
    per_round: dict[str, list[float]] = {s.name: [] for s in switches}
    first_steps: dict[str, float] = {}
    for _ in range(args.rounds):
        # Round-robin: every round times each switch once, so a change of machine load hits all.
        for switch in switches:
            torch.set_num_threads(switch.threads or args.threads)
            stamps = trainees[switch.name].run(args.epochs)
            torch.set_num_threads(args.threads)
            if switch.name not in first_steps:  # the first round's warm-up holds compilation
                first_steps[switch.name] = stamps[args.warmup] - stamps[0]
            per_round[switch.name].append(1000 * mean(step_times(stamps, args.warmup)))
    return per_round, first_steps, {name: trainee.in_effect() for name, trainee in trainees.items()}


def main() -> None:
    parser_ = parser(__doc__.split("\n\n")[0])
    add_data_root(parser_)
    parser_.add_argument("--rounds", type=int, default=3, help="timings of each switch (median)")
    parser_.add_argument("--epochs", type=int, default=2, help="epochs per timing")
    parser_.add_argument("--steps-per-epoch", type=int, default=12)
    parser_.add_argument("--warmup", type=int, default=2, help="first steps left out of a timing")
    parser_.add_argument("--no-compile", action="store_true", help="skip torch.compile rows")
    args = parser_.parse_args()
    if args.quick:
        args.rounds, args.epochs, args.steps_per_epoch, args.warmup = 1, 2, 1, 1
        args.no_compile = True

    set_threads(args.threads)
    data_root = ensure_data(args.data_root)
    measured = [s for s in SWITCHES if not (s.compile and args.no_compile)]
    per_round, first_steps, in_effect = measure(measured, args, data_root)

    default = SWITCHES[0].name
    rows = []
    for switch in SWITCHES:
        if switch.name not in per_round:
            rows.append([switch.name, "skipped", "n/a", "n/a", switch.how, "n/a"])
            continue
        # Speed-up per round against that round's plain step, then the median of those.
        speedups = [d / s for d, s in zip(per_round[default], per_round[switch.name], strict=True)]
        rows.append(
            [
                switch.name,
                fmt(median(per_round[switch.name]), 1),
                fmt(median(speedups), 2),
                fmt(first_steps[switch.name], 1),
                switch.how,
                in_effect[switch.name],
            ]
        )
    print_table(
        f"Speed switches: U-Net training step, ms per step, median of {args.rounds} round(s) of "
        f"{args.epochs} epochs x {args.steps_per_epoch} steps",
        [
            "switch",
            "ms/step",
            "speed-up vs plain",
            f"first {args.warmup} steps (s)",
            "how to turn it on",
            "in effect",
        ],
        rows,
        notes=[
            "speed-up > 1 is faster than the plain step; 'skipped': --quick or --no-compile.",
            "torch.compile's first steps hold its compilation, which inductor caches on disk: "
            "the first run on a machine takes several times longer than later ones.",
            machine_note(args.threads),
        ],
    )


if __name__ == "__main__":
    main()

"""Photographs from vessel maps: pix2pix against the L1-only generator, at equal steps.

    python -m benchmarks.synthesis            # seeds 1 to 3, 10 epochs of 100 steps each
    python -m benchmarks.synthesis --quick    # one seed, 2 steps, no judge: checks that it runs

Each run is what a user types, in its own process: `python train.py experiment=synthesis
seed=<s> model.gan_weight=<1 or 0>` then `python test.py`, into a temporary experiment root.
The judge of vessel agreement is a U-Net trained first on the same data, for as many epochs, as
`python train.py` trains unet_synthetic_noaug (10 by default); its own test scores on the real
photographs end the table, for scale. Scores are test-split means inside the FOV (README,
"Photographs from vessel maps: the second task").
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
from pathlib import Path

from benchmarks.common import (
    REPO,
    add_data_root,
    ensure_data,
    machine_note,
    parser,
    print_table,
    run_timed,
)

SCORES = {
    "test L1": "l1",
    "test PSNR": "psnr",
    "test SSIM": "ssim",
    "vessel F1": "vessel_f1",
    "vessel AUC": "vessel_auroc",
}
GENERATORS = {"pix2pix (GAN + L1 x 100)": 1.0, "L1 only": 0.0}


def train_and_test(
    name: str, experiments: str, train: list[str], test: list[str], env: dict[str, str]
) -> float:
    """Train experiment `name` under `experiments`, test it; return the seconds both took."""
    where = [f"exp_name={name}", f"paths.experiment_root={experiments}"]
    train_s, _ = run_timed([sys.executable, "train.py", *where, *train], cwd=REPO, env=env)
    test_s, _ = run_timed([sys.executable, "test.py", *where, *test], cwd=REPO, env=env)
    return train_s + test_s


def mean_sd(values: list[float]) -> str:
    if not values:
        return "-"
    if len(values) == 1:
        return f"{values[0]:.3f}"
    return f"{statistics.mean(values):.3f} ± {statistics.stdev(values):.3f}"


def main() -> None:
    args_parser = parser(__doc__.splitlines()[0])
    add_data_root(args_parser)
    args_parser.add_argument("--epochs", type=int, default=10, help="epochs of 100 steps")
    args_parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    args = args_parser.parse_args()
    root = ensure_data(Path(args.data_root))
    epochs, seeds = (1, args.seeds[:1]) if args.quick else (args.epochs, args.seeds)
    size = ["data.samples_per_epoch=32"] if args.quick else []
    limits = ["trainer.limit_val_batches=1"] if args.quick else []
    test_limits = ["trainer.limit_test_batches=2"] if args.quick else []
    env = {"OMP_NUM_THREADS": str(args.threads)}
    with tempfile.TemporaryDirectory() as experiments:

        def run(name: str, overrides: list[str]) -> float:
            train = [f"data.root={root}", "logger=csv", *overrides, *size, *limits]
            return train_and_test(name, experiments, train, test_limits, env)

        # --quick leaves the judge out: two steps teach it nothing, and test.py's runs of it are
        # checked by tests/test_synthesis.py.
        judge = None if args.quick else "judge"
        if judge:
            run(judge, [f"trainer.max_epochs={epochs}"])
        rows = []
        for title, weight in GENERATORS.items():
            scores: dict[str, list[float]] = {column: [] for column in SCORES}
            seconds = []
            for seed in seeds:
                name = f"synthesis_gan{weight:g}_seed{seed}"
                overrides = [
                    "experiment=synthesis",
                    f"task.judge={judge or 'null'}",
                    f"seed={seed}",
                    f"model.gan_weight={weight}",
                    f"trainer.max_epochs={epochs}",
                ]
                seconds.append(run(name, overrides))
                metrics = json.loads(
                    (Path(experiments) / name / "result" / "metrics.json").read_text()
                )
                for column, key in SCORES.items():
                    if key in metrics:
                        scores[column].append(float(metrics[key]))
            steps = epochs * (2 if args.quick else 100)
            cells = [mean_sd(scores[column]) for column in SCORES]
            rows.append([title, steps, *cells, f"{statistics.mean(seconds):.0f}"])
        if judge:  # for scale: the judge's own scores, on the real photographs
            judged = json.loads((Path(experiments) / judge / "result/metrics.json").read_text())
            real = ["the real photographs (the judge's test.py)", "", "0", "", "1"]
            rows.append([*real, f"{judged['f1']:.3f}", f"{judged['auroc']:.3f}", ""])
    seeds_text = ", ".join(str(seed) for seed in seeds)
    print_table(
        f"Synthesis at equal steps (seeds {seeds_text})",
        ["generator", "steps", *SCORES, "s per run (train + test)"],
        rows,
        [
            "Mean ± standard deviation over seeds; vessel F1/AUC: the judge U-Net's vessels in "
            "the synthesised photographs against the input maps.",
            machine_note(args.threads),
        ],
    )


if __name__ == "__main__":
    main()

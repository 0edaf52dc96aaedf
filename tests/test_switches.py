"""The speed switches of conf/ each train, and keep the scores of the plain run within noise.

One short fit per switch, from the same seed on the same patches: a switch changes how the
arithmetic is done (memory layout, compiled kernels, bf16), so the best validation F1 may move by
rounding, not by more. `trainer.precision=auto` is covered by test_config.py (what it picks) and
by every other fit (the default).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bookkeeping.config import run_config
from tests.conftest import make_dataset
from tests.test_config import compose_config
from train import train

pytestmark = pytest.mark.slow

# 150 steps: far enough along that F1 no longer jumps from one step to the next (measured: the
# plain run and each switch within 0.01 of each other, while another seed moved F1 by 0.2).
SHORT = [
    "model.net.base_channels=8",
    "data.samples_per_epoch=800",  # 50 steps of 16 patches per epoch
    "trainer.max_epochs=3",
    "trainer.limit_val_batches=2",
    "callbacks.progress_bar=null",
    "+trainer.enable_progress_bar=false",
    "+trainer.enable_model_summary=false",
    "logger=none",
]
PLAIN = ["model.channels_last=false", "model.compile=false", "trainer.precision=32-true"]
SWITCHES = {
    "channels_last": ["model.channels_last=true"],
    "bf16": ["trainer.precision=bf16-mixed"],
    "compile": ["model.compile=true"],
}


@pytest.fixture(scope="module")
def full_set(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """DRIVE's 20 training images (16 to train on): the 6 of the shared small set train too
    unevenly in 150 steps for a comparison within a few points."""
    return make_dataset(tmp_path_factory.mktemp("full"), n_train=20, n_test=1, val_count=4)


def best_f1(dataset: Path, name: str, overrides: list[str]) -> float:
    given = [f"data.root={dataset}", *SHORT, *PLAIN, *overrides, f"exp_name={name}"]
    cfg, recorded = run_config(compose_config(given), given)
    return train(cfg, recorded)


def test_each_switch_trains_to_the_plain_score(
    full_set: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    plain = best_f1(full_set, "plain", [])
    assert plain > 0.5, "the plain run must learn something for the comparison to mean anything"
    for name, overrides in SWITCHES.items():
        assert best_f1(full_set, name, overrides) == pytest.approx(plain, abs=0.05), name

"""Config composition: the real conf/ tree through Hydra's compose API."""

from __future__ import annotations

from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.errors import MissingConfigException
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from utils.experiment import instantiate_each, register_resolvers, resolved_params

CONF = Path(__file__).resolve().parents[1] / "conf"


@pytest.fixture(autouse=True)
def outside_any_repository(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The default exp_name follows the current git branch: keep the developer's branch out of it.
    monkeypatch.chdir(tmp_path)


def compose_config(overrides: list[str], name: str = "config") -> DictConfig:
    """Compose conf/<name>.yaml with command-line style overrides, as train.py does."""
    register_resolvers()
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return compose(config_name=name, overrides=overrides)


@pytest.mark.parametrize(
    "overrides,name",
    [
        ([], "unet_synthetic_noaug"),
        (["model=pix2pix", "data=drive", "data.augment=true"], "pix2pix_drive_aug"),
        (["exp_name=mine"], "mine"),
    ],
)
def test_experiment_name_follows_the_choices(overrides: list[str], name: str) -> None:
    cfg = compose_config(overrides)
    assert cfg.exp_name == name
    assert cfg.paths.model_dir == f"experiment/{name}/model"


def test_drive_inherits_synthetic_settings() -> None:
    cfg = compose_config(["data=drive"])
    assert cfg.data.root == "data/DRIVE" and cfg.data.source == "drive"
    assert cfg.data.patch_size == compose_config([]).data.patch_size


def test_params_are_fully_resolved_and_keep_overrides() -> None:
    cfg = compose_config(["model=pix2pix", "seed=3"])
    params = resolved_params(cfg, ["model=pix2pix", "seed=3"])
    assert "${" not in OmegaConf.to_yaml(params)
    assert params["overrides"] == ["model=pix2pix", "seed=3"] and params["seed"] == 3


def test_every_group_option_composes_and_builds() -> None:
    for option in (
        "trainer=cpu",
        "trainer=gpu",
        "logger=csv",
        "logger=none",
        "debug=fast",
        "debug=limit",
        "debug=overfit",
    ):
        compose_config([option])
    cfg = compose_config(["debug=overfit"])
    assert cfg.data.fixed_patches and cfg.data.samples_per_epoch == cfg.data.batch_size
    datamodule = instantiate(cfg.data)
    assert datamodule.root == Path("data/synthetic") and datamodule.fixed_patches
    for option in ("trainer=default", "trainer=cpu"):
        cfg = compose_config([option, "logger=csv"])
        trainer = instantiate(
            cfg.trainer,
            logger=instantiate_each(cfg.logger),
            callbacks=instantiate_each(cfg.callbacks),
        )
        assert trainer.max_epochs == 10 and trainer.logger.log_dir.rstrip("/").endswith("log/csv")
        assert trainer.checkpoint_callback.dirpath.endswith("unet_synthetic_noaug/model")


def test_pix2pix_paper_preset_composes_the_default() -> None:
    paper = compose_config(["model=pix2pix_paper"]).model
    default = compose_config(["model=pix2pix"]).model
    assert paper.reconstruction_loss._target_ == "utils.loss.L1Loss"
    assert (paper.reconstruction_weight, paper.generator.dropout) == (100.0, 0.5)
    assert paper.discriminator == default.discriminator
    assert paper.generator_optimizer.betas == [0.5, 0.999]


def test_unknown_options_are_refused_by_name() -> None:
    with pytest.raises(MissingConfigException, match="model/resnet"):
        compose_config(["model=resnet"])


def test_test_config_needs_only_the_experiment() -> None:
    cfg = compose_config(["exp_name=x", "trainer.limit_test_batches=1"], name="test")
    assert cfg.paths.result_dir == "experiment/x/result" and cfg.checkpoint == "best"
    assert cfg.trainer.limit_test_batches == 1


def test_debug_presets_name_their_own_throwaway_runs() -> None:
    cfg = compose_config(["debug=fast"])
    assert cfg.exp_name == "unet_synthetic_debug_fast" and cfg.overwrite
    assert compose_config(["debug=overfit", "exp_name=mine"]).exp_name == "mine"

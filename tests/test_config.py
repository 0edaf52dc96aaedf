"""Config composition: the real conf/ tree through Hydra's compose API."""

from __future__ import annotations

import contextlib
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from hydra import compose, initialize_config_dir
from hydra.errors import MissingConfigException
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from bookkeeping.build import build_each
from bookkeeping.config import register_resolvers, sweep_job_name
from bookkeeping.experiment import hyperparameters
from tests.conftest import run_script
from utils.engine.precision import native_bf16, pick_precision

REPO = Path(__file__).resolve().parents[1]
CONF = REPO / "conf"


@pytest.fixture(autouse=True)
def outside_any_repository(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The default exp_name follows the current git branch: keep the developer's branch out of it.
    monkeypatch.chdir(tmp_path)


def compose_config(overrides: list[str], name: str = "train", conf: Path = CONF) -> DictConfig:
    """Compose conf/<name>.yaml with command-line style overrides, as train.py does."""
    register_resolvers()
    with initialize_config_dir(config_dir=str(conf), version_base="1.3"):
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
    assert cfg.callbacks.last_checkpoint.path == f"experiment/{name}/model/last.ckpt"


def test_drive_inherits_synthetic_settings() -> None:
    cfg = compose_config(["data=drive"])
    assert cfg.data.root == "data/DRIVE" and cfg.data.source == "drive"
    assert cfg.data.patch_size == compose_config([]).data.patch_size


def test_each_dataset_keeps_the_defaults_its_evidence_chose() -> None:
    # README, "How the defaults were chosen": DRIVE's are robust to other cameras at no cost at
    # home; on the built-in data the same pair costs 0.02 F1 at home, beyond the spread.
    drive, built_in = compose_config(["data=drive"]), compose_config([])
    assert (drive.data.augment, drive.data.normalize, drive.exp_name) == (
        True,
        "green",
        "unet_drive_aug",
    )
    assert (built_in.data.augment, built_in.data.normalize, built_in.exp_name) == (
        False,
        "dataset",
        "unet_synthetic_noaug",
    )


def test_params_are_the_resolved_configuration_and_nothing_else() -> None:
    cfg = compose_config(["model=pix2pix", "seed=3", "logger=wandb"])
    params = hyperparameters(cfg)
    assert "${" not in OmegaConf.to_yaml(params)
    assert params["seed"] == 3 and params["logger"]["wandb"]["id"] is None
    assert set(params) == set(OmegaConf.to_container(cfg)), "no record data in params.yaml"


@pytest.mark.parametrize(
    "dirname,name",
    [
        ("seed-2", "base_seed-2"),
        ("model.optimizer.lr-0.001_seed-1", "base_model.optimizer.lr-0.001_seed-1"),
        ("", "base"),
        ("data.root-/tmp/x y", "base_data.root--tmp-x-y"),
        ("seed--1", "base_seed--1"),
        ("logger-[tensorboard,wandb]", "base_logger--tensorboard-wandb"),
    ],
)
def test_each_sweep_job_gets_a_valid_name_of_its_own(dirname: str, name: str) -> None:
    assert sweep_job_name("base", dirname) == name


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
    assert cfg.trainer.overfit_batches == 1 and "fixed_patches" not in cfg.data, "no data key"
    datamodule = instantiate(cfg.data)
    assert datamodule.root == Path("data/synthetic")
    for option in ("trainer=default", "trainer=cpu"):
        cfg = compose_config([option, "logger=csv"])
        assert pick_precision(cfg.trainer) in ("bf16-mixed", "32-true")  # what train.py does
        trainer = instantiate(
            cfg.trainer,
            logger=build_each(cfg.logger, "logger"),
            callbacks=build_each(cfg.callbacks, "callbacks"),
        )
        assert trainer.max_epochs == 10 and trainer.logger.log_dir.rstrip("/").endswith("log/csv")
        assert trainer.checkpoint_callback.dirpath.endswith("unet_synthetic_noaug/model")
        assert trainer.checkpoint_callback.filename == "best"


def test_pix2pix_follows_the_paper_and_the_paper_preset_changes_only_the_generator() -> None:
    default = compose_config(["model=pix2pix"]).model
    assert default.reconstruction_loss._target_ == "utils.loss.L1Loss"
    assert (default.reconstruction_weight, default.lr_decay_from) == (100.0, 0.5)
    assert default.generator == compose_config([]).model.net  # the baseline's U-Net
    assert default.generator_optimizer.betas == [0.5, 0.999]
    paper = compose_config(["model=pix2pix_paper"]).model
    assert paper.generator._target_ == "src.pix2pix.generator.UNetGenerator"
    assert paper.generator.dropout == 0.5
    different = {key for key in default if paper[key] != default[key]}
    assert different == {"generator", "name"}


def test_unknown_options_are_refused_by_name() -> None:
    with pytest.raises(MissingConfigException, match="model/resnet"):
        compose_config(["model=resnet"])


def test_test_config_needs_only_the_experiment() -> None:
    cfg = compose_config(["exp_name=x", "trainer.limit_test_batches=1"], name="test")
    assert cfg.result_writer == {}, "what test.py writes is the experiment's task's"
    assert cfg.checkpoint == "best"
    assert cfg.trainer.limit_test_batches == 1


def test_debug_presets_name_their_own_throwaway_runs() -> None:
    cfg = compose_config(["debug=fast"])
    assert cfg.exp_name == "unet_synthetic_debug_fast" and cfg.overwrite
    assert compose_config(["debug=overfit", "exp_name=mine"]).exp_name == "mine"


# The <data>_<model> recipes; `synthesis` sets a task for any data (tests/test_synthesis.py).
TASK_RECIPES = {"synthesis"}
RECIPES = sorted({p.stem for p in (CONF / "experiment").glob("*.yaml")} - TASK_RECIPES)


@pytest.mark.parametrize("recipe", RECIPES)
def test_each_named_recipe_composes_and_pins_its_choices(recipe: str) -> None:
    cfg = compose_config([f"experiment={recipe}"])
    model, data = recipe.split("_", 1)[1], recipe.split("_", 1)[0]
    assert (cfg.model.name, cfg.data.name) == ({"quick": "unet"}.get(model, model), data)
    assert cfg.trainer.max_epochs and cfg.data.patch_size and cfg.seed == 42
    assert compose_config([f"experiment={recipe}", "trainer.max_epochs=1"]).trainer.max_epochs == 1


def test_drive_recipes_are_the_measured_ones() -> None:
    for recipe in ("drive_unet", "drive_pix2pix"):
        cfg = compose_config([f"experiment={recipe}"])
        steps = cfg.trainer.max_epochs * cfg.data.samples_per_epoch // cfg.data.batch_size
        assert steps == 3300 and cfg.trainer.precision == "32-true", recipe
    unet = compose_config(["experiment=drive_unet"])
    assert unet.model.net.base_channels == 16 and unet.model.optimizer.lr == 1e-3
    assert unet.data.normalize == "none"
    pix2pix = compose_config(["experiment=drive_pix2pix"])
    assert pix2pix.model.generator == unet.model.net  # the U-Net generator of the hand loop
    assert (pix2pix.model.reconstruction_weight, pix2pix.model.lr_decay_from) == (100.0, 0.5)
    assert pix2pix.data.normalize == "dataset"
    # The recipe's model is what `model=pix2pix data=drive` composes today, pinned; its data keep
    # DRIVE's settings of the measurement (no augmentation, the dataset's statistics).
    plain = compose_config(["model=pix2pix", "data=drive"])
    assert {k: v for k, v in pix2pix.model.items()} == {k: v for k, v in plain.model.items()}


@pytest.mark.parametrize("recipe", ["drive_unet", "drive_pix2pix"])
def test_a_recipe_marks_each_value_that_differs_from_the_defaults(recipe: str) -> None:
    """A recipe pins every value; the ones that matter, those unlike the defaults, say so."""
    from bookkeeping.report import flatten

    model = recipe.split("_", 1)[1]
    pinned, plain = (
        flatten(OmegaConf.to_container(compose_config(overrides)))
        for overrides in ([f"experiment={recipe}"], [f"model={model}", "data=drive"])
    )
    differing = {key for key in pinned.keys() | plain.keys() if pinned.get(key) != plain.get(key)}
    lines = (CONF / "experiment" / f"{recipe}.yaml").read_text().splitlines()
    marked = {line.split(":")[0].strip() for line in lines if "# differs" in line}
    leaves = {key.rsplit(".", 1)[-1] for key in differing - {"exp_name"}}
    assert leaves == marked == {"augment", "normalize", "precision"}, (differing, marked)


def test_early_stopping_is_one_choice_away() -> None:
    cfg = compose_config(["callbacks=early_stop"])
    stopper = instantiate(cfg.callbacks.early_stopping)
    assert (stopper.monitor, stopper.mode, stopper.patience) == ("val/f1", "max", 3)
    assert "model_checkpoint" in cfg.callbacks and "last_checkpoint" in cfg.callbacks


def test_local_settings_take_effect_and_stay_out_of_git(tmp_path: Path) -> None:
    conf = shutil.copytree(CONF, tmp_path / "conf", ignore=shutil.ignore_patterns("local"))
    (conf / "local").mkdir()
    (conf / "local/default.yaml").write_text(
        "# @package _global_\npaths:\n  data_dir: /mnt/datasets\ntrainer:\n  max_epochs: 2\n"
    )
    register_resolvers()
    for name in ("train", "test"):
        with initialize_config_dir(config_dir=str(conf), version_base="1.3"):
            cfg = compose(config_name=name, overrides=["exp_name=x"])
        assert cfg.trainer.max_epochs == 2
    assert cfg.paths.data_dir == "/mnt/datasets"
    for private in ("conf/local/default.yaml", ".env"):
        ignored = subprocess.run(["git", "check-ignore", "-q", private], cwd=REPO)
        assert ignored.returncode == 0, f"{private} is git-ignored"


@pytest.fixture
def local_settings() -> Iterator[Path]:
    """conf/local/default.yaml of this repository, as a user writes it, removed afterwards
    whatever happens. A user's own file is never touched: the test is skipped then."""
    local = CONF / "local" / "default.yaml"
    made_folder = not local.parent.exists()
    local.parent.mkdir(exist_ok=True)
    try:
        with local.open("x") as settings:  # "x": never overwrite a file that is there
            settings.write("# @package _global_\ntrainer:\n  max_epochs: 999\n")
    except FileExistsError:
        pytest.skip(f"{local} is a user's own settings: the test never overwrites it")
    try:
        yield local
    finally:
        local.unlink()
        if made_folder:
            with contextlib.suppress(OSError):  # not empty: someone else wrote there meanwhile
                local.parent.rmdir()


def test_a_users_local_settings_never_reach_the_suite(local_settings: Path, tmp_path: Path) -> None:
    # The file takes effect where the suite's Hydra plugin does not hide it (a copy of conf/)...
    with_local = shutil.copytree(CONF, tmp_path / "with_local")
    assert compose_config([], conf=with_local).trainer.max_epochs == 999
    # ...yet every composition of this repository's conf/ is the committed one, in this process
    # and in the scripts the tests run.
    committed = shutil.copytree(
        CONF, tmp_path / "committed", ignore=shutil.ignore_patterns("local")
    )
    for name in ("train", "test", "predict"):
        seen = OmegaConf.to_container(compose_config([], name))
        assert seen == OmegaConf.to_container(compose_config([], name, conf=committed)), name
    shown = run_script("train.py", "--cfg", "job", cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    assert yaml.safe_load(shown.stdout) == OmegaConf.to_container(
        compose_config([], conf=committed)
    )


def test_precision_auto_picks_bf16_where_the_cpu_computes_it(
    caplog: pytest.LogCaptureFixture,
) -> None:
    import logging
    import platform

    cfg = OmegaConf.create({"precision": "auto", "accelerator": "cpu"})
    with caplog.at_level(logging.INFO):
        picked = pick_precision(cfg)
    assert picked == cfg.precision and "trainer.precision=auto -> " + picked in caplog.text
    if platform.system() == "Linux":  # the kernel's own list of CPU features, as a second opinion
        flags = Path("/proc/cpuinfo").read_text().split()
        native = "avx512_bf16" in flags or "amx_bf16" in flags
        assert picked == ("bf16-mixed" if native else "32-true")
        assert native_bf16("cpu")[0] == native
    given = OmegaConf.create({"precision": "16-mixed", "accelerator": "gpu"})
    assert pick_precision(given) == "16-mixed" == given.precision  # anything else passes through


def test_a_value_the_task_cannot_name_is_one_clear_line() -> None:
    """data.augment=maybe fails in the exp_name resolver, inside OmegaConf: the entry point still
    prints the task's message, not OmegaConf's wrapper and a traceback."""
    from utils.base import UserError, exit_cleanly_on

    cfg = compose_config(["data.augment=maybe"])

    @exit_cleanly_on(UserError)
    def entry_point() -> str:
        return cfg.exp_name

    with pytest.raises(SystemExit) as stopped:
        entry_point()
    message = str(stopped.value.code)
    assert message.startswith("error: data.augment='maybe': the task names its runs by"), message
    assert "InterpolationResolutionError" not in message

    @exit_cleanly_on(UserError)
    def buggy() -> None:
        raise KeyError("a bug")

    with pytest.raises(KeyError):  # anything else keeps its traceback
        buggy()


def test_predict_refuses_the_predictor_of_another_task() -> None:
    import predict
    from bookkeeping.folder import ExperimentError

    params = OmegaConf.create({"task": {"name": "shapes", "predictor": "shapes"}})
    with pytest.raises(ExperimentError, match="shapes experiment, .* add predictor=shapes"):
        predict.check_predictor(params, "vessels", "mine")
    predict.check_predictor(params, "shapes", "mine")
    predict.check_predictor(params, None, "mine")  # outside a Hydra run (a test): nothing chosen
    none = OmegaConf.create({"task": {"name": "shapes"}})
    with pytest.raises(ExperimentError, match="names no predictor"):
        predict.check_predictor(none, None, "mine")


def test_a_value_the_task_cannot_name_stops_before_the_folder(tmp_path: Path, monkeypatch) -> None:
    """With exp_name given, the name parts are read when the run is planned, still before the
    experiment folder is claimed."""
    from bookkeeping.experiment import plan_run
    from utils.base import UserError

    monkeypatch.chdir(tmp_path)
    cfg = compose_config(["exp_name=mine", "data.augment=maybe"])
    with pytest.raises(UserError, match="the task names its runs by"):
        plan_run(cfg)
    assert not (tmp_path / "experiment").exists()


@pytest.mark.parametrize(
    ("bad", "named"),
    [
        (["data.patch_size=0"], "data.patch_size=0"),
        (["model=pix2pix", "model.gan_loss.mode=x"], "model.gan_loss.mode=x"),
        (["data.folds=3", "data.fold=3"], "data.fold=3"),
        (["model.optimizer.lr=-1"], "model.optimizer.lr=-1"),
        (["trainer.devices=0"], "trainer.devices=0"),
        (["trainer.max_epochs=abc"], "trainer.max_epochs='abc'"),
        (["data.normalize=foo"], "data.normalize='foo'"),
        (["model=pix2pix", "model.lr_decay_from=2"], "model.lr_decay_from=2"),
    ],
)
def test_a_refused_value_names_its_key(bad: list[str], named: str) -> None:
    """What tests/test_bad_values.py checks through the command line, for more values of the
    same kinds: the object that refuses a value says so as a UserError naming the key."""
    from bookkeeping.build import build
    from utils.base import UserError
    from utils.engine.precision import pick_precision

    cfg = compose_config(bad)
    group = bad[-1].split(".")[0]
    pick_precision(cfg.trainer)  # trainer.precision=auto becomes a value, as in train.py
    with pytest.raises(UserError, match=re.escape(named)):
        build(cfg[group], group, bad)


def test_a_predictor_key_is_checked_before_anything_is_written() -> None:
    from bookkeeping.build import ConfigError, build

    cfg = compose_config(["exp_name=x", "input=photos", "scale=abc"], name="predict")
    with pytest.raises(ConfigError, match="predictor.scale='abc': expected a number or one of"):
        build(cfg.predictor, "predictor")

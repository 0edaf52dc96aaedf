"""The input pipeline: generated files, manifests, samples, patches, augmentation, errors."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from data.data import CachedImages, FullImages, TrainPatches, VesselDataModule, augment, rescale
from data.drive import require_drive
from data.manifest import DataError, Sample, load_sample, read_manifest
from data.prepare import prepare
from tests.conftest import REPO


def test_generator_writes_drive_layout_and_formats(dataset: Path) -> None:
    image = Image.open(dataset / "training/images/21_training.tif")
    assert (image.mode, image.size) == ("RGB", (565, 584))
    assert image.info.get("compression") == "tiff_lzw"
    for gif in (
        "training/1st_manual/21_manual1.gif",
        "training/mask/21_training_mask.gif",
        "test/1st_manual/01_manual1.gif",
        "test/2nd_manual/01_manual2.gif",
        "test/mask/01_test_mask.gif",
    ):
        values = np.unique(np.asarray(Image.open(dataset / gif).convert("L")))
        assert set(values.tolist()) == {0, 255}, gif


def test_generator_is_deterministic(tmp_path: Path, dataset: Path) -> None:
    from data.synthetic import generate

    generate(tmp_path, seed=0, n_train=1, n_test=1)
    for name in ("training/images/21_training.tif", "training/1st_manual/21_manual1.gif"):
        assert (tmp_path / name).read_bytes() == (dataset / name).read_bytes()


def test_manifests_hold_a_fixed_validation_split(dataset: Path) -> None:
    train = read_manifest(dataset / "train.txt")
    validate = read_manifest(dataset / "validate.txt")
    test = read_manifest(dataset / "test.txt")
    assert [s.name for s in train] == [f"{i}_training" for i in range(21, 25)]
    assert [s.name for s in validate] == ["25_training", "26_training"]
    assert [s.name for s in test] == ["01_test", "02_test"]
    assert validate[0] == Sample(
        "training/images/25_training.tif",
        "training/1st_manual/25_manual1.gif",
        "training/mask/25_training_mask.gif",
    )


def test_decoded_sample_dtypes_and_fov(dataset: Path) -> None:
    sample = load_sample(dataset, read_manifest(dataset / "train.txt")[0])
    assert sample.image.shape == (584, 565, 3) and sample.image.dtype == np.uint8
    assert sample.label.dtype == bool and sample.fov.dtype == bool
    assert 0.5 < sample.fov.mean() < 0.85, "the FOV is a disc covering most of the frame"
    assert not sample.label[~sample.fov].any(), "vessels lie inside the field of view"
    assert 0.04 < sample.label[sample.fov].mean() < 0.2


def test_datamodule_batches(dataset: Path) -> None:
    datamodule = VesselDataModule(
        str(dataset), patch_size=48, batch_size=4, samples_per_epoch=8, normalize="none"
    )
    datamodule.prepare_data()
    datamodule.setup("fit")
    batch = next(iter(datamodule.train_dataloader()))
    assert batch["image"].shape == (4, 3, 48, 48) and batch["image"].dtype == torch.float32
    assert batch["image"].min() >= 0.0 and batch["image"].max() <= 1.0
    assert set(batch["label"].unique().tolist()) <= {0.0, 1.0}
    assert batch["fov"].dtype == torch.bool
    # Patches are centred inside the field of view.
    assert batch["fov"][:, 0, 24, 24].all()
    full = next(iter(datamodule.val_dataloader()))
    assert full["image"].shape == (1, 3, 584, 565) and full["name"] == ["25_training"]


def test_patches_are_seeded(dataset: Path) -> None:
    datamodule = VesselDataModule(str(dataset))
    patches = TrainPatches(datamodule.cache("train"), 32, 4, augment=True)
    torch.manual_seed(7)
    first = [patches[i]["image"] for i in range(4)]
    torch.manual_seed(7)
    second = [patches[i]["image"] for i in range(4)]
    torch.manual_seed(8)
    third = [patches[i]["image"] for i in range(4)]
    assert all(torch.equal(a, b) for a, b in zip(first, second, strict=True))
    assert not all(torch.equal(a, c) for a, c in zip(first, third, strict=True))
    fixed = TrainPatches(datamodule.cache("train"), 32, 4, augment=False, fixed=True)
    assert torch.equal(fixed[3]["image"], fixed[3]["image"])


def test_augmentation_moves_image_label_and_fov_together() -> None:
    # One marked pixel, brightest in the image and the only vessel pixel: wherever flips and
    # rotations send it, label and fov must follow (colour jitter keeps the brightest brightest).
    for seed in range(8):
        image = torch.full((3, 16, 16), 0.2)
        image[:, 3, 11] = 0.9
        label = torch.zeros(1, 16, 16)
        label[0, 3, 11] = 1.0
        fov = label.bool()
        out_image, out_label, out_fov = augment(
            image, label, fov, torch.Generator().manual_seed(seed)
        )
        peak = divmod(int(out_image[1].argmax()), 16)
        assert out_label[0, peak[0], peak[1]] == 1.0 and out_label.sum() == 1.0
        assert out_fov[0, peak[0], peak[1]] and out_fov.sum() == 1


def _copy(dataset: Path, tmp_path: Path) -> Path:
    root = tmp_path / "data"
    shutil.copytree(dataset, root)
    return root


def test_missing_file_names_the_file(dataset: Path, tmp_path: Path) -> None:
    root = _copy(dataset, tmp_path)
    (root / "training/1st_manual/22_manual1.gif").unlink()
    with pytest.raises(DataError, match="22_manual1.gif does not exist"):
        VesselDataModule(str(root)).setup("fit")


def test_corrupt_image_names_the_file(dataset: Path, tmp_path: Path) -> None:
    root = _copy(dataset, tmp_path)
    path = root / "training/images/21_training.tif"
    path.write_bytes(path.read_bytes()[:2000])
    with pytest.raises(DataError, match="21_training.tif cannot be decoded"):
        VesselDataModule(str(root)).setup("fit")


def test_size_mismatch_names_the_file(dataset: Path, tmp_path: Path) -> None:
    root = _copy(dataset, tmp_path)
    path = root / "training/mask/23_training_mask.gif"
    Image.open(path).convert("L").resize((500, 500)).save(path)
    with pytest.raises(DataError, match=r"23_training_mask.gif: size 500x500 differs"):
        VesselDataModule(str(root)).setup("fit")


def test_non_binary_label_is_refused(dataset: Path, tmp_path: Path) -> None:
    root = _copy(dataset, tmp_path)
    path = root / "training/1st_manual/24_manual1.gif"
    Image.fromarray(np.full((584, 565), 128, np.uint8)).save(path)
    with pytest.raises(DataError, match="24_manual1.gif: a vessel label must hold only 0 and 255"):
        VesselDataModule(str(root)).setup("fit")


def test_empty_field_of_view_is_refused(dataset: Path, tmp_path: Path) -> None:
    root = _copy(dataset, tmp_path)
    path = root / "training/mask/22_training_mask.gif"
    Image.fromarray(np.zeros((584, 565), np.uint8)).save(path)
    with pytest.raises(DataError, match="22_training_mask.gif: the field-of-view mask is empty"):
        VesselDataModule(str(root)).setup("fit")


def test_malformed_and_empty_manifests(tmp_path: Path) -> None:
    (tmp_path / "train.txt").write_text("only/two paths.gif\n")
    with pytest.raises(DataError, match=r"train.txt:1: expected 3 paths"):
        read_manifest(tmp_path / "train.txt")
    (tmp_path / "train.txt").write_text("# nothing here\n\n")
    with pytest.raises(DataError, match="lists no samples"):
        read_manifest(tmp_path / "train.txt")


def test_prepare_reports_every_bad_file(dataset: Path, tmp_path: Path) -> None:
    root = _copy(dataset, tmp_path)
    (root / "test/images/02_test.tif").write_bytes(b"not an image")
    (root / "training/mask/21_training_mask.gif").unlink()
    with pytest.raises(DataError, match="2 problem") as error:
        prepare(root, "synthetic", val_count=2)
    assert "02_test.tif" in str(error.value) and "21_training_mask.gif" in str(error.value)


def test_missing_drive_says_where_to_put_it(tmp_path: Path) -> None:
    with pytest.raises(DataError) as error:
        require_drive(tmp_path / "DRIVE")
    message = str(error.value)
    assert "training/images/21_training.tif" in message and "data=synthetic" in message


def test_missing_manifest_without_source_is_explained(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no train.txt manifest .* data.source is null"):
        VesselDataModule(str(tmp_path), source=None).prepare_data()


def check_cli(root: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "data.check", str(root)], cwd=REPO, capture_output=True, text=True
    )


@pytest.mark.parametrize(
    "damage,message",
    [
        (
            lambda root: (root / "test.txt").write_text("test/images/nowhere.tif a.gif b.gif\n"),
            "nowhere.tif does not exist",
        ),
        (
            lambda root: (root / "test/images/01_test.tif").write_bytes(b"II*\x00truncated"),
            "01_test.tif cannot be decoded",
        ),
        (
            lambda root: Image.new("L", (10, 10)).save(root / "training/1st_manual/21_manual1.gif"),
            "21_manual1.gif: size 10x10 differs",
        ),
        (
            lambda root: Image.new("L", (565, 584), 7).save(
                root / "training/1st_manual/22_manual1.gif"
            ),
            "22_manual1.gif: a vessel label must hold only 0 and 255",
        ),
        (lambda root: (root / "validate.txt").write_text("\n"), "validate.txt lists no samples"),
        (
            lambda root: (root / "validate.txt").write_text((root / "train.txt").read_text()),
            "is in both 'train' and 'validate'",
        ),
    ],
)
def test_quality_gate_reports_each_bad_case(dataset: Path, tmp_path: Path, damage, message) -> None:
    root = _copy(dataset, tmp_path)
    assert check_cli(root).returncode == 0
    damage(root)
    result = check_cli(root)
    assert result.returncode == 1 and message in result.stderr, result.stderr


def test_zoomed_patches_keep_their_size_and_binary_labels(dataset: Path) -> None:
    datamodule = VesselDataModule(str(dataset))
    patches = TrainPatches(datamodule.cache("train"), 48, 40, augment=True)
    torch.manual_seed(0)
    for item in (patches[i] for i in range(40)):
        assert item["image"].shape == (3, 48, 48) and item["fov"].shape == (1, 48, 48)
        assert set(item["label"].unique().tolist()) <= {0.0, 1.0}
    thin = torch.zeros(1, 60, 60)
    thin[0, :, 30] = 1.0  # a one-pixel vessel, shrunk by 20%: still a continuous line
    _, label, _ = rescale(torch.rand(3, 60, 60), thin, torch.ones(1, 60, 60, dtype=torch.bool), 48)
    assert (label.sum(dim=-1) >= 1).all()


def test_the_built_in_data_measures_like_drive(tmp_path: Path) -> None:
    """The four statistics of data/likeness.py on DRIVE's 20 training images, within 20%."""
    from data.likeness import DRIVE_TRAINING, dataset_likeness
    from data.synthetic import generate

    generate(tmp_path, seed=0, n_train=20, n_test=0)
    measured = dataset_likeness(tmp_path)
    for key, (drive, _) in DRIVE_TRAINING.items():
        assert measured[key][0] == pytest.approx(drive, rel=0.2), key


def test_dataset_normalization_is_computed_once_and_follows_the_train_manifest(
    dataset: Path, tmp_path: Path
) -> None:
    import json

    from data.normalize import STATISTICS_FILE, dataset_statistics

    root = shutil.copytree(dataset, tmp_path / "data")
    kept = json.loads((root / STATISTICS_FILE).read_text())  # written by prepare()
    assert len(kept["mean"]) == 3 and all(0 < s < 1 for s in kept["std"])
    train = VesselDataModule(str(root), normalize="dataset").cache("train")
    items = [train.item(i) for i in range(len(train))]
    pixels = torch.cat([item["image"][:, item["fov"][0]] for item in items], dim=1)
    # All training pixels together have zero mean and unit spread per channel.
    assert pixels.mean(dim=1).abs().max() < 1e-3 and (pixels.std(dim=1) - 1).abs().max() < 1e-3
    # A new training split makes them stale: computed again, not reused.
    train = (root / "train.txt").read_text().splitlines()
    (root / "train.txt").write_text("\n".join(train[:1]) + "\n")
    assert dataset_statistics(root)["mean"] != kept["mean"]
    assert json.loads((root / STATISTICS_FILE).read_text())["mean"] != kept["mean"]


@pytest.mark.slow  # two fits or a regeneration: the full tier keeps the quick one under a minute
def test_a_synthetic_set_from_an_older_generator_is_made_again(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from data.synthetic import MARKER, VERSION, generate

    root = tmp_path / "synthetic"
    generate(root, seed=0, n_train=5, n_test=1)
    prepare(root, "synthetic", val_count=1)
    fresh = (root / "training/images/21_training.tif").read_bytes()
    # What an older generator left behind: its marker, other images, manifests already written.
    (root / MARKER).write_text(json.dumps({"version": VERSION - 1}) + "\n")
    shutil.copy(root / "training/images/22_training.tif", root / "training/images/21_training.tif")
    VesselDataModule(str(root), source="synthetic", val_count=1).prepare_data()
    assert f"another generator version ({VERSION - 1}, now {VERSION})" in capsys.readouterr().out
    assert (root / "training/images/21_training.tif").read_bytes() == fresh
    assert json.loads((root / MARKER).read_text())["version"] == VERSION
    assert len(read_manifest(root / "train.txt")) == 19  # the whole set, written again


def snapshot(root: Path) -> dict[str, bytes]:
    """Every file under `root` and its bytes."""
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


def users_own_folder(dataset: Path, root: Path) -> Path:
    """A folder of a user's own: its images under other names, with manifests of its own."""
    shutil.copytree(dataset / "training", root / "photos")
    for split in ("train", "validate", "test"):
        lines = (dataset / f"{split}.txt").read_text().replace("training/", "photos/")
        (root / f"{split}.txt").write_text(lines.replace("test/", "photos/") + "# mine\n")
    return root


@pytest.mark.parametrize("how", ["prepare_data", "generate"])
def test_the_generator_never_writes_into_a_users_folder(
    how: str, tmp_path: Path, dataset: Path
) -> None:
    from data.synthetic import generate

    root = users_own_folder(dataset, tmp_path / "clinic")
    before = snapshot(root)
    with pytest.raises(DataError, match="data.source") as refused:
        if how == "generate":
            generate(root)
        else:  # a dataset config that inherited source: synthetic
            VesselDataModule(str(root), source="synthetic").prepare_data()
    assert str(root) in str(refused.value) and "data.source=null" in str(refused.value)
    assert snapshot(root) == before, "every file of the user's folder is untouched"


def test_existing_manifests_are_kept_unless_rewrite_is_asked(
    tmp_path: Path, dataset: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = shutil.copytree(dataset, tmp_path / "DRIVE", ignore=shutil.ignore_patterns("*.json"))
    (root / "train.txt").write_text((root / "train.txt").read_text() + "# edited by hand\n")
    before = snapshot(root)
    prepare(root, "drive", val_count=2)
    assert snapshot(root) == before and "Kept the manifests" in capsys.readouterr().out
    (root / "validate.txt").unlink()
    with pytest.raises(DataError, match="no validate.txt"):
        VesselDataModule(str(root), source="drive", val_count=2).prepare_data()
    prepare(root, "drive", val_count=2, rewrite=True)
    assert "# edited by hand" not in (root / "train.txt").read_text()
    assert (root / "validate.txt").is_file()


def test_loader_workers_follow_the_device() -> None:
    from data.data import loader_workers

    assert loader_workers("auto", on_gpu=False, cpus=16) == 0
    assert loader_workers("auto", on_gpu=True, cpus=16) == 8
    assert loader_workers("auto", on_gpu=True, cpus=2) == 2
    assert loader_workers(3, on_gpu=False) == 3
    loader = VesselDataModule("unused", num_workers="auto")._loader([0, 1], 1, shuffle=False)
    assert loader.num_workers == 0 and not loader.pin_memory  # no trainer: the CPU path


def test_folds_split_train_and_validate_and_leave_test_alone(dataset: Path) -> None:
    """data.folds=K: every training or validation sample is validated on in exactly one fold,
    the same one on every run, trained on in the others; the test split stays the manifest's."""
    pool = read_manifest(dataset / "train.txt") + read_manifest(dataset / "validate.txt")
    held = []
    for fold in range(3):
        datamodule = VesselDataModule(str(dataset), folds=3, fold=fold)
        validate, train = datamodule.samples("validate"), datamodule.samples("train")
        assert validate and not set(map(str, validate)) & set(map(str, train))
        assert sorted(map(str, validate + train)) == sorted(map(str, pool))
        assert datamodule.samples("test") == read_manifest(dataset / "test.txt")
        assert VesselDataModule(str(dataset), folds=3, fold=fold).samples("validate") == validate
        held += validate
    assert sorted(map(str, held)) == sorted(map(str, pool)), "each sample validated once"
    # data.normalize=dataset: the fold's own training images, not normalization.json's split
    fold = VesselDataModule(str(dataset), folds=3, fold=0)
    fold.cache("train")
    manifests = json.loads((dataset / "normalization.json").read_text())
    assert fold.normalization["mean"] != manifests["mean"]
    assert len(fold.cache("validate")) == len(fold.samples("validate"))


@pytest.mark.parametrize(
    ("folds", "fold", "message"),
    [
        (1, 0, r"data.folds=1: expected null"),
        (3, 3, r"data.fold=3: expected 0 to 2 \(data.folds=3\)"),
        (None, 1, r"data.fold=1: expected 0 without data.folds"),
        (99, 0, r"data.folds=99: the training and validation splits of .* hold 6 samples"),
    ],
)
def test_bad_folds_are_refused_by_key(dataset: Path, folds, fold, message: str) -> None:
    with pytest.raises(DataError, match=message):
        VesselDataModule(str(dataset), folds=folds, fold=fold).cache("train")


def test_test_images_of_another_dataset_go_in_at_the_training_fov_diameter(dataset: Path) -> None:
    """test.py data=<other>: the image is resized so its FOV is as wide as the training images'
    (as predict.py does); label and FOV keep the image's own pixels, which are scored."""
    from data.photographs import fov_diameter

    cache = CachedImages(dataset, read_manifest(dataset / "test.txt")[:1])
    own = FullImages(cache)[0]
    half = FullImages(cache, fov_diameter=fov_diameter(own["fov"][0].numpy()) / 2)[0]
    height, width = own["image"].shape[1:]
    assert half["image"].shape == (3, round(height / 2), round(width / 2))
    assert half["label"].shape == own["label"].shape and half["fov"].shape == own["fov"].shape
    assert torch.equal(FullImages(cache, fov_diameter=None)[0]["image"], own["image"])


def test_other_camera_is_generated_through_its_camera_and_regenerated_when_it_changes(
    tmp_path: Path,
) -> None:
    from data.synthetic import generate, outdated

    generate(tmp_path, n_train=2, n_test=1, camera="other")
    assert outdated(tmp_path, "other") is None
    assert "camera 'other', not 'drive'" in outdated(tmp_path, "drive")
    with pytest.raises(DataError, match="data.camera='nikon'"):
        VesselDataModule(root=str(tmp_path), camera="nikon")


def test_overfitting_replays_fixed_unaugmented_patches(dataset: Path) -> None:
    """debug=overfit is Lightning's trainer.overfit_batches, for any task; the vessel data module
    then draws the same patches every epoch, unaugmented, so the loss can fall towards zero."""
    import lightning as L

    datamodule = VesselDataModule(root=str(dataset), augment=True)
    datamodule.trainer = L.Trainer(overfit_batches=1, logger=False, enable_progress_bar=False)
    patches = datamodule.train_dataloader().dataset
    assert patches.fixed and not patches.augment
    datamodule.trainer = L.Trainer(logger=False, enable_progress_bar=False)
    patches = datamodule.train_dataloader().dataset
    assert not patches.fixed and patches.augment

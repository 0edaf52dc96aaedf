"""Datasets and the LightningDataModule that serve vessel segmentation samples.

Training draws random square patches (optionally augmented) from images decoded once and kept in
memory; validation and test use whole images, which the model pads to its size multiple itself.
Every item is a dict: `image` float (3, H, W) normalised as `data.normalize` says
(data/normalize.py; in [0, 1] for `none`), `label` float (1, H, W) in {0, 1}, `fov` bool
(1, H, W), and `name` for whole images.
"""

from __future__ import annotations

from pathlib import Path

import lightning as L
import torch
from torch.nn import functional as F
from torch.utils.data import DataLoader, Dataset

from data.manifest import (
    SPLITS,
    DataError,
    Sample,
    load_sample,
    manifest_path,
    read_manifest,
    split_leaks,
)
from data.normalize import (
    check_mode,
    dataset_statistics,
    normalize,
    pooled_statistics,
    statistics_for,
)

SOURCES = ("synthetic", "drive", None)  # who writes missing manifests (VesselDataModule)


class CachedImages:
    """The decoded samples of one manifest, as uint8/bool tensors kept in memory, with the
    mean and standard deviation `normalize` uses for each image (data/normalize.py): the
    training split's (`dataset`, given as `dataset_statistics`) or the image's own."""

    def __init__(
        self,
        root: Path,
        samples: list[Sample],
        normalize: str = "none",
        dataset_statistics: dict | None = None,
    ) -> None:
        decoded = [load_sample(root, s) for s in samples]
        self.names = [d.name for d in decoded]
        self.images = [torch.from_numpy(d.image).permute(2, 0, 1).contiguous() for d in decoded]
        self.labels = [torch.from_numpy(d.label)[None] for d in decoded]
        self.fovs = [torch.from_numpy(d.fov)[None] for d in decoded]
        self.normalize = check_mode(normalize)
        self.statistics = [
            statistics_for(image.float() / 255.0, fov, self.normalize, dataset_statistics)
            for image, fov in zip(self.images, self.fovs, strict=True)
        ]

    def __len__(self) -> int:
        return len(self.names)

    def normalized(self, index: int, image: torch.Tensor) -> torch.Tensor:
        """Image `index` (or a crop of it) in [0, 1], normalised as `normalize` says."""
        return normalize(image, *self.statistics[index], self.normalize)

    def item(self, index: int) -> dict:
        return {
            "image": self.normalized(index, self.images[index].float() / 255.0),
            "label": self.labels[index].float(),
            "fov": self.fovs[index],
            "name": self.names[index],
        }


class FullImages(Dataset):
    """Whole images of a split, for validation and test.

    With `fov_diameter` (test.py on a dataset the model was not trained on: the training images'
    typical FOV diameter), each image goes in resized so that its FOV is that wide, as predict.py
    does, while `label` and `fov` stay at the image's own size: scores are counted in its pixels.
    """

    def __init__(self, cache: CachedImages, fov_diameter: float | None = None) -> None:
        self.cache = cache
        self.fov_diameter = fov_diameter

    def __len__(self) -> int:
        return len(self.cache)

    def __getitem__(self, index: int) -> dict:
        item = self.cache.item(index)
        if self.fov_diameter is not None:
            from data.photographs import fov_diameter

            height, width = item["fov"].shape[1:]
            scale = self.fov_diameter / max(fov_diameter(item["fov"][0].numpy()), 1.0)
            size = (max(1, round(height * scale)), max(1, round(width * scale)))
            if size != (height, width):
                item["image"] = F.interpolate(
                    item["image"][None], size=size, mode="bilinear", antialias=True
                )[0]
        return item


class TrainPatches(Dataset):
    """Random patches centred inside the field of view, `samples_per_epoch` of them per epoch.

    Randomness comes from torch's global generator (seeded by `seed_everything`), so each epoch
    sees new patches; with `fixed=True` patch `i` is always the same one (for overfitting tests).
    """

    def __init__(
        self,
        cache: CachedImages,
        patch_size: int,
        samples_per_epoch: int,
        augment: bool,
        fixed: bool = False,
    ) -> None:
        smallest = min(min(image.shape[1:]) for image in cache.images)
        if patch_size > smallest:
            raise DataError(
                f"data.patch_size={patch_size} is larger than the smallest training "
                f"image side ({smallest} px); choose a smaller patch size."
            )
        self.cache = cache
        self.patch_size = patch_size
        self.samples_per_epoch = samples_per_epoch
        self.augment = augment
        self.fixed = fixed

    def __len__(self) -> int:
        return self.samples_per_epoch

    def __getitem__(self, index: int) -> dict:
        rng = torch.Generator().manual_seed(index) if self.fixed else None
        which = int(torch.randint(len(self.cache), (1,), generator=rng))
        height, width = self.cache.fovs[which].shape[1:]
        side = self.patch_size
        if self.augment:  # zoom in or out by up to 20%: a window of another side, resized
            zoom = 0.8 + 0.4 * float(torch.rand((), generator=rng))
            side = min(round(self.patch_size * zoom), height, width)
        top, left = self._corner_in_fov(self.cache.fovs[which][0], side, rng)
        window = (slice(None), slice(top, top + side), slice(left, left + side))
        image = self.cache.images[which][window].float() / 255.0
        label = self.cache.labels[which][window].float()
        fov = self.cache.fovs[which][window]
        if side != self.patch_size:
            image, label, fov = rescale(image, label, fov, self.patch_size)
        if self.augment:
            image, label, fov = augment(image, label, fov, rng)
        return {"image": self.cache.normalized(which, image), "label": label, "fov": fov}

    def _corner_in_fov(
        self, fov: torch.Tensor, side: int, rng: torch.Generator | None
    ) -> tuple[int, int]:
        # Patches centred outside the field of view are nearly all black: retry a few times.
        height, width = fov.shape
        for _ in range(10):
            top = int(torch.randint(height - side + 1, (1,), generator=rng))
            left = int(torch.randint(width - side + 1, (1,), generator=rng))
            if fov[top + side // 2, left + side // 2]:
                break
        return top, left


def rescale(
    image: torch.Tensor, label: torch.Tensor, fov: torch.Tensor, size: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Resize a square crop to `size` x `size`: the image smoothly, the label by thresholding its
    smooth resize at 0.5 (a thin vessel stays a line, not a dotted one), the FOV nearest."""

    def smooth(tensor: torch.Tensor) -> torch.Tensor:
        return F.interpolate(tensor[None], size=(size, size), mode="bilinear", antialias=True)[0]

    resized_fov = F.interpolate(fov[None].float(), size=(size, size), mode="nearest")[0]
    return smooth(image).clamp(0, 1), (smooth(label) > 0.5).float(), resized_fov.bool()


def augment(
    image: torch.Tensor, label: torch.Tensor, fov: torch.Tensor, rng: torch.Generator | None = None
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Flip and rotate image, label and fov alike; jitter the image's brightness, contrast,
    gamma and colour balance, and blur it now and then: what differs between cameras.

    Rotations are by multiples of 90 degrees so labels stay exactly binary. (TrainPatches also
    zooms by up to 20%, and predict.py resizes each photograph to the training field of view.)
    """

    def coin() -> bool:
        return bool(torch.rand((), generator=rng) < 0.5)

    def uniform(low: float, high: float) -> float:
        return low + (high - low) * float(torch.rand((), generator=rng))

    stacked = torch.cat([image, label, fov.float()])
    if coin():
        stacked = stacked.flip(-1)
    if coin():
        stacked = stacked.flip(-2)
    stacked = torch.rot90(stacked, int(torch.randint(4, (1,), generator=rng)), dims=(-2, -1))
    image, label, fov = stacked[:3], stacked[3:4], stacked[4:5].bool()

    mean = image.mean()
    image = (image - mean) * uniform(0.8, 1.2) + mean * uniform(0.8, 1.2)
    image = image * torch.tensor([uniform(0.9, 1.1) for _ in range(3)])[:, None, None]
    image = image.clamp(0.0, 1.0) ** uniform(0.8, 1.25)
    if coin():  # a softer lens or focus: part-way to a 3x3 average
        blurred = F.avg_pool2d(image[None], 3, stride=1, padding=1, count_include_pad=False)[0]
        image = torch.lerp(image, blurred, uniform(0.0, 1.0))
    return image.contiguous(), label.contiguous(), fov.contiguous()


class VesselDataModule(L.LightningDataModule):
    """Train/validate/test loaders over the manifests in `root`.

    `source` says how `prepare_data` creates missing manifests: `synthetic` generates the built-in
    dataset, `drive` indexes an unzipped DRIVE, and None expects you to have written them.
    """

    def __init__(
        self,
        root: str,
        name: str = "vessels",
        source: str | None = None,
        augment: bool = False,
        patch_size: int = 64,
        batch_size: int = 16,
        samples_per_epoch: int = 1600,
        num_workers: int | str = "auto",
        fixed_patches: bool = False,
        val_count: int = 4,
        generator_seed: int = 0,
        normalize: str = "dataset",
        normalization: dict | None = None,
        folds: int | None = None,
        fold: int = 0,
        camera: str = "drive",
        trained_with: dict | None = None,
    ) -> None:
        super().__init__()
        for key, value, least in (
            ("patch_size", patch_size, 1),
            ("batch_size", batch_size, 1),
            ("samples_per_epoch", samples_per_epoch, 1),
            ("num_workers", 0 if num_workers == "auto" else num_workers, 0),
            ("val_count", val_count, 1),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or value < least:
                raise DataError(f"data.{key}={value!r}: expected a whole number >= {least}.")
        if folds is not None and (
            isinstance(folds, bool) or not isinstance(folds, int) or folds < 2
        ):
            raise DataError(
                f"data.folds={folds!r}: expected null (the manifests' split) or K >= 2."
            )
        if isinstance(fold, bool) or not isinstance(fold, int) or not 0 <= fold < (folds or 1):
            allowed = f"0 to {folds - 1} (data.folds={folds})" if folds else "0 without data.folds"
            raise DataError(f"data.fold={fold!r}: expected {allowed}.")
        if source not in SOURCES:
            raise DataError(
                f"data.source={source!r}: expected synthetic (generate the built-in data), "
                "drive (index an unzipped DRIVE) or null (manifests you wrote)."
            )
        from data.synthetic import CAMERAS

        if camera not in CAMERAS:
            raise DataError(
                f"data.camera={camera!r}: expected {' or '.join(CAMERAS)} "
                "(the synthetic generator's photographs)."
            )
        self.root = Path(root)
        self.name = name
        self.source = source
        self.augment = augment
        self.patch_size = patch_size
        self.batch_size = batch_size
        self.samples_per_epoch = samples_per_epoch
        self.num_workers = num_workers
        self.fixed_patches = fixed_patches
        self.val_count = val_count
        self.generator_seed = generator_seed
        self.normalize = check_mode(normalize)
        # The training split's mean and std for normalize=dataset; None reads them from the
        # dataset folder.
        self.normalization = normalization
        self.folds = folds
        self.fold = fold
        self.camera = camera
        # The test split of another dataset is resized to the training FOV diameter.
        self.test_fov_diameter: float | None = None
        if trained_with is not None:
            self.feed_as_trained(trained_with)
        self._caches: dict[str, CachedImages] = {}

    def prepare_data(self) -> None:
        """Create the manifests if they are missing (generating or indexing the data first), and
        refuse an image listed in two splits (reading the manifests costs nothing). Existing
        manifests are never rewritten, except in a folder the synthetic generator made."""
        missing = [s for s in SPLITS if not manifest_path(self.root, s).is_file()]
        if self.source == "synthetic":
            from data.synthetic import outdated

            # Refuses a folder it did not make; one made by another version is generated again.
            if outdated(self.root, self.camera):
                missing = list(SPLITS)
        if not missing:
            leaks = split_leaks(
                self.root, {s: read_manifest(manifest_path(self.root, s)) for s in SPLITS}
            )
            if leaks:
                raise DataError("\n  ".join([f"{len(leaks)} split leak(s):", *leaks]))
            return
        if self.source is None:
            raise DataError(
                f"no {missing[0]}.txt manifest in {self.root}, and data.source is null. "
                "Write the manifests (one `image label fov` line per sample), or check data.root."
            )
        from data.prepare import prepare

        prepare(
            self.root,
            self.source,
            val_count=self.val_count,
            seed=self.generator_seed,
            camera=self.camera,
        )

    def samples(self, split: str) -> list[Sample]:
        """The samples of a split: its manifest's, or with `folds` K, fold `fold` of the training
        and validation samples together (sorted by image path, every K-th from the fold's
        position) for validation and the other folds for training. The test split is never
        touched."""
        if self.folds is None or split == "test":
            return read_manifest(manifest_path(self.root, split))
        pool = read_manifest(manifest_path(self.root, "train"))
        pool += read_manifest(manifest_path(self.root, "validate"))
        pool.sort(key=lambda sample: sample.image)
        if self.folds > len(pool):
            raise DataError(
                f"data.folds={self.folds}: the training and validation splits of {self.root} "
                f"hold {len(pool)} samples, fewer than one per fold."
            )
        held_out = pool[self.fold :: self.folds]
        return held_out if split == "validate" else [s for s in pool if s not in held_out]

    def cache(self, split: str) -> CachedImages:
        """The decoded images of a split, loaded on first use."""
        if split not in self._caches:
            if self.normalize == "dataset" and self.normalization is None:
                self.normalization = self.fold_statistics() or dataset_statistics(self.root)
            self._caches[split] = CachedImages(
                self.root, self.samples(split), self.normalize, self.normalization
            )
        return self._caches[split]

    def fold_statistics(self) -> dict[str, list[float]] | None:
        """With `folds`, the mean and std of this fold's training images (normalization.json
        holds the manifests' training split's, which includes this fold's validation images)."""
        if self.folds is None:
            return None
        decoded = [load_sample(self.root, sample) for sample in self.samples("train")]
        return pooled_statistics([d.image for d in decoded], [d.fov for d in decoded])

    def feed_as_trained(self, trained_with: dict) -> None:
        """Feed the model as it was trained (test.py): `trained_with` is what
        `training_statistics()` returned then (data_statistics.json). Its normalisation mode and
        mean and std; and for another dataset than the training one, its test images resized
        so their FOV diameter is the training images' (as predict.py does)."""
        missing = {"dataset", "normalize", "normalization", "fov_diameter"} - set(trained_with)
        if missing:
            raise DataError(
                f"the experiment's data_statistics.json lacks {', '.join(sorted(missing))}: it "
                "was written by an older version of data/data.py; train the experiment again."
            )
        self.normalize = check_mode(trained_with["normalize"])
        self.normalization = trained_with["normalization"]
        if trained_with["dataset"] != self.name:
            self.test_fov_diameter = trained_with["fov_diameter"]["median"]

    def training_statistics(self) -> dict:
        """{statistic: {min, median, max}} of the training images inside their field of view
        (data/photographs.py) and their labelled vessel fraction: what predict.py compares new
        photographs with; and the dataset's name, its `normalize` mode and the {mean, std}
        (`normalization`) that data.normalize=dataset feeds the model with, for test.py
        (`trained_with`) and predict.py to feed it the same."""
        from data.photographs import image_statistics, summarise

        train = self.cache("train")
        rows = []
        for image, label, fov in zip(train.images, train.labels, train.fovs, strict=True):
            row = image_statistics(image.permute(1, 2, 0).numpy(), fov[0].numpy())
            # The labelled share of vessels: what a prediction's vessel fraction is held against.
            row["vessel_fraction"] = float(label[fov].float().mean())
            rows.append(row)
        normalization = self.normalization or dataset_statistics(self.root)
        fed = {"dataset": self.name, "normalize": self.normalize, "normalization": normalization}
        return {**summarise(rows), **fed}

    def setup(self, stage: str) -> None:
        splits = {"fit": ["train", "validate"], "validate": ["validate"], "test": ["test"]}
        for split in splits.get(stage, []):
            self.cache(split)

    def train_dataloader(self) -> DataLoader:
        # samples_per_epoch is per process: under DDP the sampler splits the epoch among the N
        # processes, so it holds N times as many, and an epoch is the same number of optimiser
        # steps on any number of devices (each step then sees N times the batch).
        processes = self.trainer.world_size if self.trainer is not None else 1
        # trainer.overfit_batches (debug=overfit) replays the first batches: they must be the
        # same patches each time, unaugmented, for the loss to fall towards zero.
        overfit = bool(self.trainer is not None and self.trainer.overfit_batches)
        patches = TrainPatches(
            self.cache("train"),
            self.patch_size,
            self.samples_per_epoch * processes,
            self.augment and not overfit,
            fixed=self.fixed_patches or overfit,
        )
        # Patches are drawn at random already; shuffling the indices would add nothing.
        return self._loader(patches, self.batch_size, shuffle=False)

    def val_dataloader(self) -> DataLoader:
        return self._loader(FullImages(self.cache("validate")), batch_size=1, shuffle=False)

    def test_dataloader(self) -> DataLoader:
        test = FullImages(self.cache("test"), self.test_fov_diameter)
        return self._loader(test, batch_size=1, shuffle=False)

    def _loader(self, dataset: Dataset, batch_size: int, shuffle: bool) -> DataLoader:
        on_gpu = self.trainer is not None and self.trainer.accelerator.__class__.__name__ in (
            "CUDAAccelerator",
            "MPSAccelerator",
        )
        workers = loader_workers(self.num_workers, on_gpu)
        return DataLoader(
            dataset,
            batch_size=batch_size,
            shuffle=shuffle,
            num_workers=workers,
            persistent_workers=workers > 0,
            pin_memory=on_gpu,
        )


def loader_workers(num_workers: int | str, on_gpu: bool, cpus: int | None = None) -> int:
    """data.num_workers=auto: worker processes that cut and augment patches while a GPU steps
    (one per CPU this process may use, at most 8); none beside a CPU training, where patches cut
    from images in memory cost less than handing them between processes."""
    if num_workers != "auto":
        return int(num_workers)
    if not on_gpu:
        return 0
    import os

    available = cpus if cpus is not None else len(os.sched_getaffinity(0))
    return max(1, min(available, 8))

"""Photographs from the wild without a model: finding them, pairing labels by name, estimating
the field of view, tiling a large image, and the words of the shift report."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from data.manifest import DataError
from data.photographs import (
    estimate_fov,
    find_photographs,
    fov_diameter,
    image_statistics,
    pair_by_stem,
    read_photograph,
)
from utils.vessels.shift import NO_FOV, shift_flags, shift_summary
from utils.vessels.tiling import predict_tiled, tile_starts


def test_the_field_of_view_is_found_without_a_mask(dataset: Path) -> None:
    image = read_photograph(dataset / "test/images/01_test.tif")
    truth = np.array(Image.open(dataset / "test/mask/01_test_mask.gif")) > 127
    found = estimate_fov(image)
    assert (found & truth).sum() / (found | truth).sum() > 0.98
    assert fov_diameter(found) == pytest.approx(fov_diameter(truth), rel=0.02)
    assert not estimate_fov(np.zeros_like(image)).any(), "a black photograph has no FOV"
    grey = read_photograph(dataset / "test/mask/01_test_mask.gif")  # any PIL image: grey -> RGB
    assert grey.shape == (*truth.shape, 3)


def test_photographs_are_found_in_folders_globs_and_files(tmp_path: Path) -> None:
    for name in ("b.JPG", "a.png", "notes.txt"):
        (tmp_path / name).write_bytes(b"")
    assert [p.name for p in find_photographs(str(tmp_path))] == ["a.png", "b.JPG"]
    assert [p.name for p in find_photographs(str(tmp_path / "*.png"))] == ["a.png"]
    assert find_photographs(str(tmp_path / "a.png")) == [tmp_path / "a.png"]
    with pytest.raises(DataError, match="does not exist"):
        find_photographs(str(tmp_path / "missing"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="holds no photograph"):
        find_photographs(str(tmp_path / "empty"))


def test_labels_pair_by_name_and_strays_are_returned(tmp_path: Path) -> None:
    photos = [Path(name) for name in ("01_test.tif", "02_test.tif", "clinic-7.jpg")]
    labels = tmp_path / "labels"
    labels.mkdir()
    for name in ("01_manual1.gif", "clinic-7_vessels.png", "02_test.png", "99_manual1.gif"):
        (labels / name).write_bytes(b"")
    pairs, strays = pair_by_stem(photos, str(labels))
    assert {p.name: f.name for p, f in pairs.items()} == {
        "01_test.tif": "01_manual1.gif",  # the same leading token, held by one photograph
        "02_test.tif": "02_test.png",  # the same name
        "clinic-7.jpg": "clinic-7_vessels.png",  # the name, then `_`
    }
    assert [f.name for f in strays] == ["99_manual1.gif"]
    assert pair_by_stem(photos, None) == ({}, [])


def test_tiles_cover_the_image_and_bound_what_the_model_sees() -> None:
    assert tile_starts(100, 512, 32) == [0]
    assert tile_starts(1000, 512, 32) == [0, 480, 488]
    seen = []

    def pointwise(tile: torch.Tensor) -> torch.Tensor:
        seen.append(tuple(tile.shape[-2:]))
        return tile.mean(dim=1, keepdim=True)

    image = torch.rand(1, 3, 700, 1100)
    tiled = predict_tiled(pointwise, image, tile=256, overlap=16)
    assert torch.allclose(tiled, image.mean(dim=1, keepdim=True), atol=1e-6)
    assert max(max(shape) for shape in seen) == 256


def test_shift_flags_say_how_a_photograph_differs() -> None:
    reference = {"brightness": {"min": 80, "median": 100, "max": 120}}
    reference["sharpness"] = {"min": 2.0, "median": 3.0, "max": 4.0}
    reference["fov_diameter"] = {"min": 500, "median": 530, "max": 560}
    dark = {"brightness": 40.0, "sharpness": 3.0, "fov_diameter": 530.0}
    blurred = {"brightness": 100.0, "sharpness": 1.0, "fov_diameter": 530.0}
    assert shift_flags(dark, reference) == ["darker than any training image"]
    assert shift_flags(blurred, reference) == ["blurrier than any training image"]
    assert shift_flags({**dark, "fov_diameter": 0.0}, reference) == [NO_FOV]
    summary = shift_summary([shift_flags(s, reference) for s in (dark, dark, blurred, blurred)])
    assert "2 of 4 are darker than any training image" in summary
    assert "0 of 4 lie within" in summary
    assert "All 1 photographs" in shift_summary([[]])


def test_statistics_move_the_way_their_names_say(dataset: Path) -> None:
    image = read_photograph(dataset / "test/images/01_test.tif")
    fov = np.array(Image.open(dataset / "test/mask/01_test_mask.gif")) > 127
    plain = image_statistics(image, fov)
    darker = image_statistics((image * 0.5).astype(np.uint8), fov)
    blurred = image_statistics(
        np.array(Image.fromarray(image).resize((141, 146)).resize(image.shape[1::-1])), fov
    )
    assert darker["brightness"] < 0.6 * plain["brightness"]
    assert blurred["sharpness"] < 0.7 * plain["sharpness"]
    assert plain["fov_coverage"] == pytest.approx(fov.mean())

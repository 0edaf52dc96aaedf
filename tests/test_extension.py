"""The README's extension points, done as a user would in a fresh copy of the repository: a new
model is one file in src/ and one in conf/model/, a new dataset is one folder of manifests and one
file in conf/data/, and both train and test through the normal command line with no other change.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import copy_repository, script_env

pytestmark = pytest.mark.slow

NEW_NET = '''"""A two-layer convolutional net: the smallest model that can learn vessels."""

from torch import nn


class TinyNet(nn.Module):
    def __init__(self, in_channels: int = 3, width: int = 8) -> None:
        super().__init__()
        self.layers = nn.Sequential(
            nn.Conv2d(in_channels, width, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(width, 1, 3, padding=1),
        )

    def forward(self, image):
        return self.layers(image)
'''

NEW_MODEL_CONFIG = """# conf/model/unet.yaml copied, with net._target_ pointed at the new file.
_target_: src.segmenter.Segmenter
name: tiny
net:
  _target_: src.tiny_net.TinyNet
  width: 8
loss:
  _target_: utils.loss.BCEDiceLoss
optimizer:
  _target_: torch.optim.Adam
  _partial_: true
  lr: 1.0e-3
"""

NEW_DATA_CONFIG = """# Our own dataset: manifests in data/clinic/, any file layout and format.
defaults:
  - manifests
  - _self_
name: clinic
"""


def write_clinic_dataset(source: Path, root: Path) -> None:
    """Re-file a DRIVE-layout dataset as flat PNG folders with manifests, like a user's own."""
    from PIL import Image

    from data.manifest import SPLITS, manifest_path, read_manifest

    for split in SPLITS:
        lines = []
        for index, sample in enumerate(read_manifest(manifest_path(source, split))):
            paths = []
            for kind, relative in (
                ("img", sample.image),
                ("vessel", sample.label),
                ("roi", sample.fov),
            ):
                target = f"{kind}/{split}_{index}.png"
                (root / kind).mkdir(parents=True, exist_ok=True)
                Image.open(source / relative).save(root / target)
                paths.append(target)
            lines.append(" ".join(paths))
        (root / f"{split}.txt").write_text("\n".join(lines) + "\n")


def test_new_model_and_dataset_need_only_their_own_files(tmp_path: Path, dataset: Path) -> None:
    repo = copy_repository(tmp_path / "fork")
    (repo / "src/tiny_net.py").write_text(NEW_NET)
    (repo / "conf/model/tiny.yaml").write_text(NEW_MODEL_CONFIG)
    (repo / "conf/data/clinic.yaml").write_text(NEW_DATA_CONFIG)
    write_clinic_dataset(dataset, repo / "data/clinic")

    def run(*command: str) -> None:
        done = subprocess.run(
            [sys.executable, *command],
            cwd=repo,
            env=script_env({"PYTHONPATH": str(repo)}),
            capture_output=True,
            text=True,
        )
        assert done.returncode == 0, f"{command}:\n{done.stdout}\n{done.stderr}"

    run("train.py", "model=tiny", "data=clinic", "debug=fast", "exp_name=mine")
    run("test.py", "exp_name=mine")
    metrics = json.loads((repo / "experiment/mine/result/metrics.json").read_text())
    assert metrics["images"] == 2 and 0.0 <= metrics["f1"] <= 1.0
    assert (repo / "experiment/mine/result/predictions/test_0.png").is_file()

    changed = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=all"],
        cwd=repo,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    modified = [line for line in changed if not line.startswith("??")]
    assert modified == [], "no tracked file had to change"

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

from tests.conftest import GIT_USER, cli_env, copy_repository, script_env

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


# A third task, image classification, added by a fork beside the worked example: a model, a data
# module, a result writer and four config files. Nothing the template tracks is edited.
SHAPE_CLASSIFIER = '''"""Bright or dark shapes: the LightningModule of a classification task."""

import lightning as L
import torch
from torch import nn
from torch.nn import functional as F
from torchmetrics.classification import BinaryAccuracy


class ShapeClassifier(L.LightningModule):
    def __init__(self, name: str = "cnn", width: int = 8, lr: float = 0.01) -> None:
        super().__init__()
        self.name, self.lr = name, lr
        self.net = nn.Sequential(
            nn.Conv2d(1, width, 3, padding=1),
            nn.ReLU(),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
            nn.Linear(width, 1),
        )
        self.val_accuracy, self.test_accuracy = BinaryAccuracy(), BinaryAccuracy()

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.net(images)[:, 0]

    def training_step(self, batch, batch_idx):
        loss = F.binary_cross_entropy_with_logits(self(batch[0]), batch[1])
        self.log("train/loss", loss)
        return loss

    def validation_step(self, batch, batch_idx):
        self.val_accuracy(self(batch[0]).sigmoid(), batch[1])
        self.log("val/accuracy", self.val_accuracy)

    def test_step(self, batch, batch_idx):
        probs = self(batch[0]).sigmoid()
        self.test_accuracy(probs, batch[1])
        self.log("test/accuracy", self.test_accuracy)
        return probs

    def configure_optimizers(self):
        return torch.optim.Adam(self.parameters(), lr=self.lr)
'''

SHAPES_DATA = '''"""A tiny generated set of bright and dark squares on noise, classes 1 and 0."""

import lightning as L
import torch
from torch.utils.data import DataLoader, TensorDataset


class ShapesDataModule(L.LightningDataModule):
    def __init__(
        self, root: str, name: str = "shapes", count: int = 64, trained_with: dict | None = None
    ) -> None:
        super().__init__()
        self.root, self.name, self.count = root, name, count
        self.trained_with = trained_with

    def split(self, seed: int) -> TensorDataset:
        generator = torch.Generator().manual_seed(seed)
        labels = (torch.rand(self.count, generator=generator) > 0.5).float()
        images = 0.3 * torch.rand(self.count, 1, 16, 16, generator=generator)
        images[:, :, 4:12, 4:12] += 0.2 + 0.5 * labels[:, None, None, None]
        return TensorDataset(images, labels)

    def training_statistics(self) -> dict:
        return {"mean": float(self.split(0).tensors[0].mean())}

    def train_dataloader(self):
        return DataLoader(self.split(0), batch_size=16, shuffle=True)

    def val_dataloader(self):
        return DataLoader(self.split(1), batch_size=16)

    def test_dataloader(self):
        return DataLoader(self.split(2), batch_size=16)
'''

ACCURACY_WRITER = '''"""What test.py writes for the shapes task: accuracy, probabilities."""

import json
from pathlib import Path

import lightning as L


class AccuracyWriter(L.Callback):
    def __init__(self, metrics: str, results_dir: str) -> None:
        self.metrics, self.table = Path(metrics), Path(results_dir) / "probabilities.txt"
        self.probabilities: list[float] = []

    def on_test_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0):
        self.probabilities += outputs.tolist()

    def on_test_end(self, trainer, pl_module):
        accuracy = float(trainer.callback_metrics["test/accuracy"])
        scores = {"accuracy": accuracy, "images": len(self.probabilities)}
        self.metrics.write_text(json.dumps(scores))
        self.table.write_text("\\n".join(f"{p:.4f}" for p in self.probabilities) + "\\n")
'''

SHAPES_CONFIGS = {
    "conf/model/cnn.yaml": """# A small CNN for the shapes task.
_target_: src.shape_classifier.ShapeClassifier
name: cnn
width: 8
lr: 0.01
""",
    "conf/data/shapes.yaml": """# The generated shapes, made in memory.
_target_: data.shapes.ShapesDataModule
name: shapes
root: ${paths.data_dir}/shapes
count: 64
""",
    "conf/task/shapes.yaml": """# Classification: judged by accuracy, named by model and data alone.
name: shapes
monitor: val/accuracy
mode: max
scores:
  val accuracy: val/accuracy
  test accuracy: accuracy
name_parts: {}
result_writer:
  _target_: utils.shapes.AccuracyWriter
""",
}


def test_a_new_task_needs_only_its_own_files(tmp_path: Path) -> None:
    """A classification task trains, tests, is reported and listed on its own branch, and runs
    through the DVC pipeline, with nothing the template tracks changed."""
    repo = copy_repository(tmp_path / "fork")
    for relative, text in {
        "src/shape_classifier.py": SHAPE_CLASSIFIER,
        "data/shapes.py": SHAPES_DATA,
        "utils/shapes.py": ACCURACY_WRITER,
        **SHAPES_CONFIGS,
    }.items():
        (repo / relative).write_text(text)
    choices = ["task=shapes", "model=cnn", "data=shapes"]

    def run(*command: str) -> str:
        done = subprocess.run(
            command if command[0] in ("git", "dvc") else [sys.executable, *command],
            cwd=repo,
            env=script_env({"PYTHONPATH": str(repo)}),
            capture_output=True,
            text=True,
        )
        assert done.returncode == 0, f"{command}:\n{done.stdout}\n{done.stderr}"
        return done.stdout

    run("-m", "bookkeeping.branch", "new", *choices)
    assert run("git", "branch", "--show-current").strip() == "TEMP_CNN_SHAPES"
    run("git", *GIT_USER, "add", "-A")
    run("git", *GIT_USER, "commit", "-qm", "the shapes task")

    run("train.py", *choices, "trainer.max_epochs=2", "logger=csv")
    run("test.py")
    folder = repo / "experiment/TEMP_CNN_SHAPES"
    metrics = json.loads((folder / "result/metrics.json").read_text())
    assert metrics["images"] == 64 and 0.0 <= metrics["accuracy"] <= 1.0
    assert len((folder / "result/probabilities.txt").read_text().split()) == 64
    assert (folder / "model/best.ckpt").is_file(), "best.ckpt follows the task's val/accuracy"

    report = run("-m", "bookkeeping.report")
    header, *rows = report.splitlines()
    assert "test accuracy" in header and "test F1" not in header, report
    [row] = [row for row in rows if row.startswith("TEMP_CNN_SHAPES")]
    assert f"{metrics['accuracy']:.4f}" in row and "shapes" in row, report
    listed = run("-m", "bookkeeping.branch", "list")
    assert f"accuracy {metrics['accuracy']:.4f}" in listed, listed

    # The pipeline, for the new task, in a temporary copy of the committed fork: the workspace
    # (params.yaml included) stays as it is.
    settings = [*choices, "data_root=data/shapes", 'overrides="trainer.max_epochs=2"']
    done = subprocess.run(
        ["dvc", "exp", "run", "--temp", *(f"-S{setting}" for setting in settings)],
        cwd=repo,
        env=cli_env(),
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, f"dvc exp run:\n{done.stdout}\n{done.stderr}"
    shown = subprocess.run(
        ["dvc", "exp", "show", "--json"], cwd=repo, env=cli_env(), capture_output=True, text=True
    )
    runs = [run for row in json.loads(shown.stdout) for run in row.get("experiments") or []]
    scored = [
        exp["revs"][0]["data"]["metrics"]["experiment/pipeline/result/metrics.json"]["data"]
        for exp in runs
    ]
    assert len(scored) == 1 and 0.0 <= scored[0]["accuracy"] <= 1.0, shown.stdout

    changed = run("git", "diff", "--name-only", "--diff-filter=MDR", "main")
    assert changed == "", f"the fork changed files of the template: {changed}"

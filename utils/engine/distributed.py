"""Processes started together by torchrun or srun: they join at once, and stop together.

When a launcher outside Lightning starts every rank (`torchrun --nproc_per_node=2 train.py ...`,
`srun --ntasks-per-node=2 python train.py ...`, a SLURM job of several tasks), each process runs
train.py from the top, and rank 0 alone checks and claims the experiment folder. A mistake that
stops rank 0 before training would leave the others waiting in Lightning's rendezvous for its
timeout (30 minutes, a GPU held all along). So these processes join one process group first
(Lightning then uses it as its own), and each `every_rank_or_none()` block ends on all of them
together: if any rank raised, every rank stops, and the lowest failing rank alone says why.

Lightning's own launcher (`trainer=ddp_cpu` from one command) starts its copies only inside
`trainer.fit`, after every check has passed: there these functions do nothing.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager


def launched_together() -> bool:
    """True when torchrun or srun started this process as one of several."""
    # Environment variables first: importing Lightning costs seconds, and most runs are one process.
    if "TORCHELASTIC_RUN_ID" in os.environ:
        return int(os.environ.get("WORLD_SIZE", "1")) > 1
    if int(os.environ.get("SLURM_NTASKS", "1")) > 1:
        from lightning.fabric.plugins.environments import SLURMEnvironment

        return SLURMEnvironment.detect()
    return False


def join_ranks() -> None:
    """Join the process group of the processes started together (a no-op for one process)."""
    import torch
    import torch.distributed as dist

    if dist.is_initialized() or not launched_together():
        return
    from lightning.fabric.plugins.environments import SLURMEnvironment, TorchElasticEnvironment

    env = SLURMEnvironment() if SLURMEnvironment.detect() else TorchElasticEnvironment()
    # CPU tensors (these agreements) over gloo; CUDA tensors (training) over NCCL, as Lightning.
    backend = "cpu:gloo,cuda:nccl" if torch.cuda.is_available() else "gloo"
    dist.init_process_group(
        backend,
        init_method=f"tcp://{env.main_address}:{env.main_port}",
        rank=env.global_rank(),
        world_size=env.world_size(),
    )


def global_rank(devices_per_node: object = 1) -> int:
    """This process's rank among all, before Lightning knows it: from the process group, the
    launcher's variables, or NODE_RANK for nodes started by hand with Lightning's launcher
    (whose first process on node N has no RANK yet)."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        return dist.get_rank()
    for key in ("RANK", "SLURM_PROCID"):
        if key in os.environ:
            return int(os.environ[key])
    per_node = devices_per_node if isinstance(devices_per_node, int) and devices_per_node > 0 else 1
    return int(os.environ.get("NODE_RANK", 0)) * per_node + local_rank()


def local_rank() -> int:
    """This process's rank on its machine."""
    for key in ("LOCAL_RANK", "SLURM_LOCALID"):
        if key in os.environ:
            return int(os.environ[key])
    return 0


@contextmanager
def every_rank_or_none() -> Iterator[None]:
    """Run a block that every process of the group runs; it ends on all of them at once. If any
    raised, every process stops: the lowest failing rank re-raises its error (the one-line
    message), the others exit with status 1 and say nothing more."""
    import torch
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()):
        yield
        return
    rank, world = dist.get_rank(), dist.get_world_size()

    def failed_ranks(failed: bool) -> list[int]:
        flags = torch.zeros(world, dtype=torch.int32)
        flags[rank] = int(failed)
        dist.all_reduce(flags)
        return [r for r in range(world) if flags[r]]

    try:
        yield
    except BaseException:
        failed = failed_ranks(True)
        dist.destroy_process_group()
        if failed[0] != rank:
            raise SystemExit(1) from None
        raise
    if failed_ranks(False):
        dist.destroy_process_group()
        raise SystemExit(1)

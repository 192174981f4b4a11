"""Checkpoint folders of a run: their names, ``train_state.json``, which one a run resumes from, digests.

A checkpoint is ``<run_dir>/checkpoints/step_XXXXXX/``: what ``accelerator.save_state`` writes (networks,
EMA copies, optimizers, schedulers, gradient scaler, every process's RNG states) plus :data:`STATE_NAME`, the
loop's own state (iteration, data position, training time). It is written as ``step_XXXXXX.partial`` and
renamed once complete, so a folder without the ``.partial`` suffix and with :data:`STATE_NAME` is whole. The
Accelerate calls stay in the loop; this module holds the file-system side.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import Any

import torch
from torch import nn

from faceforge.training.config import ConfigError

CHECKPOINT_PREFIX = "step_"
STATE_NAME = "train_state.json"


def checkpoint_dir(run_dir: str | os.PathLike, step: int) -> Path:
    """The folder of the checkpoint after iteration ``step``."""
    return Path(run_dir) / "checkpoints" / f"{CHECKPOINT_PREFIX}{step:06d}"


def checkpoint_step(path: Path) -> int | None:
    """The iteration of a ``step_XXXXXX`` folder name, or None for any other name."""
    digits = path.name.removeprefix(CHECKPOINT_PREFIX)
    return int(digits) if path.name.startswith(CHECKPOINT_PREFIX) and digits.isdigit() else None


def list_checkpoints(run_dir: str | os.PathLike) -> list[Path]:
    """Complete checkpoints of a run, oldest first."""
    folder = Path(run_dir) / "checkpoints"
    if not folder.is_dir():
        return []
    found = [p for p in folder.iterdir() if checkpoint_step(p) is not None and (p / STATE_NAME).is_file()]
    return sorted(found, key=checkpoint_step)


def resume_checkpoint(run_dir: Path, resume: str) -> Path | None:
    """The checkpoint a run with ``resume`` (``""``, ``"latest"`` or a folder) starts from, or None.

    Raises:
        ConfigError: a fresh run over existing checkpoints, a folder that is no complete checkpoint, or a
            folder older than checkpoints already in ``run_dir`` (resuming would overwrite them).
    """
    existing = list_checkpoints(run_dir)
    if not resume:
        if existing:
            raise ConfigError(f"{run_dir} already holds checkpoints ({existing[-1].name}); pass "
                              f"--resume to continue that run, or choose another output_dir")
        return None
    if resume == "latest":
        return existing[-1] if existing else None
    path = Path(resume)
    if not (path / STATE_NAME).is_file():
        raise ConfigError(f"{path} is not a complete checkpoint folder (no {STATE_NAME})")
    step = read_train_state(path)["step"]
    newer = [p.name for p in existing if checkpoint_step(p) > step]
    if newer:
        raise ConfigError(f"{run_dir} holds checkpoints newer than {path.name} "
                          f"({', '.join(newer)}); resume from {path} into another output_dir, "
                          f"or delete them")
    return path


def read_train_state(checkpoint: Path) -> dict[str, Any]:
    """The loop's state saved in a checkpoint: ``step``, ``data`` (position), ``total``, ``batch_size``,
    ``processes``, ``task`` and ``seconds`` (training time so far)."""
    return json.loads((checkpoint / STATE_NAME).read_text())


def write_train_state(checkpoint: Path, state: dict[str, Any]) -> None:
    (checkpoint / STATE_NAME).write_text(json.dumps(state, indent=2) + "\n")


def remove_partial_checkpoints(run_dir: Path) -> None:
    """Delete ``.partial`` folders, left by a run killed while saving."""
    for partial in (run_dir / "checkpoints").glob(f"{CHECKPOINT_PREFIX}*.partial"):
        shutil.rmtree(partial, ignore_errors=True)


def complete_checkpoint(partial: Path, final: Path, *, run_dir: Path, keep: int) -> None:
    """Rename a written ``.partial`` folder to ``final``, then keep only the newest ``keep`` (0: all)."""
    shutil.rmtree(final, ignore_errors=True)
    os.replace(partial, final)
    for old in list_checkpoints(run_dir)[:-keep] if keep else []:
        shutil.rmtree(old, ignore_errors=True)


def weights_digest(modules: dict[str, nn.Module]) -> str:
    """SHA-256 over the state dicts (names, dtypes, shapes, bytes) of ``modules``."""
    digest = hashlib.sha256()
    for name in sorted(modules):
        for key, tensor in sorted(modules[name].state_dict().items()):
            t = tensor.detach().cpu().contiguous()
            digest.update(f"{name}.{key}:{t.dtype}:{tuple(t.shape)}".encode())
            digest.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()

"""Checkpoint folders of a run: what they hold, how they are written and read back, which one a run resumes.

A checkpoint is ``<run_dir>/checkpoints/step_XXXXXX/``, written by faceforge's own code in safetensors and
JSON only (:mod:`~faceforge.training.state`); nothing in it is a pickle and nothing is unpickled on resume::

    model.safetensors                 weights of the first trained network (``networks[0]`` below), as its
    model_1.safetensors, ...          ``state_dict()``; ``model_<i>`` holds ``networks[i]`` (networks that no
                                      optimizer trains are the task's to rebuild and are not saved)
    ema_<network>.safetensors         the EMA copy of ``<network>`` (runs with ``ema_decay > 0``)
    optimizers.json                   {"optimizers": {name: state_dict}, "schedulers": {name: state_dict},
                                      "scaler": the fp16 gradient scaler's state_dict or null}: everything
                                      but the tensors (param groups, hyper-parameters, LR schedule counters,
                                      the loss scale), tensors referenced as {"__tensor__": key}
    optimizers.safetensors            those tensors: the optimizers' per-parameter state (Adam's step, exp_avg,
                                      exp_avg_sq), keys like ``optimizers.g.state.0.exp_avg``
    random_states_<rank>.json         process ``<rank>``'s python ``random`` state and numpy's position,
                                      Gaussian cache and algorithm
    random_states_<rank>.safetensors  its torch CPU generator state and every CUDA device's (or the MPS
                                      one's), uint8, and numpy's 624 MT19937 key words (int64)
    train_state.json                  written last: ``format``, ``step`` (iterations done), ``data`` (epoch and
                                      batches consumed: the sampler position), ``total``, ``batch_size``,
                                      ``processes``, ``task``, ``seconds`` (training time so far), ``networks``
                                      and ``ema`` (the network names of the files above) and ``files`` (every
                                      other file's size and SHA-256)

Every process writes its own ``random_states_<rank>``; the main process writes the rest. The folder is
written as ``step_XXXXXX.partial`` and renamed once complete, so a folder without the suffix that holds
:data:`STATE_NAME` is whole. Reading checks each file against its size and SHA-256 before parsing it, so a
truncated, edited or missing file makes the checkpoint :class:`CorruptCheckpoint` (``resume=latest`` then
moves it aside as ``step_XXXXXX.corrupt`` and falls back to the previous one). Files the manifest does not
list are never opened. The Accelerate calls (which process writes, barriers) stay in the loop.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
import shutil
from pathlib import Path
from typing import Any

import torch
from torch import nn

from faceforge.training import state as st
from faceforge.training.config import ConfigError

CHECKPOINT_PREFIX = "step_"
STATE_NAME = "train_state.json"
FORMAT = "faceforge-checkpoint/1"  # train_state.json's "format": safetensors + JSON, this layout
OPTIMIZERS_STEM = "optimizers"
_SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")


class CorruptCheckpoint(Exception):
    """A checkpoint folder that cannot be read back (a missing, truncated or altered file); the message says
    which file and why."""


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


def resume_candidates(run_dir: Path, resume: str) -> list[Path]:
    """The checkpoints a run with ``resume`` tries, in order: none for ``""`` (a fresh run), every complete
    checkpoint of ``run_dir``, newest first, for ``"latest"`` (none: a fresh run), or the named folder.

    Raises:
        ConfigError: a fresh run over existing checkpoints, a folder that is no complete or readable
            checkpoint, or a folder older than checkpoints already in ``run_dir`` (resuming would overwrite them).
    """
    existing = list_checkpoints(run_dir)
    if not resume:
        if existing:
            raise ConfigError(f"{run_dir} already holds checkpoints ({existing[-1].name}); pass "
                              f"--resume to continue that run, or choose another output_dir")
        return []
    if resume == "latest":
        return existing[::-1]
    path = Path(resume)
    if not (path / STATE_NAME).is_file():
        raise ConfigError(f"{path} is not a complete checkpoint folder (no {STATE_NAME})")
    try:
        step = int(read_train_state(path)["step"])
    except (CorruptCheckpoint, KeyError, TypeError, ValueError) as err:
        raise ConfigError(f"cannot resume from {path}: it is corrupt ({err})") from err
    newer = [p.name for p in existing if checkpoint_step(p) > step]
    if newer:
        raise ConfigError(f"{run_dir} holds checkpoints newer than {path.name} "
                          f"({', '.join(newer)}); resume from {path} into another output_dir, "
                          f"or delete them")
    return [path]


def read_train_state(checkpoint: Path) -> dict[str, Any]:
    """The loop's state saved in a checkpoint (:data:`STATE_NAME`, see the module docstring).

    Raises:
        CorruptCheckpoint: the file is missing or no JSON object.
    """
    try:
        state = st.parse_json((checkpoint / STATE_NAME).read_bytes(), STATE_NAME)
    except OSError as err:
        raise CorruptCheckpoint(f"{STATE_NAME} cannot be read ({err.strerror or err})") from err
    except st.StateError as err:
        raise CorruptCheckpoint(str(err)) from err
    if not isinstance(state, dict):
        raise CorruptCheckpoint(f"{STATE_NAME} holds {type(state).__name__}, not an object")
    return state


# --- writing --------------------------------------------------------------------------------------------------
def network_file(index: int) -> str:
    """The weights file of the ``index``-th trained network (Accelerate's names: ``model.safetensors``,
    ``model_1.safetensors``, ...)."""
    return "model.safetensors" if index == 0 else f"model_{index}.safetensors"


def ema_file(network: str) -> str:
    """The file of ``network``'s EMA copy.

    Raises:
        ValueError: a network name that cannot be part of a file name.
    """
    if not _SAFE_NAME.fullmatch(network):
        raise ValueError(f"network {network!r} has an EMA copy, so its name must be letters, digits, '_', "
                         f"'-' or '.' (it names the checkpoint file ema_<network>.safetensors)")
    return f"ema_{network}.safetensors"


def rng_stem(rank: int) -> str:
    return f"random_states_{rank}"


def save_shared_state(folder: Path, *, networks: dict[str, nn.Module], ema: dict[str, nn.Module],
                      optimizers: dict[str, torch.optim.Optimizer], schedulers: dict[str, Any],
                      scaler: Any = None) -> None:
    """Write what all processes share (main process): networks, EMA copies, optimizers, schedulers, scaler.

    ``networks`` and ``ema`` must be listed in the same order in ``train_state.json`` (:func:`write_train_state`).
    """
    for i, module in enumerate(networks.values()):
        st.save_tensors(module.state_dict(), folder / network_file(i))
    for name, module in ema.items():
        st.save_tensors(module.state_dict(), folder / ema_file(name))
    tree = {"optimizers": {k: o.state_dict() for k, o in optimizers.items()},
            "schedulers": {k: s.state_dict() for k, s in schedulers.items()},
            "scaler": scaler.state_dict() if scaler is not None else None}
    st.save_tree(tree, folder, OPTIMIZERS_STEM)


def save_random_states(folder: Path, rank: int) -> None:
    """Write this process's RNG states (every process, each its own ``random_states_<rank>``)."""
    st.save_tree(st.rng_state(), folder, rng_stem(rank))


def write_train_state(folder: Path, state: dict[str, Any]) -> None:
    """Write :data:`STATE_NAME` with ``state``, the format and the size and SHA-256 of every other file in
    ``folder``; call it once every process has written its files."""
    files = {}
    for path in sorted(folder.iterdir()):
        if path.name != STATE_NAME and path.is_file():
            with open(path, "rb") as f:
                digest = hashlib.file_digest(f, "sha256").hexdigest()
            files[path.name] = {"bytes": path.stat().st_size, "sha256": digest}
    text = json.dumps({"format": FORMAT, **state, "files": files}, indent=2, allow_nan=False)
    (folder / STATE_NAME).write_text(text + "\n")


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


def move_aside(checkpoint: Path) -> Path:
    """Rename a corrupt checkpoint to ``step_XXXXXX.corrupt`` (``.corrupt.1``, ... when taken), so that no
    resume picks it again and the files stay there to look at; returns the new path."""
    target, n = checkpoint.with_name(checkpoint.name + ".corrupt"), 0
    while target.exists():
        n += 1
        target = checkpoint.with_name(f"{checkpoint.name}.corrupt.{n}")
    os.replace(checkpoint, target)
    return target


# --- reading --------------------------------------------------------------------------------------------------
@dataclasses.dataclass
class Checkpoint:
    """A checkpoint read into memory (CPU tensors) and checked, ready for the loop to apply."""

    path: Path
    state: dict[str, Any]  # train_state.json
    networks: dict[str, dict[str, torch.Tensor]]  # by network name, in the order of state["networks"]
    ema: dict[str, dict[str, torch.Tensor]]
    optimizers: dict[str, Any]  # state dicts by optimizer name
    schedulers: dict[str, Any]
    scaler: dict[str, Any] | None
    rng: dict[str, Any] | None  # this process's RNG states; None when the run had fewer processes


def read_checkpoint(path: Path, *, rank: int = 0) -> Checkpoint:
    """Read and check everything process ``rank`` restores from ``path``, changing nothing yet.

    Raises:
        CorruptCheckpoint: a file is missing, truncated, altered or malformed (the message names it).
        ConfigError: a checkpoint of another format (one written by Accelerate's ``save_state``, whose
            pickles faceforge does not load).
    """
    state = read_train_state(path)
    if state.get("format") != FORMAT:
        if "format" not in state and "step" in state:
            raise ConfigError(f"{path} was written by an earlier faceforge with Accelerate's save_state, whose "
                              f"optimizer, scheduler and RNG files are pickles; faceforge resumes only from "
                              f"safetensors + JSON checkpoints: start a fresh run")
        raise ConfigError(f"{path} has checkpoint format {state.get('format')!r}; this faceforge reads {FORMAT!r}")
    manifest = state.get("files")
    if not isinstance(manifest, dict):
        raise CorruptCheckpoint(f"{STATE_NAME} has no 'files' manifest")

    def read(name: str) -> bytes:
        entry = manifest.get(name)
        if not isinstance(entry, dict):
            raise CorruptCheckpoint(f"{name} is not listed in {STATE_NAME}")
        try:
            data = (path / name).read_bytes()
        except OSError as err:
            raise CorruptCheckpoint(f"{name} cannot be read ({err.strerror or err})") from err
        if len(data) != entry.get("bytes"):
            raise CorruptCheckpoint(f"{name} has {len(data)} bytes, {entry.get('bytes')} were written "
                                    f"(truncated or replaced)")
        if hashlib.sha256(data).hexdigest() != entry.get("sha256"):
            raise CorruptCheckpoint(f"{name} does not match the SHA-256 recorded when it was written")
        return data

    def tree(stem: str) -> Any:
        encoded = st.parse_json(read(f"{stem}.json"), f"{stem}.json")
        tensors = read(f"{stem}.safetensors") if f"{stem}.safetensors" in manifest else None
        return st.parse_tree(encoded, tensors, stem)

    try:
        names, ema_names = state["networks"], state["ema"]
        int(state["step"]), int(state["data"]["epoch"]), int(state["data"]["position"])
        if not all(isinstance(n, str) for n in [*names, *ema_names]):
            raise TypeError("network names must be strings")
        networks = {n: st.parse_tensors(read(network_file(i)), network_file(i)) for i, n in enumerate(names)}
        ema = {n: st.parse_tensors(read(ema_file(n)), ema_file(n)) for n in ema_names}
        optim = tree(OPTIMIZERS_STEM)
        if not (isinstance(optim, dict) and isinstance(optim.get("optimizers"), dict)
                and isinstance(optim.get("schedulers"), dict) and isinstance(optim.get("scaler"), (dict, type(None)))):
            raise st.StateError(f"{OPTIMIZERS_STEM}.json does not hold optimizers, schedulers and scaler")
        rng = None
        if f"{rng_stem(rank)}.json" in manifest or rank < int(state["processes"]):
            rng = tree(rng_stem(rank))
            st.check_rng_state(rng)
    except st.StateError as err:
        raise CorruptCheckpoint(str(err)) from err
    except (KeyError, TypeError, ValueError) as err:
        raise CorruptCheckpoint(f"{STATE_NAME} is malformed ({type(err).__name__}: {err})") from err
    return Checkpoint(path=path, state=state, networks=networks, ema=ema, optimizers=optim["optimizers"],
                      schedulers=optim["schedulers"], scaler=optim["scaler"], rng=rng)


def weights_digest(modules: dict[str, nn.Module]) -> str:
    """SHA-256 over the state dicts (names, dtypes, shapes, bytes) of ``modules``."""
    digest = hashlib.sha256()
    for name in sorted(modules):
        for key, tensor in sorted(modules[name].state_dict().items()):
            t = tensor.detach().cpu().contiguous()
            digest.update(f"{name}.{key}:{t.dtype}:{tuple(t.shape)}".encode())
            digest.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()

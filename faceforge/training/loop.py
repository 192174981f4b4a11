"""The one training loop: :func:`train` runs any :class:`~faceforge.training.task.Task` with Accelerate.

Per iteration it draws ``grad_accum`` micro-batches, runs each due step over them (forward under autocast,
backward, clipping, optimizer and scheduler step, EMA), and on its cadences logs, writes sample grids,
evaluates and checkpoints. The same code runs on one CPU, one GPU or several processes (``torchrun`` /
``accelerate launch``); every process draws its own shard of each global batch.

Outputs, all under ``run.run_dir`` (``runs/<task>`` by default)::

    config.yaml                      the resolved run config
    log.jsonl                        one JSON object per log / eval line (main process); a resumed run
                                     appends after a {"event": "resume"} line
    checkpoints/step_000100/         accelerator.save_state + train_state.json (step and data position)
    samples/step_000100.png          sample grids
    tensorboard/                     tracker logs (trackers=auto and TensorBoard installed)
    model/                           the exported network: config.json, model.safetensors, README.md
    train_summary.json               final step, metrics, throughput, each process's weight digest

Checkpoints are written every ``checkpoint_every`` iterations, at the end, and when SIGINT or SIGTERM
arrives (the current iteration finishes first, then :class:`TrainingInterrupted` is raised). A checkpoint
folder appears only once complete (it is written as ``.partial`` and renamed), so a killed run loses at most
the iterations since the last checkpoint. ``resume`` restores the networks, EMA copies, optimizers,
schedulers, gradient scaler, every process's RNG states and the data position, so a resumed run continues
with exactly the batches and random draws the uninterrupted run would have used (same process count and
batch size; samples are loaded with their own seeds, see :class:`SeededSamples`).
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import hashlib
import json
import logging
import math
import os
import platform
import shlex
import sys
import random
import shutil
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
from accelerate import Accelerator
from accelerate.utils import DistributedDataParallelKwargs, gather_object, send_to_device, set_seed
from torch import nn
from torch.utils.data import DataLoader, Dataset, Sampler

from faceforge.modeling import FaceForgeModel
from faceforge.training.config import ConfigError, RunConfig, save_config
from faceforge.training.task import Step, Task

logger = logging.getLogger("faceforge.training")

CHECKPOINT_PREFIX = "step_"
STATE_NAME = "train_state.json"


class TrainingInterrupted(RuntimeError):
    """SIGINT/SIGTERM stopped the run after a checkpoint was written; ``--resume`` continues it."""

    def __init__(self, signum: int, step: int, checkpoint: Path):
        self.signum, self.step, self.checkpoint = signum, step, checkpoint
        super().__init__(f"{signal.Signals(signum).name} received: stopped after iteration {step}, "
                         f"checkpoint {checkpoint}; continue with --resume")


@dataclasses.dataclass
class TrainResult:
    """What :func:`train` returns: the final iteration, metrics and paths, the task (its ``nets`` unwrapped)
    and the EMA copies by network name."""

    step: int
    run_dir: Path
    model_dir: Path | None
    metrics: dict[str, float]
    summary: dict[str, Any]
    task: Task
    ema: dict[str, nn.Module]


# --- EMA ----------------------------------------------------------------------------------------------------
class EMA:
    """Exponential moving average of a network's parameters (buffers are copied).

    After each update of the source network: ``ema = decay * ema + (1 - decay) * param``.
    """

    def __init__(self, module: nn.Module, decay: float):
        if not 0 <= decay < 1:
            raise ValueError(f"decay must be in [0, 1), got {decay}")
        self.decay = decay
        self.module = copy.deepcopy(module).eval().requires_grad_(False)

    @torch.no_grad()
    def update(self, source: nn.Module) -> None:
        ema_params = dict(self.module.named_parameters())
        for name, param in source.named_parameters():
            ema = ema_params[name]
            ema.mul_(self.decay).add_(param.detach().to(ema.dtype), alpha=1 - self.decay)
        ema_buffers = dict(self.module.named_buffers())
        for name, buffer in source.named_buffers():
            ema_buffers[name].copy_(buffer)

    def state_dict(self) -> dict[str, torch.Tensor]:
        return self.module.state_dict()

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        self.module.load_state_dict(state, strict=True)


# --- data ---------------------------------------------------------------------------------------------------
class ShardedSampler(Sampler[int]):
    """Indices of this process's share of each global batch, from a given batch of a given epoch.

    Epoch ``e`` is a permutation seeded by ``(seed, e)`` cut into global batches of
    ``batch_size * num_processes`` (the incomplete tail is dropped); process ``r`` takes the ``r``-th slice of
    each. :meth:`set_position` starts an epoch part-way, which is how a resumed run continues exactly.
    """

    def __init__(self, length: int, *, batch_size: int, rank: int = 0, num_processes: int = 1, seed: int = 0,
                 shuffle: bool = True):
        self.length, self.batch_size, self.rank, self.num_processes = length, batch_size, rank, num_processes
        self.seed, self.shuffle = seed, shuffle
        self.batches_per_epoch = length // (batch_size * num_processes)
        self.epoch, self.start = 0, 0

    def set_position(self, epoch: int, start: int) -> None:
        self.epoch, self.start = epoch, start

    def order(self, epoch: int) -> torch.Tensor:
        if not self.shuffle:
            return torch.arange(self.length)
        generator = torch.Generator().manual_seed((self.seed * 1_000_003 + epoch) % 2**63)
        return torch.randperm(self.length, generator=generator)

    def __iter__(self) -> Iterator[tuple[int, int]]:
        """``(index, epoch)`` pairs (:class:`SeededSamples` reads them)."""
        order = self.order(self.epoch)
        for b in range(self.start, self.batches_per_epoch):
            first = (b * self.num_processes + self.rank) * self.batch_size
            for index in order[first:first + self.batch_size].tolist():
                yield index, self.epoch

    def __len__(self) -> int:
        return max(self.batches_per_epoch - self.start, 0) * self.batch_size


class SeededSamples(Dataset):
    """``dataset[index]`` run with torch, numpy and ``random`` seeded from ``(seed, epoch, index)``.

    A sample's random augmentation is then a function of the run's seed, the epoch and the index alone: the
    same with any number of DataLoader workers or processes, and again the same after a resume. The caller's
    RNG states are put back afterwards.
    """

    def __init__(self, dataset: Dataset, seed: int):
        self.dataset, self.seed = dataset, seed

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, key: tuple[int, int]) -> Any:
        index, epoch = key
        seed = int(np.random.SeedSequence([self.seed, epoch, index]).generate_state(1, dtype=np.uint64)[0])
        py_state, np_state = random.getstate(), np.random.get_state()
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            np.random.seed(seed % 2**32)
            random.seed(seed)
            try:
                return self.dataset[index]
            finally:
                random.setstate(py_state)
                np.random.set_state(np_state)


class BatchStream:
    """Endless micro-batches over epochs, with a position (epoch, batches consumed) to checkpoint."""

    def __init__(self, dataset: Dataset, run: RunConfig, *, rank: int, num_processes: int,
                 device: torch.device, collate_fn=None):
        self.sampler = ShardedSampler(len(dataset), batch_size=run.batch_size, rank=rank,
                                      num_processes=num_processes, seed=run.seed, shuffle=run.shuffle)
        if self.sampler.batches_per_epoch == 0:
            raise ConfigError(f"the training set has {len(dataset)} samples, fewer than one global batch "
                              f"({run.batch_size} x {num_processes} processes)")
        self.dataset = dataset
        # The loader draws its workers' base seeds from its own generator, never from the global RNG (which
        # belongs to the training steps); samples are seeded by SeededSamples anyway.
        self.loader = DataLoader(SeededSamples(dataset, run.seed), batch_size=run.batch_size,
                                 sampler=self.sampler, num_workers=run.num_workers, collate_fn=collate_fn,
                                 pin_memory=device.type == "cuda",
                                 generator=torch.Generator().manual_seed(run.seed))
        self.device = device
        self.epoch, self.position = 0, 0
        self._iterator: Iterator | None = None

    @property
    def batches_per_epoch(self) -> int:
        return self.sampler.batches_per_epoch

    def next(self) -> Any:
        while True:
            if self._iterator is None:
                self.sampler.set_position(self.epoch, self.position)
                self._iterator = iter(self.loader)
            try:
                batch = next(self._iterator)
            except StopIteration:
                self.epoch, self.position, self._iterator = self.epoch + 1, 0, None
                continue
            self.position += 1
            return send_to_device(batch, self.device, non_blocking=True)

    def state_dict(self) -> dict[str, int]:
        return {"epoch": self.epoch, "position": self.position}

    def load_state_dict(self, state: dict[str, int]) -> None:
        self.epoch, self.position, self._iterator = int(state["epoch"]), int(state["position"]), None

    def close(self) -> None:
        self._iterator = None


class _DeviceLoader:
    """Iterates a DataLoader, moving each batch to the device (what ``Task.evaluate`` receives)."""

    def __init__(self, loader: DataLoader, device: torch.device):
        self.loader, self.device = loader, device

    def __iter__(self):
        for batch in self.loader:
            yield send_to_device(batch, self.device)

    def __len__(self) -> int:
        return len(self.loader)


# --- helpers ------------------------------------------------------------------------------------------------
@contextlib.contextmanager
def preserved_rng() -> Iterator[None]:
    """Run a block without moving the training RNGs (python, numpy, torch CPU and CUDA)."""
    py_state, np_state = random.getstate(), np.random.get_state()
    devices = list(range(torch.cuda.device_count())) if torch.cuda.is_initialized() else []
    with torch.random.fork_rng(devices=devices):
        try:
            yield
        finally:
            random.setstate(py_state)
            np.random.set_state(np_state)


def list_checkpoints(run_dir: str | os.PathLike) -> list[Path]:
    """Complete checkpoints of a run, oldest first."""
    folder = Path(run_dir) / "checkpoints"
    if not folder.is_dir():
        return []
    found = [p for p in folder.iterdir() if _checkpoint_step(p) is not None and (p / STATE_NAME).is_file()]
    return sorted(found, key=_checkpoint_step)


def _checkpoint_step(path: Path) -> int | None:
    """The iteration of a ``step_XXXXXX`` folder name, or None for any other name."""
    digits = path.name.removeprefix(CHECKPOINT_PREFIX)
    return int(digits) if path.name.startswith(CHECKPOINT_PREFIX) and digits.isdigit() else None


def weights_digest(modules: dict[str, nn.Module]) -> str:
    """SHA-256 over the state dicts (names, dtypes, shapes, bytes) of ``modules``."""
    digest = hashlib.sha256()
    for name in sorted(modules):
        for key, tensor in sorted(modules[name].state_dict().items()):
            t = tensor.detach().cpu().contiguous()
            digest.update(f"{name}.{key}:{t.dtype}:{tuple(t.shape)}".encode())
            digest.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def _scalar(value: Any) -> torch.Tensor | float:
    if isinstance(value, torch.Tensor):
        return value.detach().float().mean()
    return float(value)


def _tracker_names(choice: str) -> list[str]:
    if choice == "none":
        return []
    if choice == "auto":
        try:
            import tensorboard  # noqa: F401
        except ImportError:
            try:
                import tensorboardX  # noqa: F401
            except ImportError:
                return []
        return ["tensorboard"]
    return [choice]


def _flat_hparams(config: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out = {}
    for key, value in config.items():
        if isinstance(value, dict):
            out.update(_flat_hparams(value, f"{prefix}{key}."))
        elif isinstance(value, (int, float, str, bool)):
            out[prefix + key] = value
        else:
            out[prefix + key] = str(value)
    return out


# --- the loop -----------------------------------------------------------------------------------------------
class _Trainer:
    def __init__(self, run: RunConfig, task: Task):
        self.run, self.task = run, task
        self.run_dir = run.run_dir
        world = int(os.environ.get("WORLD_SIZE", "1"))
        cpu = run.cpu or (world > 1 and not torch.cuda.is_available())  # several CPU processes: gloo
        self.accelerator = Accelerator(
            mixed_precision=run.mixed_precision,
            cpu=cpu,
            log_with=_tracker_names(run.trackers) or None,
            project_dir=str(self.run_dir),
            kwargs_handlers=[DistributedDataParallelKwargs(find_unused_parameters=task.find_unused_parameters)],
        )
        acc = self.accelerator
        self.is_main = acc.is_main_process
        task.device, task.is_main_process = acc.device, acc.is_main_process
        task.num_processes = acc.num_processes
        self._stop_signal = 0
        self.seconds_before = 0.0  # training time of the sessions before the last resume
        self._fit_started: float | None = None

    def trained_seconds(self) -> float:
        """Wall-clock seconds of training so far, over every session of the run (resumes included)."""
        now = time.perf_counter() - self._fit_started if self._fit_started is not None else 0.0
        return self.seconds_before + now

    # ---- setup ----
    def setup(self) -> None:
        run, task, acc = self.run, self.task, self.accelerator
        checkpoint = self._resume_checkpoint()
        if self.is_main:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            save_config(run, self.run_dir / "config.yaml")
            for partial in (self.run_dir / "checkpoints").glob(f"{CHECKPOINT_PREFIX}*.partial"):
                shutil.rmtree(partial, ignore_errors=True)  # left by a run killed while saving
        acc.wait_for_everyone()

        set_seed(run.seed)
        self.stream = BatchStream(task.train_dataset(), run, rank=acc.process_index,
                                  num_processes=acc.num_processes, device=acc.device,
                                  collate_fn=task.collate_fn)
        self.eval_set = task.eval_dataset()
        if run.steps:
            self.total = run.steps
        elif run.epochs:
            self.total = math.ceil(run.epochs * self.stream.batches_per_epoch / run.grad_accum)
        else:
            raise ConfigError("set steps (iterations) or epochs")
        task.total_steps = self.total

        set_seed(run.seed)  # identical initial weights on every process
        nets = task.build_networks()
        if not nets or not all(isinstance(m, nn.Module) for m in nets.values()):
            raise TypeError("build_networks() must return a non-empty {name: nn.Module}")
        task.nets = dict(nets)
        optimizers = task.build_optimizers()
        if not optimizers:
            raise ValueError("build_optimizers() must return at least one optimizer")
        task.optimizers = dict(optimizers)
        schedulers = task.build_schedulers()
        unknown = sorted(set(schedulers) - set(optimizers))
        if unknown:
            raise ValueError(f"build_schedulers() keys must name optimizers; unknown {unknown}")
        self.steps: list[Step] = list(task.steps())
        if not self.steps or len({s.name for s in self.steps}) != len(self.steps):
            raise ValueError("steps() must list at least one Step, with distinct names")
        for step in self.steps:
            if step.optimizer not in optimizers:
                raise ValueError(f"step {step.name!r} uses optimizer {step.optimizer!r}; "
                                 f"build_optimizers() gave {sorted(optimizers)}")
        missing_ema = sorted(set(task.ema) - set(nets))
        if missing_ema:
            raise ValueError(f"ema names {missing_ema} are not networks of build_networks() ({sorted(nets)})")

        # Which networks each optimizer trains; networks no optimizer trains are frozen helpers.
        self.opt_params = {k: {p for g in o.param_groups for p in g["params"]} for k, o in optimizers.items()}
        self.trainable = {p for params in self.opt_params.values() for p in params if p.requires_grad}
        self.trains = {k: [n for n, m in nets.items() if any(p in params for p in m.parameters())]
                       for k, params in self.opt_params.items()}
        trained = [n for n in nets if any(n in names for names in self.trains.values())]
        frozen = [n for n in nets if n not in trained]

        self.ema = {n: EMA(nets[n], run.ema_decay) for n in task.ema} if run.ema_decay > 0 else {}
        for e in self.ema.values():
            e.module.to(acc.device)
        for n in frozen:
            nets[n].to(acc.device).eval().requires_grad_(False)

        opt_names = list(optimizers)
        prepared = acc.prepare(*[nets[n] for n in trained], *[optimizers[k] for k in opt_names])
        if len(trained) + len(opt_names) == 1:
            prepared = (prepared,)
        self.models = dict(zip(trained, prepared[:len(trained)]))
        self.unwrapped = {n: acc.unwrap_model(m) for n, m in self.models.items()}
        self.optimizers = dict(zip(opt_names, prepared[len(trained):]))
        self.schedulers = {k: schedulers[k] for k in opt_names if k in schedulers}
        # Stepped here once per update of their optimizer (Accelerate would scale them by the processes).
        acc.register_for_checkpointing(*self.ema.values(), *self.schedulers.values())
        for m in self.models.values():
            m.train()
        task.nets = {n: self.models.get(n, nets[n]) for n in nets}
        task.optimizers = dict(optimizers)

        self.iteration = 0
        self.resumed_from: int | None = None
        set_seed(run.seed, device_specific=True)  # per-process streams for noise, dropout, augmentation
        if checkpoint is not None:
            self._load(checkpoint)
        self.last_checkpoint = self.iteration if checkpoint is not None else -1

        trackers = _tracker_names(run.trackers)
        if trackers:
            project = "tensorboard" if trackers == ["tensorboard"] else f"faceforge-{run.task}"
            with preserved_rng():
                acc.init_trackers(project, config=_flat_hparams(run.to_dict()))

    def _resume_checkpoint(self) -> Path | None:
        run = self.run
        existing = list_checkpoints(self.run_dir)
        if not run.resume:
            if existing:
                raise ConfigError(f"{self.run_dir} already holds checkpoints ({existing[-1].name}); pass "
                                  f"--resume to continue that run, or choose another output_dir")
            return None
        if run.resume == "latest":
            if not existing:
                self.accelerator.print(f"no checkpoint in {self.run_dir / 'checkpoints'}: a fresh run")
                return None
            return existing[-1]
        path = Path(run.resume)
        if not (path / STATE_NAME).is_file():
            raise ConfigError(f"{path} is not a complete checkpoint folder (no {STATE_NAME})")
        step = json.loads((path / STATE_NAME).read_text())["step"]
        newer = [p.name for p in existing if _checkpoint_step(p) > step]
        if newer:
            raise ConfigError(f"{self.run_dir} holds checkpoints newer than {path.name} "
                              f"({', '.join(newer)}); resume from {path} into another output_dir, "
                              f"or delete them")
        return path

    # ---- checkpoints ----
    def _load(self, path: Path) -> None:
        state = json.loads((path / STATE_NAME).read_text())
        saved = (state.get("batch_size"), state.get("processes"))
        if saved != (self.run.batch_size, self.accelerator.num_processes):
            self.accelerator.print(f"warning: {path} was written with batch_size {saved[0]} on {saved[1]} "
                                   f"processes; the data order from here on differs from that run's")
        self.accelerator.load_state(str(path))
        self.iteration = int(state["step"])
        self.stream.load_state_dict(state["data"])
        self.resumed_from = self.iteration
        self.seconds_before = float(state.get("seconds", 0.0))
        self.accelerator.print(f"resumed from {path} at iteration {self.iteration}")

    def save_checkpoint(self) -> Path:
        acc = self.accelerator
        root = self.run_dir / "checkpoints"
        final = root / f"{CHECKPOINT_PREFIX}{self.iteration:06d}"
        if self.last_checkpoint == self.iteration and final.is_dir():
            return final
        partial = final.with_name(final.name + ".partial")
        if self.is_main:
            shutil.rmtree(partial, ignore_errors=True)
            partial.mkdir(parents=True)
        acc.wait_for_everyone()
        acc.save_state(str(partial), safe_serialization=True)
        if self.is_main:
            state = {"step": self.iteration, "data": self.stream.state_dict(), "total": self.total,
                     "batch_size": self.run.batch_size, "processes": acc.num_processes, "task": self.run.task,
                     "seconds": round(self.trained_seconds(), 1)}
            (partial / STATE_NAME).write_text(json.dumps(state, indent=2) + "\n")
        acc.wait_for_everyone()
        if self.is_main:
            shutil.rmtree(final, ignore_errors=True)
            os.replace(partial, final)
            keep = self.run.keep_checkpoints
            for old in list_checkpoints(self.run_dir)[:-keep] if keep else []:
                shutil.rmtree(old, ignore_errors=True)
        acc.wait_for_everyone()
        self.last_checkpoint = self.iteration
        return final

    # ---- signals ----
    def _on_signal(self, signum, frame) -> None:
        if self._stop_signal and signum == signal.SIGINT:
            raise KeyboardInterrupt  # a second Ctrl-C stops at once
        self._stop_signal = signum
        if self.is_main:
            name = signal.Signals(signum).name
            print(f"\n{name}: finishing this iteration, then saving a checkpoint", flush=True)

    def _should_stop(self) -> int:
        if self.accelerator.num_processes == 1:
            return self._stop_signal
        flags = self.accelerator.gather(torch.tensor([self._stop_signal], device=self.accelerator.device))
        return int(flags.max())

    # ---- one update ----
    def _select(self, step: Step | None) -> None:
        """Only ``step``'s optimizer's parameters require gradients (all trainable ones when None)."""
        params = self.opt_params[step.optimizer] if step is not None else self.trainable
        for model in self.models.values():
            for p in model.parameters():
                p.requires_grad_(p in params and p in self.trainable)

    def run_step(self, step: Step, batches: list[Any], sums: dict[str, Any]) -> None:
        acc, run = self.accelerator, self.run
        optimizer = self.optimizers[step.optimizer]
        self._select(step)
        optimizer.zero_grad(set_to_none=True)
        trains = self.trains[step.optimizer]
        for j, batch in enumerate(batches):
            last = j == len(batches) - 1
            with contextlib.ExitStack() as stack:
                # Gradients are averaged across processes once: on the last micro-batch, for the trained nets.
                for name, model in self.models.items():
                    if not last or name not in trains:
                        stack.enter_context(acc.no_sync(model))
                with acc.autocast():
                    loss, logs = step.fn(batch)
                if not isinstance(loss, torch.Tensor) or loss.dim() != 0:
                    raise TypeError(f"step {step.name!r} must return (0-d loss tensor, logs), "
                                    f"got {type(loss).__name__}")
                acc.backward(loss / len(batches))
            self._add(sums, f"{step.name}/loss", loss)
            for key, value in (logs or {}).items():
                self._add(sums, f"{step.name}/{key}", value)
        if run.clip_grad > 0:
            acc.unscale_gradients(optimizer=optimizer)
            params = [p for p in self.opt_params[step.optimizer] if p.grad is not None]
            norm = torch.nn.utils.clip_grad_norm_(params, run.clip_grad)
            self._add(sums, f"{step.name}/grad_norm", norm, times=len(batches))
        optimizer.step()
        if step.optimizer in self.schedulers and not optimizer.step_was_skipped:  # fp16 overflow: no update
            self.schedulers[step.optimizer].step()
        for name in trains:
            if name in self.ema:
                self.ema[name].update(self.unwrapped[name])

    @staticmethod
    def _add(sums: dict[str, Any], key: str, value: Any, times: int = 1) -> None:
        total, count = sums.get(key, (0.0, 0))
        sums[key] = (total + _scalar(value) * times, count + times)

    # ---- inference view ----
    @contextlib.contextmanager
    def inference(self) -> Iterator[None]:
        """``task.nets`` as the EMA-or-unwrapped networks, in eval mode, no grad, training RNG untouched."""
        task = self.task
        training_nets = task.nets
        view = {}
        for name, net in training_nets.items():
            view[name] = self.ema[name].module if name in self.ema else self.unwrapped.get(name, net)
        modes = {name: net.training for name, net in view.items()}
        for net in view.values():
            net.eval()
        task.nets = view
        try:
            with torch.no_grad(), preserved_rng():
                yield
        finally:
            task.nets = training_nets
            for name, net in view.items():
                net.train(modes[name])

    def _sample_batch(self) -> Any:
        if not hasattr(self, "_fixed_batch"):
            dataset = self.eval_set if self.eval_set is not None else self.stream.dataset
            n = min(self.run.sample_count, len(dataset))
            collate = self.task.collate_fn or torch.utils.data.default_collate
            batch = collate([dataset[i] for i in range(n)])
            self._fixed_batch = send_to_device(batch, self.accelerator.device)
        return self._fixed_batch

    def write_samples(self) -> Path | None:
        if not self.is_main or self.run.sample_count == 0 or type(self.task).sample is Task.sample:
            return None
        with self.inference():
            images = self.task.sample(self._sample_batch())
        if images is None:
            return None
        from torchvision.utils import save_image

        images = images.detach().float().clamp(0, 1).cpu()
        if images.shape[-2] < 64:  # small pictures are enlarged (nearest) so the grid can be looked at
            images = torch.nn.functional.interpolate(images, scale_factor=math.ceil(64 / images.shape[-2]),
                                                     mode="nearest")
        path = self.run_dir / "samples" / f"step_{self.iteration:06d}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        save_image(images, path, nrow=max(1, math.ceil(math.sqrt(images.shape[0]))), padding=2, pad_value=1.0)
        return path

    def evaluate(self) -> dict[str, float]:
        metrics: dict[str, float] = {}
        if self.is_main and self.eval_set is not None and type(self.task).evaluate is not Task.evaluate:
            loader = DataLoader(self.eval_set, batch_size=self.run.eval_batch_size or self.run.batch_size,
                                shuffle=False, num_workers=self.run.num_workers,
                                collate_fn=self.task.collate_fn)
            with self.inference():
                found = self.task.evaluate(_DeviceLoader(loader, self.accelerator.device))
            metrics = {k: float(v) for k, v in found.items()}
            self._log({f"eval/{k}": v for k, v in metrics.items()})
        self.accelerator.wait_for_everyone()
        return metrics

    def _log(self, values: dict[str, Any], *, trackers: bool = True) -> None:
        if not self.is_main:
            return
        if trackers:
            self.accelerator.log(values, step=self.iteration)
        with open(self.run_dir / "log.jsonl", "a") as f:
            f.write(json.dumps({"step": self.iteration, **values}) + "\n")

    # ---- main loop ----
    def fit(self) -> TrainResult:
        run, task, acc = self.run, self.task, self.accelerator
        per_iteration = run.batch_size * run.grad_accum * acc.num_processes
        acc.print(f"{run.run_dir}: task {run.task}, {self.total} iterations of {run.batch_size} x "
                  f"{run.grad_accum} accumulated x {acc.num_processes} processes = {per_iteration} samples, "
                  f"{acc.device}, precision {run.mixed_precision}")
        if self.resumed_from is not None:
            self._log({"event": "resume"}, trackers=False)
        handlers = {}
        if threading.current_thread() is threading.main_thread():
            for signum in (signal.SIGINT, signal.SIGTERM):
                handlers[signum] = signal.signal(signum, self._on_signal)
        from tqdm.auto import tqdm

        bar = tqdm(total=self.total, initial=self.iteration, disable=not acc.is_local_main_process,
                   desc=run.task, unit="it", dynamic_ncols=True)
        sums: dict[str, Any] = {}
        window_start, window_iterations = time.perf_counter(), 0
        started = self._fit_started = time.perf_counter()
        start_iteration = self.iteration
        try:
            while self.iteration < self.total:
                task.iteration = self.iteration
                due = [s for s in self.steps if s.due(self.iteration)]
                batches = [self.stream.next() for _ in range(run.grad_accum)]
                for step in due:
                    self.run_step(step, batches, sums)
                self.iteration += 1
                window_iterations += 1
                bar.update(1)
                if run.log_every and self.iteration % run.log_every == 0:
                    elapsed = time.perf_counter() - window_start
                    values = {k: float(total) / count for k, (total, count) in sums.items()}
                    values["samples_per_second"] = window_iterations * per_iteration / max(elapsed, 1e-9)
                    for k, sched in self.schedulers.items():
                        values[f"{k}/lr"] = sched.get_last_lr()[0]
                    self._log(values)
                    shown = {k.removesuffix("/loss"): f"{v:.3g}"
                             for k, v in values.items() if k.endswith("/loss")}
                    bar.set_postfix(shown | {"img/s": f"{values['samples_per_second']:.0f}"})
                    sums, window_start, window_iterations = {}, time.perf_counter(), 0
                finished = self.iteration >= self.total
                if run.sample_every and self.iteration % run.sample_every == 0 and not finished:
                    self.write_samples()
                if run.eval_every and self.iteration % run.eval_every == 0 and not finished:
                    self.evaluate()
                stop = self._should_stop()
                if (run.checkpoint_every and self.iteration % run.checkpoint_every == 0) or finished or stop:
                    self.save_checkpoint()
                if stop and not finished:
                    acc.end_training()
                    raise TrainingInterrupted(stop, self.iteration, self.run_dir / "checkpoints" /
                                              f"{CHECKPOINT_PREFIX}{self.iteration:06d}")
        finally:
            bar.close()
            self.stream.close()
            for signum, handler in handlers.items():
                signal.signal(signum, handler)
        self._select(None)
        seconds = time.perf_counter() - started
        self.train_seconds = self.trained_seconds()
        if self.last_checkpoint != self.iteration:
            self.save_checkpoint()
        self.write_samples()
        metrics = self.evaluate()
        model_dir = self.export(metrics) if run.export else None
        samples = (self.iteration - start_iteration) * per_iteration
        summary = self.summarize(metrics, model_dir, seconds, samples)
        acc.end_training()
        task.nets = {n: self.unwrapped.get(n, m) for n, m in task.nets.items()}
        return TrainResult(step=self.iteration, run_dir=self.run_dir, model_dir=model_dir, metrics=metrics,
                           summary=summary, task=task, ema={n: e.module for n, e in self.ema.items()})

    # ---- the end ----
    def export(self, metrics: dict[str, float]) -> Path | None:
        model_dir = self.run_dir / "model"
        if self.is_main:
            with self.inference():
                model = self.task.export()
                if not isinstance(model, FaceForgeModel):
                    raise TypeError(f"export() must return a FaceForgeModel, got {type(model).__name__}")
                model.save_pretrained(model_dir)
                card = dict(self.task.card(metrics))
            self._write_card(model_dir, model, metrics, card)
            self.accelerator.print(f"exported {type(model).__name__} to {model_dir}")
        self.accelerator.wait_for_everyone()
        return model_dir

    def _write_card(self, model_dir: Path, model: FaceForgeModel, metrics: dict[str, float],
                    card: dict[str, Any]) -> None:
        """The model card: the task's ``card(metrics)`` fields over defaults drawn from the run."""
        from faceforge.hub import write_model_card

        run, acc = self.run, self.accelerator
        fields: dict[str, Any] = {
            "title": f"faceforge {model.config.model_type} ({run.task})",
            "summary": f"A {type(model).__name__} trained with the faceforge {run.task} task.",
            "pipeline_tag": "image-classification",
            "datasets": [run.dataset],
            "metrics": [{"name": k, "type": k, "value": v, "dataset_name": run.dataset,
                         "dataset_type": run.dataset, "dataset_split": "eval"} for k, v in metrics.items()],
        }
        training = {
            "data": f"{run.dataset}: {len(self.stream.dataset)} training samples",
            "hardware": _hardware(acc),
            "training time": _duration(getattr(self, "train_seconds", 0.0)),
            "command": _launch_command(run),
            "iterations": self.iteration,
            "batch": f"{run.batch_size} x {run.grad_accum} accumulated x {acc.num_processes} processes",
            "precision": "fp32" if run.mixed_precision == "no" else f"{run.mixed_precision} autocast",
            "EMA decay": run.ema_decay if self.ema else "none",
            "seed": run.seed,
            "options": ", ".join(f"{k}={v}" for k, v in run.to_dict()["options"].items()),
        }
        training.update(card.pop("training", {}))
        fields.update(card)
        fields["training"] = training
        write_model_card(model_dir, **fields)

    def summarize(self, metrics, model_dir, seconds: float, samples: int) -> dict[str, Any]:
        acc = self.accelerator
        modules = dict(self.unwrapped)
        modules.update({f"ema.{n}": e.module for n, e in self.ema.items()})
        digests = gather_object([weights_digest(modules)])
        summary = {
            "task": self.run.task, "step": self.iteration, "processes": acc.num_processes,
            "resumed_from": self.resumed_from, "metrics": metrics,
            "model_dir": str(model_dir) if model_dir else None, "seconds": round(seconds, 3),
            "samples_per_second": round(samples / seconds, 3) if seconds > 0 else None,
            "weights_sha256": digests, "in_sync": len(set(digests)) == 1,
        }
        if not summary["in_sync"]:
            logger.warning("the processes ended with different weights: a network was probably called "
                           "outside task.nets[name](...) or has a parameter that no step trains")
        if self.is_main:
            (self.run_dir / "train_summary.json").write_text(json.dumps(summary, indent=2) + "\n")
        acc.wait_for_everyone()
        return summary


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "CPU"


def _hardware(accelerator: Accelerator) -> str:
    device = accelerator.device
    if device.type == "cuda":
        name = torch.cuda.get_device_name(device)
    elif device.type == "cpu":
        name = f"CPU, {os.cpu_count()} cores ({_cpu_name()}), no GPU"
    else:
        name = device.type.upper()
    return f"{accelerator.num_processes} x {name}"


def _duration(seconds: float) -> str:
    """Wall-clock training time for a card: minutes, or hours above 1.5 h."""
    return f"{seconds / 3600:.1f} h (wall clock)" if seconds >= 5400 else f"{seconds / 60:.0f} min (wall clock)"


def _launch_command(run: RunConfig) -> str:
    """The command that reproduces this run, as the card shows it."""
    argv = sys.argv[1:] if Path(sys.argv[0]).name == "train.py" else ["--task", run.task]
    return "accelerate launch train/train.py " + " ".join(shlex.quote(a) for a in argv)


def train(job: RunConfig | Task) -> TrainResult:
    """Train a task: ``train(run)`` builds the task ``run.task`` names (in ``TASKS``); ``train(MyTask(run))``
    runs a task object as it is.

    Raises:
        TrainingInterrupted: SIGINT/SIGTERM arrived; a checkpoint of the last finished iteration was written.
        ConfigError: impossible settings (no length, a dataset smaller than a batch, checkpoints in the way).
    """
    if isinstance(job, Task):
        task = job
    else:
        from faceforge.training.tasks import build_task

        task = build_task(job)
    trainer = _Trainer(task.run, task)
    trainer.setup()
    return trainer.fit()

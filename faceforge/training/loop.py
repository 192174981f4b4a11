"""The one training loop: :func:`train` runs any :class:`~faceforge.training.task.Task` with Accelerate.

Per iteration it draws ``grad_accum`` micro-batches, runs each due step over them (forward under autocast,
backward, clipping, optimizer and scheduler step, EMA), and on its cadences logs, writes sample grids,
evaluates and checkpoints. At the end it checkpoints, writes samples, evaluates, exports (``task.export()``,
then ``task.test_metrics()`` and ``task.card(metrics, test)`` for the model card) and writes the summary.
The same code runs on one CPU, one GPU or several processes (``torchrun`` / ``accelerate launch``); every
process draws its own shard of each global batch.

Outputs, all under ``run.run_dir`` (``runs/<task>`` by default)::

    config.yaml                      the resolved run config
    log.jsonl                        one JSON object per log / eval line (main process); a resumed run
                                     appends after a {"event": "resume"} line
    checkpoints/step_000100/         the training state after iteration 100, safetensors + JSON only:
                                     model[_<i>].safetensors (trained networks), ema_<net>.safetensors,
                                     optimizers.json + .safetensors (optimizers, LR schedulers, fp16 grad
                                     scaler), random_states_<rank>.json + .safetensors (each process's
                                     python, numpy, torch CPU and CUDA RNG states), train_state.json
                                     (iteration, data position, training time, file digests); see
                                     faceforge.training.checkpoint
    checkpoints/step_000100.corrupt/ a checkpoint that failed to load on resume=latest, moved aside
    samples/step_000100.png          sample grids
    tensorboard/                     tracker logs (trackers=auto and TensorBoard installed)
    model/                           the exported network: config.json, model.safetensors, README.md
    train_summary.json               final step, metrics, test_metrics (when the task reports any),
                                     throughput, each process's weight digest

Checkpoints are written every ``checkpoint_every`` iterations, at the end, and when SIGINT or SIGTERM
arrives (the current iteration finishes first, then :class:`TrainingInterrupted` is raised). A checkpoint
folder appears only once complete (it is written as ``.partial`` and renamed), so a killed run loses at most
the iterations since the last checkpoint. ``resume`` restores the networks, EMA copies, optimizers,
schedulers, gradient scaler, every process's RNG states and the data position, so a resumed run continues
with exactly the batches and random draws the uninterrupted run would have used (same process count and
batch size; samples are loaded with their own seeds, see :class:`~faceforge.training.data.SeededSamples`).
Checkpoints are written and read by faceforge's own code (not ``accelerator.save_state``), never pickled
and never unpickled. With ``resume=latest`` a newest checkpoint that fails to load (a missing, truncated or
altered file) is logged, moved aside as ``step_XXXXXX.corrupt`` and the previous one is tried; a folder named
explicitly must load.

The pieces: :mod:`~faceforge.training.data` (sharded, seeded, resumable batches),
:mod:`~faceforge.training.ema` (EMA copies), :mod:`~faceforge.training.checkpoint` (checkpoint folders and
``train_state.json``) and :mod:`~faceforge.training.report` (model card, trackers).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import math
import os
import shutil
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
from accelerate import Accelerator
from accelerate.utils import DistributedDataParallelKwargs, gather_object, send_to_device, set_seed
from torch import nn
from torch.utils.data import DataLoader

from faceforge.modeling import FaceForgeModel
from faceforge.training import checkpoint as ckpt
from faceforge.training import report
from faceforge.training.config import ConfigError, RunConfig, save_config
from faceforge.training.data import BatchStream, DeviceLoader, preserved_rng
from faceforge.training.ema import EMA
from faceforge.training.state import set_rng_state
from faceforge.training.task import Step, Task

logger = logging.getLogger("faceforge.training")


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


def train(job: RunConfig | Task) -> TrainResult:
    """Train a task: ``train(run)`` builds the task ``run.task`` names (``faceforge.list_tasks()``);
    ``train(MyTask(run))``
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


def cpu_has_bf16() -> bool:
    """Whether this CPU computes bf16 natively (oneDNN's bf16 kernels: AVX512-BF16 or AMX), so that bf16 autocast
    speeds a CPU run up instead of emulating every product."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):  # a build without oneDNN: nothing native either
        return False


# --- the trainer --------------------------------------------------------------------------------------------
class _Trainer:
    """One run of a task: :meth:`setup` (data, networks, optimizers, resume), then :meth:`fit` (the
    iterations, then the final checkpoint, samples, evaluation, export and summary)."""

    def __init__(self, run: RunConfig, task: Task):
        self.run, self.task = run, task
        self.run_dir = run.run_dir
        world = int(os.environ.get("WORLD_SIZE", "1"))
        cpu = run.cpu or (world > 1 and not torch.cuda.is_available())  # several CPU processes: gloo
        self.accelerator = Accelerator(
            mixed_precision=run.mixed_precision,
            cpu=cpu,
            log_with=report.tracker_names(run.trackers) or None,
            project_dir=str(self.run_dir),
            kwargs_handlers=[DistributedDataParallelKwargs(find_unused_parameters=task.find_unused_parameters)],
        )
        acc = self.accelerator
        self.is_main = acc.is_main_process
        task.device, task.is_main_process = acc.device, acc.is_main_process
        task.num_processes = acc.num_processes
        self._stop_signal = 0
        self.seconds_before = 0.0  # training time of the sessions before the last resume
        self.train_seconds = 0.0  # training time of the whole run, once the iterations are done
        self._fit_started: float | None = None

    def trained_seconds(self) -> float:
        """Wall-clock seconds of training so far, over every session of the run (resumes included)."""
        now = time.perf_counter() - self._fit_started if self._fit_started is not None else 0.0
        return self.seconds_before + now

    # ---- setup ----
    def setup(self) -> None:
        """Prepare the run folder, data, networks and optimizers, then restore the checkpoint to resume."""
        run, acc = self.run, self.accelerator
        candidates = self._resume_candidates()
        if self.is_main:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            save_config(run, self.run_dir / "config.yaml")
            ckpt.remove_partial_checkpoints(self.run_dir)  # left by a run killed while saving
        acc.wait_for_everyone()

        set_seed(run.seed)
        self._setup_data()
        set_seed(run.seed)  # identical initial weights on every process
        self._setup_networks()

        self.iteration = 0
        self.resumed_from: int | None = None
        set_seed(run.seed, device_specific=True)  # per-process streams for noise, dropout, augmentation
        if candidates:
            self._resume(candidates)
        self.last_checkpoint = self.iteration if self.resumed_from is not None else -1

        trackers = report.tracker_names(run.trackers)
        if trackers:
            project = "tensorboard" if trackers == ["tensorboard"] else f"faceforge-{run.task}"
            with preserved_rng():
                acc.init_trackers(project, config=report.flat_hparams(run.to_dict()))

    def _resume_candidates(self) -> list[Path]:
        candidates = ckpt.resume_candidates(self.run_dir, self.run.resume)
        if not candidates and self.run.resume == "latest":
            self.accelerator.print(f"no checkpoint in {self.run_dir / 'checkpoints'}: a fresh run")
        return candidates

    def _setup_data(self) -> None:
        """The training stream, the eval set and the run's length in iterations."""
        run, task, acc = self.run, self.task, self.accelerator
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

    def _setup_networks(self) -> None:
        """The task's networks, optimizers, schedulers and steps, checked, with EMA copies, prepared."""
        run, task, acc = self.run, self.task, self.accelerator
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
        for name in task.ema:
            ckpt.ema_file(name)  # the name must fit in a file name

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
        # Stepped here once per update of their optimizer (Accelerate would scale them by the processes), so
        # they are not prepared; the checkpoints save them with the rest of the state.
        self.schedulers = {k: schedulers[k] for k in opt_names if k in schedulers}
        for m in self.models.values():
            m.train()
        task.nets = {n: self.models.get(n, nets[n]) for n in nets}
        task.optimizers = dict(optimizers)

    # ---- the run ----
    def fit(self) -> TrainResult:
        """Run the remaining iterations, then finish: checkpoint, samples, evaluation, export, summary."""
        run, acc = self.run, self.accelerator
        per_iteration = run.batch_size * run.grad_accum * acc.num_processes
        acc.print(f"{run.run_dir}: task {run.task}, {self.total} iterations of {run.batch_size} x "
                  f"{run.grad_accum} accumulated x {acc.num_processes} processes = {per_iteration} samples, "
                  f"{acc.device}, precision {run.mixed_precision}")
        if run.mixed_precision == "bf16" and acc.device.type == "cpu" and not cpu_has_bf16():
            acc.print("warning: this CPU has no bf16 instructions (AVX512-BF16 / AMX); bf16 autocast runs emulated, "
                      "several times slower than fp32 (13x for SRCNN on an AVX2 AMD EPYC): train with "
                      "mixed_precision=no here")
        if self.resumed_from is not None:
            self._log({"event": "resume"}, trackers=False)
        start_iteration = self.iteration
        started = self._fit_started = time.perf_counter()
        self._iterate(per_iteration)
        seconds = time.perf_counter() - started
        return self._finish(seconds, samples=(self.iteration - start_iteration) * per_iteration)

    def _iterate(self, per_iteration: int) -> None:
        """The iterations up to ``self.total``, with their logs, samples, evaluations and checkpoints.

        Raises:
            TrainingInterrupted: after the checkpoint that a SIGINT/SIGTERM asked for.
        """
        run, task, acc = self.run, self.task, self.accelerator
        handlers = {}
        if threading.current_thread() is threading.main_thread():
            for signum in (signal.SIGINT, signal.SIGTERM):
                handlers[signum] = signal.signal(signum, self._on_signal)
        from tqdm.auto import tqdm

        bar = tqdm(total=self.total, initial=self.iteration, disable=not acc.is_local_main_process,
                   desc=run.task, unit="it", dynamic_ncols=True)
        sums: dict[str, Any] = {}
        window_start, window_iterations = time.perf_counter(), 0
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
                    raise TrainingInterrupted(stop, self.iteration,
                                              ckpt.checkpoint_dir(self.run_dir, self.iteration))
        finally:
            bar.close()
            self.stream.close()
            for signum, handler in handlers.items():
                signal.signal(signum, handler)

    def _finish(self, seconds: float, samples: int) -> TrainResult:
        """After the last iteration: checkpoint, samples, evaluation, export and summary."""
        run, task, acc = self.run, self.task, self.accelerator
        self._select(None)
        self.train_seconds = self.trained_seconds()
        if self.last_checkpoint != self.iteration:
            self.save_checkpoint()
        self.write_samples()
        metrics = self.evaluate()
        model_dir, test = self.export(metrics) if run.export else (None, {})
        summary = self.summarize(metrics, test, model_dir, seconds, samples)
        acc.end_training()
        task.nets = {n: self.unwrapped.get(n, m) for n, m in task.nets.items()}
        return TrainResult(step=self.iteration, run_dir=self.run_dir, model_dir=model_dir, metrics=metrics,
                           summary=summary, task=task, ema={n: e.module for n, e in self.ema.items()})

    # ---- one update ----
    def run_step(self, step: Step, batches: list[Any], sums: dict[str, Any]) -> None:
        """``step`` over the micro-batches (gradients accumulated), then one update of its optimizer."""
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

    def _select(self, step: Step | None) -> None:
        """Only ``step``'s optimizer's parameters require gradients (all trainable ones when None)."""
        params = self.opt_params[step.optimizer] if step is not None else self.trainable
        for model in self.models.values():
            for p in model.parameters():
                p.requires_grad_(p in params and p in self.trainable)

    @staticmethod
    def _add(sums: dict[str, Any], key: str, value: Any, times: int = 1) -> None:
        total, count = sums.get(key, (0.0, 0))
        sums[key] = (total + _scalar(value) * times, count + times)

    # ---- samples, evaluation, logs ----
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

    def _sample_batch(self) -> Any:
        if not hasattr(self, "_fixed_batch"):
            dataset = self.eval_set if self.eval_set is not None else self.stream.dataset
            n = min(self.run.sample_count, len(dataset))
            collate = self.task.collate_fn or torch.utils.data.default_collate
            batch = collate([dataset[i] for i in range(n)])
            self._fixed_batch = send_to_device(batch, self.accelerator.device)
        return self._fixed_batch

    def evaluate(self) -> dict[str, float]:
        metrics: dict[str, float] = {}
        if self.is_main and self.eval_set is not None and type(self.task).evaluate is not Task.evaluate:
            loader = DataLoader(self.eval_set, batch_size=self.run.eval_batch_size or self.run.batch_size,
                                shuffle=False, num_workers=self.run.num_workers,
                                collate_fn=self.task.collate_fn)
            with self.inference():
                found = self.task.evaluate(DeviceLoader(loader, self.accelerator.device))
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

    # ---- checkpoints ----
    def save_checkpoint(self) -> Path:
        acc = self.accelerator
        final = ckpt.checkpoint_dir(self.run_dir, self.iteration)
        if self.last_checkpoint == self.iteration and final.is_dir():
            return final
        partial = final.with_name(final.name + ".partial")
        if self.is_main:
            shutil.rmtree(partial, ignore_errors=True)
            partial.mkdir(parents=True)
        acc.wait_for_everyone()
        if self.is_main:
            ckpt.save_shared_state(partial, networks=self.unwrapped,
                                   ema={n: e.module for n, e in self.ema.items()},
                                   optimizers=self.optimizers, schedulers=self.schedulers, scaler=acc.scaler)
        ckpt.save_random_states(partial, acc.process_index)
        acc.wait_for_everyone()
        if self.is_main:
            state = {"step": self.iteration, "data": self.stream.state_dict(), "total": self.total,
                     "batch_size": self.run.batch_size, "processes": acc.num_processes, "task": self.run.task,
                     "seconds": round(self.trained_seconds(), 1), "networks": list(self.unwrapped),
                     "ema": list(self.ema)}
            ckpt.write_train_state(partial, state)
        acc.wait_for_everyone()
        if self.is_main:
            ckpt.complete_checkpoint(partial, final, run_dir=self.run_dir, keep=self.run.keep_checkpoints)
        acc.wait_for_everyone()
        self.last_checkpoint = self.iteration
        return final

    def _resume(self, candidates: list[Path]) -> None:
        """Restore the first of ``candidates`` that every process can read.

        With ``resume=latest`` (candidates: the run's checkpoints, newest first) one that fails to read is
        logged, moved aside as ``step_XXXXXX.corrupt`` and the next one tried.

        Raises:
            ConfigError: the folder named by ``resume`` does not read, or none of the run's checkpoints does;
                a checkpoint of another format, or of other networks or optimizers.
        """
        acc, explicit = self.accelerator, self.run.resume != "latest"
        failures = []
        for path in candidates:
            try:
                loaded, problem = ckpt.read_checkpoint(path, rank=acc.process_index), None
            except ckpt.CorruptCheckpoint as err:
                loaded, problem = None, str(err)
            failed = [int(problem is not None)]
            if acc.num_processes > 1:  # every process must restore the same checkpoint
                failed = acc.gather(torch.tensor(failed, device=acc.device)).tolist()
            if not any(failed):
                self._apply(loaded)
                return
            if problem is not None and not self.is_main:
                logger.warning("process %d cannot read checkpoint %s: %s", acc.process_index, path, problem)
            others = [str(rank) for rank, bad in enumerate(failed) if bad and rank != acc.process_index]
            reason = "; ".join(([problem] if problem else [])
                               + ([f"process {', '.join(others)} cannot read it"] if others else []))
            if explicit:
                raise ConfigError(f"cannot resume from {path}: it is corrupt ({reason})")
            failures.append(f"{path.name} ({reason})")
            if self.is_main:
                aside = ckpt.move_aside(path)
                logger.warning("checkpoint %s does not load (%s); moved aside as %s, trying the previous one",
                               path, reason, aside.name)
            acc.wait_for_everyone()
        raise ConfigError(f"no checkpoint in {self.run_dir / 'checkpoints'} loads; each was moved aside as "
                          f"*.corrupt: {'; '.join(failures)}")

    def _apply(self, loaded: ckpt.Checkpoint) -> None:
        """Put a read checkpoint's state into the networks, EMA copies, optimizers, schedulers, scaler, data
        stream and RNGs (those last, so nothing before draws from them)."""
        acc, path, state = self.accelerator, loaded.path, loaded.state
        saved = (state.get("batch_size"), state.get("processes"))
        if saved != (self.run.batch_size, acc.num_processes):
            acc.print(f"warning: {path} was written with batch_size {saved[0]} on {saved[1]} "
                      f"processes; the data order from here on differs from that run's")
        for kind, have, want in (("networks", loaded.networks, self.unwrapped), ("EMA copies", loaded.ema, self.ema),
                                 ("optimizers", loaded.optimizers, self.optimizers),
                                 ("schedulers", loaded.schedulers, self.schedulers)):
            if sorted(have) != sorted(want):
                raise ConfigError(f"{path} holds the {kind} {sorted(have)}; this run has {sorted(want)}")
        try:
            for name, tensors in loaded.networks.items():
                self.unwrapped[name].load_state_dict(tensors, strict=True)
            for name, tensors in loaded.ema.items():
                self.ema[name].load_state_dict(tensors)
            for name, sd in loaded.optimizers.items():
                self.optimizers[name].load_state_dict(sd)
            for name, sd in loaded.schedulers.items():
                self.schedulers[name].load_state_dict(sd)
        except (RuntimeError, ValueError, KeyError) as err:
            raise ConfigError(f"{path} does not fit this run's networks or optimizers: {err}") from err
        if acc.scaler is not None and loaded.scaler:
            acc.scaler.load_state_dict(loaded.scaler)
        elif acc.scaler is not None:
            acc.print(f"warning: {path} holds no fp16 gradient scaler state; the loss scale starts afresh")
        elif loaded.scaler:
            acc.print(f"warning: {path} holds an fp16 gradient scaler state, which this run (precision "
                      f"{self.run.mixed_precision}) does not use")
        self.iteration = int(state["step"])
        self.stream.load_state_dict(state["data"])
        self.resumed_from = self.iteration
        self.seconds_before = float(state.get("seconds", 0.0))
        if loaded.rng is not None:
            set_rng_state(loaded.rng)
        acc.print(f"resumed from {path} at iteration {self.iteration}")

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

    # ---- the end ----
    def export(self, metrics: dict[str, float]) -> tuple[Path, dict[str, Any]]:
        """Save ``task.export()`` with its model card; returns the folder and ``task.test_metrics()`` (empty
        on the other processes).

        On the main process, in the inference view: ``export()``, ``save_pretrained``, ``test_metrics()``,
        then ``card(metrics, test)``, which only formats what it is given.
        """
        model_dir = self.run_dir / "model"
        test: dict[str, Any] = {}
        if self.is_main:
            task, run, acc = self.task, self.run, self.accelerator
            with self.inference():
                model = task.export()
                if not isinstance(model, FaceForgeModel):
                    raise TypeError(f"export() must return a FaceForgeModel, got {type(model).__name__}")
                model.save_pretrained(model_dir)
                for name, picture in task.card_pictures(model).items():
                    picture.save(model_dir / name)
                test = dict(task.test_metrics() or {})
                card = task.card(metrics, test)
            report.write_card(model_dir, model, run, card, metrics=metrics,
                              train_samples=len(self.stream.dataset), hardware=report.hardware(acc),
                              seconds=self.train_seconds, iterations=self.iteration,
                              processes=acc.num_processes, ema=bool(self.ema))
            acc.print(f"exported {type(model).__name__} to {model_dir}")
        self.accelerator.wait_for_everyone()
        return model_dir, test

    def summarize(self, metrics: dict[str, float], test: dict[str, Any], model_dir: Path | None,
                  seconds: float, samples: int) -> dict[str, Any]:
        """``train_summary.json`` (main process); ``test`` goes in as ``test_metrics`` if it is numbers."""
        acc = self.accelerator
        modules = dict(self.unwrapped)
        modules.update({f"ema.{n}": e.module for n, e in self.ema.items()})
        digests = gather_object([ckpt.weights_digest(modules)])
        summary: dict[str, Any] = {
            "task": self.run.task, "step": self.iteration, "processes": acc.num_processes,
            "resumed_from": self.resumed_from, "metrics": metrics,
        }
        test_metrics = report.json_metrics(test) if test else None
        if test_metrics:
            summary["test_metrics"] = test_metrics
        elif test:
            logger.warning("test_metrics() returned values that are not numbers; train_summary.json leaves "
                           "them out")
        summary.update({
            "model_dir": str(model_dir) if model_dir else None, "seconds": round(seconds, 3),
            "samples_per_second": round(samples / seconds, 3) if seconds > 0 else None,
            "weights_sha256": digests, "in_sync": len(set(digests)) == 1,
        })
        if not summary["in_sync"]:
            logger.warning("the processes ended with different weights: a network was probably called "
                           "outside task.nets[name](...) or has a parameter that no step trains")
        if self.is_main:
            (self.run_dir / "train_summary.json").write_text(json.dumps(summary, indent=2) + "\n")
        acc.wait_for_everyone()
        return summary


def _scalar(value: Any) -> torch.Tensor | float:
    if isinstance(value, torch.Tensor):
        return value.detach().float().mean()
    return float(value)

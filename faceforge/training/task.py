"""What a model supplies to the training loop: a :class:`Task`.

A task builds its networks, optimizers and datasets, and lists its :class:`Step` s; each step is a function
``loss, logs = fn(batch)``. The loop (:func:`faceforge.training.train`) does everything else: devices, mixed
precision, gradient accumulation, backward, clipping, optimizer and scheduler steps, EMA, checkpoints,
logging, sample grids, evaluation and the final export. A task never calls ``backward`` or ``step``.

Example, a GAN with one D update every three G updates (IGCN)::

    @dataclass
    class MyGANOptions:                 # the run config's ``options:`` mapping, typed
        lr: float = 1e-4

    class MyGAN(Task):
        Options = MyGANOptions
        ema = ("g",)                    # networks with an EMA copy (decay: the run's ``ema_decay``)

        def build_networks(self):
            return {"g": Generator(GeneratorConfig()), "d": Discriminator()}

        def build_optimizers(self):
            return {k: torch.optim.Adam(self.nets[k].parameters(), lr=self.opts.lr) for k in ("g", "d")}

        def train_dataset(self):
            return self.dataset("train", size=128)   # the run's ``dataset``: synth by default

        def steps(self):
            return [Step("d", self.d_step, every=3), Step("g", self.g_step)]

        def d_step(self, batch):         # batch: collated samples, already on self.device
            fake = self.nets["g"](batch["lr"]).detach()
            loss = softplus(self.nets["d"](fake)).mean() + softplus(-self.nets["d"](batch["image"])).mean()
            return loss, {"fake": fake.mean()}

        def g_step(self, batch):
            sr = self.nets["g"](batch["lr"])
            return l1(sr, batch["image"]) + 1e-3 * softplus(-self.nets["d"](sr)).mean(), {}

        def export(self):                # a FaceForgeModel; during export ``self.nets["g"]`` is the EMA copy
            return self.nets["g"]

    # and in the family's declaration (faceforge/models/my_gan.py; docs/adding-a-model.md):
    #     tasks={"my_gan": "faceforge.training.tasks.my_gan:MyGAN"}

The contract, in the order the loop uses it:

1. ``train_dataset()`` and optionally ``eval_dataset()``: map-style datasets of samples that ``collate_fn``
   (default: torch's) batches. Afterwards ``self.total_steps`` holds the run's length in iterations.
2. ``build_networks() -> {name: nn.Module}``; ``self.nets`` holds them afterwards.
3. ``build_optimizers() -> {name: Optimizer}`` over ``self.nets``' parameters; then optionally
   ``build_schedulers() -> {optimizer name: LRScheduler}`` (``self.optimizers`` is set; each scheduler steps
   once per update of its optimizer, ``self.total_steps`` times at most).
4. ``steps() -> [Step]``. Iteration ``i`` runs each step with ``i >= start`` and ``(i - start) % every == 0``,
   in list order, each over the same ``grad_accum`` micro-batches and each followed by one update of its
   optimizer. During a step only that optimizer's parameters require gradients (the other networks are
   frozen, so a G step never leaves gradients in D), and networks are called through ``self.nets[name](...)``:
   that call is what keeps several processes in sync. Everything in ``logs`` (floats or 0-d tensors) and the
   loss are averaged and logged as ``<step>/<key>``.
5. Every ``sample_every`` iterations and at the end: ``sample(batch)`` on the first ``sample_count`` samples
   of the eval set (else the train set) returns ``(N, 3, H, W)`` images in [0, 1] (concatenate along the
   width to show input | output), saved as a PNG grid.
6. Every ``eval_every`` iterations and at the end: ``evaluate(loader) -> {metric: float}`` on the eval set
   (batches already on the device), on the main process.
7. At the end, in this order: ``export()`` returns the :class:`~faceforge.modeling.FaceForgeModel` to
   publish, which is written with ``save_pretrained``; then ``test_metrics()`` (optional, default ``{}``)
   returns the task's figures on its test split (``{name: float}``, or nested ``{group: {name: float}}``);
   then ``card(metrics, test)`` turns ``metrics`` (the final ``evaluate`` metrics) and ``test`` (what
   ``test_metrics()`` returned) into model-card fields, next to which the loop writes the card
   (:func:`faceforge.hub.write_model_card`, defaults filled from the run). ``card`` is pure: it formats what
   it is given and evaluates nothing (it may read ``self.opts``, ``self.run`` and the networks' configs).
   The test metrics also go to ``train_summary.json`` as ``test_metrics`` (every value through ``float``).

``sample``, ``evaluate``, ``export``, ``test_metrics`` and ``card`` run on the main process only, with the
networks in eval mode, gradients off and the training RNG untouched; there ``self.nets[name]`` is the
*inference* network: the EMA copy where there is one, else the plain (unwrapped) network. Networks that no
optimizer trains (a frozen, pretrained loss network) are moved to the device in eval mode and are not
checkpointed: build them deterministically (``from_pretrained``).

Resumption is exact: randomness inside a step comes from torch's global RNG (``torch.randn``, dropout),
which checkpoints restore, and a training sample is loaded with torch, numpy and ``random`` seeded from
``(seed, epoch, index)``, so random augmentations repeat whatever the number of workers or processes.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

import torch
from torch import nn
from torch.utils.data import Dataset

from faceforge.modeling import FaceForgeModel
from faceforge.training.config import RunConfig

StepFn = Callable[[Any], "tuple[torch.Tensor, Mapping[str, float | torch.Tensor]]"]


@dataclasses.dataclass(frozen=True)
class Step:
    """One kind of update: ``fn(batch) -> (loss, logs)``, then one step of ``optimizer``.

    Args:
        name: log prefix (``d`` -> ``d/loss``); also the optimizer name unless ``optimizer`` is given.
        fn: computes the loss on a batch; the loop does backward, clipping and the optimizer step.
        optimizer: key in ``build_optimizers()``; default ``name``.
        every: run on every ``every``-th iteration (IGCN's D: ``every=3`` next to a G step with ``every=1``).
        start: first iteration it runs on (e.g. adversarial steps after a pixel-loss warm-up).
    """

    name: str
    fn: StepFn
    optimizer: str = ""
    every: int = 1
    start: int = 0

    def __post_init__(self) -> None:
        if not self.name or "/" in self.name:
            raise ValueError(f"step name must be non-empty without '/', got {self.name!r}")
        if self.every < 1 or self.start < 0:
            raise ValueError(f"step {self.name}: every must be >= 1 and start >= 0, "
                             f"got {self.every}, {self.start}")
        if not self.optimizer:
            object.__setattr__(self, "optimizer", self.name)

    def due(self, iteration: int) -> bool:
        """Whether this step runs on ``iteration`` (0-based)."""
        return iteration >= self.start and (iteration - self.start) % self.every == 0


@dataclasses.dataclass
class NoOptions:
    """Options of a task that has none."""


class Task:
    """Base class of the training tasks; see the module docstring for the contract.

    Attributes set by the loop: ``run`` (the :class:`RunConfig`), ``opts`` (``run.options``, an instance of
    ``Options``), ``nets``, ``optimizers``, ``device``, ``total_steps`` (iterations in the run),
    ``iteration`` (the 0-based iteration being run), ``is_main_process`` and ``num_processes``.
    """

    Options: ClassVar[type] = NoOptions
    ema: ClassVar[tuple[str, ...]] = ()  # names in build_networks() that get an EMA copy
    find_unused_parameters: ClassVar[bool] = False  # for networks with branches a step does not use (DDP)
    collate_fn: ClassVar[Callable[[list], Any] | None] = None  # None: torch's default_collate

    def __init__(self, run: RunConfig):
        options = run.options
        if isinstance(options, Mapping):
            from faceforge.config import build

            options = build(self.Options, options, where="options")
            run = dataclasses.replace(run, options=options)
        elif not isinstance(options, self.Options):
            raise TypeError(f"{type(self).__name__} takes options of type {self.Options.__name__}, "
                            f"got {type(options).__name__}")
        self.run = run
        self.opts = options
        self.nets: dict[str, nn.Module] = {}
        self.optimizers: dict[str, torch.optim.Optimizer] = {}
        self.device = torch.device("cpu")
        self.total_steps = run.steps
        self.iteration = 0
        self.is_main_process = True
        self.num_processes = 1

    # --- built once, before training ------------------------------------------------------------------------
    def build_networks(self) -> dict[str, nn.Module]:
        raise NotImplementedError(f"{type(self).__name__} must define build_networks()")

    def build_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        raise NotImplementedError(f"{type(self).__name__} must define build_optimizers()")

    def build_schedulers(self) -> dict[str, torch.optim.lr_scheduler.LRScheduler]:
        """``{optimizer name: scheduler}``; each steps after every update of its optimizer. Default none."""
        return {}

    def train_dataset(self) -> Dataset:
        raise NotImplementedError(f"{type(self).__name__} must define train_dataset()")

    def eval_dataset(self) -> Dataset | None:
        """The set ``evaluate`` and ``sample`` see; default none."""
        return None

    def steps(self) -> list[Step]:
        raise NotImplementedError(f"{type(self).__name__} must define steps()")

    # --- called during and after training -------------------------------------------------------------------
    def sample(self, batch: Any) -> torch.Tensor | None:
        """``(N, 3, H, W)`` images in [0, 1] for a sample grid, or None (no grids)."""
        return None

    def evaluate(self, loader) -> dict[str, float]:
        """Metrics on the eval set (iterate ``loader`` for batches on the device); default none."""
        return {}

    def export(self) -> FaceForgeModel:
        raise NotImplementedError(f"{type(self).__name__} must define export()")

    def test_metrics(self) -> dict[str, Any]:
        """Figures on the task's test split: ``{name: float}`` or ``{group: {name: float}}``; default none.

        Called once, after ``export()``, on the main process in the inference view (EMA networks, eval mode,
        no grad, training RNG preserved); the result goes to ``card(metrics, test)`` and to
        ``train_summary.json``.
        """
        return {}

    def card_pictures(self, model: FaceForgeModel) -> dict[str, Any]:
        """Pictures the model card shows, ``{file name: PIL image}``, written beside it (and published with it);
        default none. Called after ``export()`` on the main process."""
        return {}

    def card(self, metrics: dict[str, float], test: dict[str, Any]) -> dict[str, Any]:
        """Model-card fields (keyword arguments of :func:`faceforge.hub.write_model_card`) for the results.

        ``metrics`` are the final eval metrics, ``test`` what :meth:`test_metrics` returned. ``card`` only
        formats them: it must not evaluate anything (no forward passes, no data loading).

        Return any of ``title``, ``summary``, ``pipeline_tag``, ``datasets``, ``metrics`` (rows with ``name``,
        ``type``, ``value``, ``dataset_name``, ``dataset_type``, ``dataset_split``), ``usage``, ``tags``,
        ``sections``, and ``training`` (rows added to the loop's: data, hardware, command, iterations, batch,
        precision, EMA, seed, options). Fields left out are filled from the run.
        """
        return {}

    # --- helpers --------------------------------------------------------------------------------------------
    def dataset(self, split: str, **kwargs: Any) -> Dataset:
        """A split of the run's ``dataset`` (``synth`` or a prepared real set) via ``build_dataset``.

        ``kwargs`` go to the dataset (e.g. ``size``; for synth ``length``, ``expressions``).
        """
        from faceforge.data.datasets import build_dataset

        fold: int | str | None = self.run.fold or None
        if isinstance(fold, str) and fold.isdigit():
            fold = int(fold)
        root = self.run.data_root or None
        if self.run.dataset == "synth":
            kwargs.setdefault("version", self.run.synth_version)
        return build_dataset(self.run.dataset, root=root, split=split, fold=fold, **kwargs)

"""The run config: one dataclass for the loop, holding the task's own typed options.

A run is described by a YAML file and ``key=value`` overrides, applied in that order over the defaults below::

    # train/configs/toy.yaml
    task: toy
    steps: 400
    batch_size: 16
    checkpoint_every: 100
    options:              # the task's own hyperparameters: fields of its ``Options`` dataclass
      lr_g: 2.0e-4
      net:                # the network's config, nested (a ModelConfig)
        hidden: 32

    accelerate launch train/train.py --task toy steps=800 mixed_precision=bf16 options.lr_g=1e-4 options.net.hidden=64

Run keys are the fields of :class:`RunConfig`; task keys are the fields of the task's ``Options`` dataclass,
written under ``options:`` in YAML and as dotted ``options.NAME=VALUE`` on the command line, down into nested
dataclasses. Values are typed by the one engine of :mod:`faceforge.config` (``"1e-4"`` becomes a float,
``"true"`` a bool, ``"1,2"`` a tuple, a ``Literal`` names its choices) and an unknown key is an error that names
the keys that exist.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Literal

import yaml

from faceforge.config import ConfigError, build_with_overrides, parse_overrides, to_plain

MixedPrecision = Literal["no", "bf16", "fp16"]
Tracker = Literal["auto", "none", "tensorboard", "wandb", "comet_ml", "aim", "mlflow", "clearml", "dvclive"]
MIXED_PRECISION: tuple[str, ...] = MixedPrecision.__args__
TRACKERS: tuple[str, ...] = Tracker.__args__

__all__ = ["ConfigError", "RunConfig", "load_config", "read_yaml", "save_config"]


@dataclasses.dataclass
class RunConfig:
    """Everything the training loop needs; the task's hyperparameters live in ``options``.

    Lengths are counted in *iterations*: one iteration draws ``grad_accum`` micro-batches of ``batch_size``
    samples per process and runs each of the task's due steps once over them (one optimizer update each).
    """

    task: str = ""  # a task name (faceforge.list_tasks())
    output_dir: str = ""  # default runs/<task>; checkpoints, samples, logs and the exported model go here
    # length
    steps: int = 0  # iterations to train; 0: derived from ``epochs``
    epochs: float = 0.0  # used when steps == 0: passes over the training set
    # batches
    batch_size: int = 16  # samples per micro-batch per process
    eval_batch_size: int = 0  # 0: batch_size
    grad_accum: int = 1  # micro-batches per update (effective batch: batch_size * grad_accum * processes)
    num_workers: int = 2  # DataLoader workers per process
    shuffle: bool = True
    # data (tasks that read faces from the data layer use these: faceforge.data.datasets.build_dataset)
    dataset: str = "synth"  # synth, or a real dataset prepared with `faceforge prepare NAME --out ROOT`
    data_root: str = ""  # the prepared cache folder (unused for synth)
    fold: str = ""  # the dataset's fold or protocol ("" = its default)
    synth_version: int = 2  # FaceForge-Synth renderer: 2 (shaded 3-D, the default) or 1 (2-D, the first one)
    # numerics
    mixed_precision: MixedPrecision = "no"
    clip_grad: float = 0.0  # max global grad norm per optimizer update; 0 = no clipping
    ema_decay: float = 0.999  # EMA of the task's ``ema`` networks; 0 = no EMA
    seed: int = 0
    cpu: bool = False  # force the CPU (also on a GPU machine)
    # cadence (in iterations; 0 = never, except at the end)
    log_every: int = 10
    checkpoint_every: int = 1000
    keep_checkpoints: int = 3  # newest checkpoints kept on disk (0 = all)
    sample_every: int = 500
    sample_count: int = 16  # images in a sample grid
    eval_every: int = 0
    # outputs
    trackers: Tracker = "auto"  # auto: TensorBoard when installed
    export: bool = True  # write the exported model (save_pretrained) and its model card at the end
    resume: str = ""  # "" fresh run; "latest": newest checkpoint in output_dir (fresh if none); or a folder
    options: Any = None  # the task's Options instance (a mapping until the task is known)

    def __post_init__(self) -> None:
        if self.mixed_precision not in MIXED_PRECISION:
            raise ConfigError(f"mixed_precision must be one of {', '.join(MIXED_PRECISION)}, "
                              f"got {self.mixed_precision!r}")
        if self.trackers not in TRACKERS:
            raise ConfigError(f"trackers must be one of {', '.join(TRACKERS)}, got {self.trackers!r}")
        for name in ("batch_size", "grad_accum"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)}")
        for name in ("steps", "eval_batch_size", "num_workers", "log_every", "checkpoint_every",
                     "keep_checkpoints", "sample_every", "sample_count", "eval_every"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name} must be >= 0, got {getattr(self, name)}")
        if isinstance(self.synth_version, bool) or self.synth_version not in (1, 2):
            raise ConfigError(f"synth_version must be 1 or 2, got {self.synth_version!r}")
        if self.epochs < 0 or self.clip_grad < 0:
            raise ConfigError("epochs and clip_grad must be >= 0")
        if not 0 <= self.ema_decay < 1:
            raise ConfigError(f"ema_decay must be in [0, 1), got {self.ema_decay}")
        if self.options is None:
            self.options = {}

    @property
    def run_dir(self) -> Path:
        """``output_dir``, or ``runs/<task>`` when it is empty."""
        return Path(self.output_dir or Path("runs") / (self.task or "run"))

    def to_dict(self) -> dict[str, Any]:
        """Plain data (the options and the configs nested in them as mappings), for ``config.yaml`` and the
        trackers."""
        return to_plain({f.name: getattr(self, f.name) for f in dataclasses.fields(self)})


def load_config(
    path: str | Path | None = None,
    overrides: Iterable[str] = (),
    *,
    options_class: type | None = None,
    task: str | None = None,
) -> RunConfig:
    """Defaults, then the YAML file at ``path``, then ``key=value`` overrides; typed and checked.

    The task is found first (``faceforge.training.tasks.load_run`` reads its name and passes its ``Options``),
    so this module needs no task table.

    Args:
        path: a YAML mapping of run keys (and an ``options`` mapping); None: defaults only.
        overrides: ``"key=value"`` strings; dotted keys reach the task's options and the dataclasses nested in
            them (``options.lr=1e-4``, ``options.net.channels=32``).
        options_class: the task's ``Options`` dataclass; None: no options may be given.
        task: the task name (wins over the file's ``task``).

    Raises:
        ConfigError: unreadable file, unknown key, badly typed value.
    """
    data = read_yaml(path) if path is not None else {}
    options = data.pop("options", None) or {}
    if not isinstance(options, dict):
        raise ConfigError(f"options must be a mapping of the task's keys, got {type(options).__name__}")
    texts = parse_overrides(overrides)
    option_texts = texts.pop("options", {})
    if not isinstance(option_texts, dict):
        raise ConfigError("options is a section: set its keys (options.NAME=VALUE)")
    if task is not None:
        texts["task"] = task
    if options_class is not None:
        typed_options = build_with_overrides(options_class, options, option_texts, where="options")
    elif options or option_texts:
        raise ConfigError("task options given but no task: pass --task NAME or set task: in the config file")
    else:
        typed_options = None
    run = build_with_overrides(RunConfig, data, texts, where=str(path) if path else "config")
    run.options = typed_options if typed_options is not None else {}
    return run


def read_yaml(path: str | Path) -> dict[str, Any]:
    """The mapping a YAML run config holds.

    Raises:
        ConfigError: no such file, invalid YAML, or not a mapping.
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {path} does not exist")
    try:
        loaded = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as err:
        raise ConfigError(f"{path} is not valid YAML: {err}") from err
    if not isinstance(loaded, dict):
        raise ConfigError(f"{path} must hold a mapping of run keys, got {type(loaded).__name__}")
    return dict(loaded)


def save_config(config: RunConfig, path: str | Path) -> None:
    """Write the resolved config as YAML (``load_config(path)`` reads it back)."""
    Path(path).write_text(yaml.safe_dump(config.to_dict(), sort_keys=False))

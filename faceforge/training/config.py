"""The run config: one flat dataclass for the loop, plus a task's own typed options.

A run is described by a YAML file and ``key=value`` overrides, applied in that order over the defaults below::

    # train/configs/toy.yaml
    task: toy
    steps: 400
    batch_size: 16
    checkpoint_every: 100
    options:              # the task's own hyperparameters: fields of its ``Options`` dataclass
      lr_g: 2.0e-4
      d_every: 1

    accelerate launch train/train.py --task toy steps=800 mixed_precision=bf16 options.lr_g=1e-4

Run keys are the fields of :class:`RunConfig`; task keys are the fields of the task's ``Options`` dataclass,
written under ``options:`` in YAML and as ``options.NAME=VALUE`` on the command line. Every value is typed
by its dataclass field (``"1e-4"`` becomes a float, ``"true"`` a bool, ``"1,2"`` a tuple) and an unknown key
is an error that names the keys that exist.
"""

from __future__ import annotations

import dataclasses
import difflib
import types
import typing
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

from faceforge.errors import FaceForgeError

MIXED_PRECISION = ("no", "bf16", "fp16")
TRACKERS = ("auto", "none", "tensorboard", "wandb", "comet_ml", "aim", "mlflow", "clearml", "dvclive")


class ConfigError(FaceForgeError, ValueError):
    """A run config that cannot be used: unknown key, value of the wrong type, impossible setting."""


@dataclasses.dataclass
class RunConfig:
    """Everything the training loop needs; the task's hyperparameters live in ``options``.

    Lengths are counted in *iterations*: one iteration draws ``grad_accum`` micro-batches of ``batch_size``
    samples per process and runs each of the task's due steps once over them (one optimizer update each).
    """

    task: str = ""  # name in faceforge.training.tasks.TASKS
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
    # numerics
    mixed_precision: str = "no"  # no | bf16 | fp16
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
    trackers: str = "auto"  # auto (TensorBoard when installed) | none | an Accelerate tracker name
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
        """Plain data (the options as a mapping), for ``config.yaml`` and the trackers."""
        data = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "options"}
        options = self.options
        is_dataclass = dataclasses.is_dataclass(options)
        data["options"] = dataclasses.asdict(options) if is_dataclass else dict(options or {})
        return _plain(data)


def load_config(
    path: str | Path | None = None,
    overrides: Iterable[str] = (),
    *,
    task: str | None = None,
    options_class: type | None = None,
) -> RunConfig:
    """Defaults, then the YAML file at ``path``, then ``key=value`` overrides; typed and checked.

    Args:
        path: a YAML mapping of run keys (and an ``options`` mapping); None: defaults only.
        overrides: ``"key=value"`` strings; ``"options.NAME=value"`` for a task option.
        task: the task name (wins over the file's ``task``).
        options_class: the task's ``Options`` dataclass; None: looked up from the task name in ``TASKS``.

    Raises:
        ConfigError: unreadable file, unknown key, badly typed value, unknown task.
    """
    data: dict[str, Any] = {}
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise ConfigError(f"config file {path} does not exist")
        try:
            loaded = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as err:
            raise ConfigError(f"{path} is not valid YAML: {err}") from err
        if not isinstance(loaded, dict):
            raise ConfigError(f"{path} must hold a mapping of run keys, got {type(loaded).__name__}")
        data = dict(loaded)
    options = data.pop("options", None) or {}
    if not isinstance(options, dict):
        raise ConfigError(f"options must be a mapping of the task's keys, got {type(options).__name__}")
    run_values = _typed(RunConfig, data, where=str(path) if path else "config", skip={"options"})
    option_texts: dict[str, str] = {}
    for item in overrides:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ConfigError(f"override {item!r} is not KEY=VALUE")
        if key.startswith("options."):
            option_texts[key.removeprefix("options.")] = value
        else:
            typed = _typed(RunConfig, {key: value}, where="command line", skip={"options"}, text=True)
            run_values.update(typed)
    if task is not None:
        run_values["task"] = task
    name = run_values.get("task", "")
    if options_class is None and name:
        from faceforge.training.tasks import get_task_class

        options_class = get_task_class(name).Options
    if options_class is not None:
        typed = _typed(options_class, options, where="options")
        typed.update(_typed(options_class, option_texts, where="command line options", text=True))
        try:
            run_values["options"] = options_class(**typed)
        except (TypeError, ValueError) as err:
            raise ConfigError(f"task options: {err}") from err
    elif options or option_texts:
        raise ConfigError("task options given but no task: pass --task NAME or set task: in the config file")
    try:
        return RunConfig(**run_values)
    except TypeError as err:
        raise ConfigError(str(err)) from err


def save_config(config: RunConfig, path: str | Path) -> None:
    """Write the resolved config as YAML (``load_config(path)`` reads it back)."""
    Path(path).write_text(yaml.safe_dump(config.to_dict(), sort_keys=False))


# --- typing of values ---------------------------------------------------------------------------------------
def _typed(cls: type, values: Mapping[str, Any], *, where: str, skip: Iterable[str] = (), text: bool = False
           ) -> dict[str, Any]:
    """``values`` checked against ``cls``'s fields and converted to their types (``text``: CLI strings)."""
    hints = typing.get_type_hints(cls)
    fields = [f.name for f in dataclasses.fields(cls) if f.name not in set(skip)]
    out = {}
    for key, value in values.items():
        if key not in fields:
            close = difflib.get_close_matches(str(key), fields, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ConfigError(f"{where}: unknown key {key!r}{hint}; {cls.__name__} has {', '.join(fields)}")
        try:
            out[key] = coerce(value, hints[key], text=text)
        except (TypeError, ValueError) as err:
            raise ConfigError(f"{where}: {key}={value!r}: {err}") from err
    return out


def coerce(value: Any, hint: Any, *, text: bool = False) -> Any:
    """Convert a YAML value (or, with ``text``, a command-line string) to the type ``hint``.

    Supports bool, int, float, str, ``X | None``, ``tuple[X, ...]`` / ``list[X]`` (from a YAML list or
    ``"a,b,c"``) and ``Any`` (YAML-parsed text).
    """
    origin = typing.get_origin(hint)
    if hint is Any:
        return yaml.safe_load(value) if text and isinstance(value, str) else value
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(hint)
        is_none = value is None or (text and str(value).strip().lower() in ("none", "null", "~"))
        if is_none and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return coerce(value, arg, text=text)
            except (TypeError, ValueError) as err:
                errors.append(str(err))
        raise ValueError("; ".join(errors) or f"cannot be {hint}")
    if origin in (tuple, list):
        args = [a for a in typing.get_args(hint) if a is not Ellipsis] or [Any]
        if isinstance(value, str):
            parsed = yaml.safe_load(value) if text else value
            items = parsed if isinstance(parsed, list) else [v for v in value.split(",") if v.strip()]
            items = [v.strip() if isinstance(v, str) else v for v in items]
        elif isinstance(value, (list, tuple)):
            items = list(value)
        else:
            items = [value]
        types_ = [args[0]] * len(items) if len(args) == 1 else args
        return origin(coerce(v, t, text=text) for v, t in zip(items, types_, strict=True))
    if hint is bool:
        if isinstance(value, bool):
            return value
        word = str(value).strip().lower()
        if word in ("1", "true", "yes", "on"):
            return True
        if word in ("0", "false", "no", "off"):
            return False
        raise ValueError(f"expected a bool (true/false), got {value!r}")
    if hint is int:
        if isinstance(value, bool):
            raise ValueError(f"expected an int, got {value!r}")
        if isinstance(value, float) and not value.is_integer():
            raise ValueError(f"expected an int, got {value!r}")
        try:
            return int(value)
        except (TypeError, ValueError):
            pass
        try:  # "1e3" and 1000.0 are ints too
            number = float(value)
        except (TypeError, ValueError):
            number = None
        if number is None or not number.is_integer():
            raise ValueError(f"expected an int, got {value!r}")
        return int(number)
    if hint is float:
        if isinstance(value, bool):
            raise ValueError(f"expected a float, got {value!r}")
        try:
            return float(value)
        except (TypeError, ValueError):
            raise ValueError(f"expected a float, got {value!r}") from None
    if hint is str:
        if isinstance(value, (dict, list)):
            raise ValueError(f"expected a string, got {type(value).__name__}")
        return "" if value is None else str(value)
    if isinstance(hint, type) and isinstance(value, hint):
        return value
    raise TypeError(f"cannot convert {value!r} to {hint}")


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value

"""The training tasks by name, derived from the model families' declarations (:mod:`faceforge.registry`).

A family names its tasks as ``"module:Class"`` references; the class is imported when its task is asked for.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from pathlib import Path

from faceforge.config import ConfigError
from faceforge.family import load_reference
from faceforge.registry import list_tasks, task_reference
from faceforge.training.config import RunConfig, load_config, read_yaml
from faceforge.training.task import Task


def get_task_class(name: str) -> type[Task]:
    """The task class registered as ``name``.

    Raises:
        ConfigError: no such task (the message lists the tasks).
    """
    reference = task_reference(name)
    if reference is None:
        close = difflib.get_close_matches(name, list_tasks(), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ConfigError(f"unknown task {name!r}{hint}; the tasks are {', '.join(list_tasks())}")
    cls = load_reference(reference)
    if not (isinstance(cls, type) and issubclass(cls, Task)):
        raise TypeError(f"task {name!r} refers to {reference}, which is not a Task subclass")
    return cls


def build_task(run: RunConfig) -> Task:
    """The task ``run.task`` names, with ``run.options`` typed by its ``Options``."""
    if not run.task:
        raise ConfigError("no task: pass --task NAME")
    return get_task_class(run.task)(run)


def load_run(path: str | Path | None = None, overrides: Iterable[str] = (), *, task: str | None = None
             ) -> RunConfig:
    """A run config with its task's options typed: the task is found first (``task``, else the file's
    ``task:``), then :func:`~faceforge.training.config.load_config` reads the file and the overrides.

    Raises:
        ConfigError: no task named anywhere, an unknown task, or anything ``load_config`` refuses.
    """
    name = task or (read_yaml(path).get("task") if path is not None else None)
    if not name:
        raise ConfigError("no task: pass --task NAME (or set task: in the config file)")
    return load_config(path, overrides, options_class=get_task_class(str(name)).Options, task=task)


def __getattr__(name: str):
    if name == "TASKS":  # {name: class}, every task imported (for listings and tests)
        return {task: get_task_class(task) for task in list_tasks()}
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["build_task", "get_task_class", "list_tasks", "load_run"]

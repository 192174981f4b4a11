"""The training tasks by name: one explicit table. Add a task by importing its class and adding one line."""

from __future__ import annotations

from faceforge.training.config import ConfigError, RunConfig
from faceforge.training.task import Task
from faceforge.training.tasks.au_detector import AUDetectorTask
from faceforge.training.tasks.expression import ExpressionTask
from faceforge.training.tasks.face_alignment import FaceAlignmentTask
from faceforge.training.tasks.mpenet import MPEGANTask, MPENetTask
from faceforge.training.tasks.toy import ToyGAN

TASKS: dict[str, type[Task]] = {
    "toy": ToyGAN,
    "au_detector": AUDetectorTask,
    "expression_classifier": ExpressionTask,
    "face_alignment": FaceAlignmentTask,
    "mpenet": MPENetTask,
    "mpegan": MPEGANTask,
}


def get_task_class(name: str) -> type[Task]:
    try:
        return TASKS[name]
    except KeyError:
        raise ConfigError(f"unknown task {name!r}; the tasks are {', '.join(sorted(TASKS))}") from None


def build_task(run: RunConfig) -> Task:
    """The task ``run.task`` names, with ``run.options`` typed by its ``Options``."""
    if not run.task:
        raise ConfigError("no task: pass --task NAME")
    return get_task_class(run.task)(run)


__all__ = ["TASKS", "build_task", "get_task_class"]

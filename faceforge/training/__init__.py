"""Training: one Accelerate loop (:func:`train`) for every model; each model supplies a small :class:`Task`.

``accelerate launch train/train.py --task NAME [--config FILE] [key=value ...]`` is the command line;
:mod:`faceforge.training.task` states what a task provides, :mod:`faceforge.training.config` the run keys,
and :func:`faceforge.training.tasks.load_run` reads a run config for a task by name (``faceforge.list_tasks()``).
"""

from faceforge.training.checkpoint import list_checkpoints
from faceforge.training.config import ConfigError, RunConfig, load_config, save_config
from faceforge.training.ema import EMA
from faceforge.training.loop import TrainingInterrupted, TrainResult, train
from faceforge.training.task import NoOptions, Step, Task

__all__ = [
    "EMA", "ConfigError", "NoOptions", "RunConfig", "Step", "Task", "TrainResult", "TrainingInterrupted",
    "list_checkpoints", "load_config", "save_config", "train",
]

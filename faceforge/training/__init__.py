"""Training: one Accelerate loop (:func:`train`) for every model; each model supplies a small :class:`Task`.

``accelerate launch train/train.py --task NAME [--config FILE] [key=value ...]`` is the command line;
:mod:`faceforge.training.task` states what a task provides, :mod:`faceforge.training.config` the run keys,
and :data:`faceforge.training.tasks.TASKS` lists the tasks by name.
"""

from faceforge.training.config import ConfigError, RunConfig, load_config, save_config
from faceforge.training.loop import EMA, TrainingInterrupted, TrainResult, list_checkpoints, train
from faceforge.training.task import NoOptions, Step, Task

__all__ = [
    "EMA", "ConfigError", "NoOptions", "RunConfig", "Step", "Task", "TrainResult", "TrainingInterrupted",
    "list_checkpoints", "load_config", "save_config", "train",
]

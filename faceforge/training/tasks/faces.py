"""Face data for the tasks: FaceForge-Synth from the render cache, or a prepared real dataset."""

from __future__ import annotations

from torch.utils.data import Dataset

from faceforge.training.task import Task


def face_split(task: Task, split: str, *, length: int | None = None, hflip: bool = False, **synth_kwargs) -> Dataset:
    """A split of the run's dataset. Synthetic splits are rendered once into the cache
    (``faceforge.data.cache``) so that epochs do not pay for rendering again."""
    if task.run.dataset == "synth":
        from faceforge.data.cache import cached_synth

        return cached_synth(split, length=length, hflip=hflip, **synth_kwargs)
    return task.dataset(split)


def dataset_card_name(task: Task) -> tuple[str, str]:
    """(Hub dataset id or name, human description) of the run's training data."""
    if task.run.dataset == "synth":
        return "faceforge/faceforge-synth", "FaceForge-Synth (procedural faces rendered by faceforge; no photographs)"
    return task.run.dataset, f"{task.run.dataset} prepared with `faceforge prepare` (fold {task.run.fold or 'default'})"

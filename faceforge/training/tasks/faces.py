"""Face data for the tasks: FaceForge-Synth from the render cache, or a prepared real dataset."""

from __future__ import annotations

import math

import torch
from torch.utils.data import Dataset

from faceforge.training.task import Step, Task


def face_split(task: Task, split: str, *, length: int | None = None, hflip: bool = False, **synth_kwargs) -> Dataset:
    """A split of the run's dataset. Synthetic splits are rendered once into the cache
    (``faceforge.data.cache``) so that epochs do not pay for rendering again."""
    if task.run.dataset == "synth":
        from faceforge.data.cache import cached_synth

        return cached_synth(split, length=length, hflip=hflip, version=task.run.synth_version, **synth_kwargs)
    return task.dataset(split)


def dataset_card_name(task: Task) -> tuple[str, str]:
    """(Hub dataset id or name, human description) of the run's training data."""
    if task.run.dataset == "synth":
        renderer = {1: "renderer 1, 2-D polygons", 2: "renderer 2, shaded 3-D"}[task.run.synth_version]
        return ("faceforge/faceforge-synth",
                f"FaceForge-Synth v{task.run.synth_version} ({renderer}: procedural faces rendered by faceforge; "
                "no photographs)")
    return task.run.dataset, f"{task.run.dataset} prepared with `faceforge prepare` (fold {task.run.fold or 'default'})"


def warmup_cosine(optimizer: torch.optim.Optimizer, total: int, warmup: float) -> torch.optim.lr_scheduler.LambdaLR:
    """Linear warm-up over ``warmup * total`` updates, then cosine decay to zero."""
    warm = max(1, int(warmup * total))

    def factor(step: int) -> float:
        if step < warm:
            return (step + 1) / warm
        return 0.5 * (1 + math.cos(math.pi * min(1.0, (step - warm) / max(1, total - warm))))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


class SingleNetworkTask(Task):
    """A task that trains one network ``"net"`` with AdamW and a warm-up + cosine schedule.

    Its ``Options`` need ``lr``, ``weight_decay`` and ``warmup``; subclasses give ``build_networks`` and ``step``.
    """

    def build_optimizers(self):
        return {"net": torch.optim.AdamW(self.nets["net"].parameters(), lr=self.opts.lr,
                                         weight_decay=self.opts.weight_decay)}

    def build_schedulers(self):
        return {"net": warmup_cosine(self.optimizers["net"], self.total_steps, self.opts.warmup)}

    def steps(self):
        return [Step("net", self.step)]

    def step(self, batch):
        raise NotImplementedError

    def export(self):
        return self.nets["net"]

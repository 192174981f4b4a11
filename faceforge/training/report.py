"""What a run reports about itself: the exported model's card, the summary's test figures, the trackers.

:func:`write_card` fills the model card from the task's ``card(metrics, test)`` fields over defaults drawn
from the run (title, datasets, eval metrics, and the training table: data, hardware, time, command,
iterations, batch, precision, EMA, seed, options). Nothing here touches a network or the RNGs.
"""

from __future__ import annotations

import os
import platform
import shlex
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from accelerate import Accelerator

from faceforge.modeling import FaceForgeModel
from faceforge.training.config import RunConfig


# --- the model card -----------------------------------------------------------------------------------------
def write_card(model_dir: Path, model: FaceForgeModel, run: RunConfig, card: Mapping[str, Any], *,
               metrics: dict[str, float], train_samples: int, hardware: str, seconds: float, iterations: int,
               processes: int, ema: bool) -> None:
    """Write ``model_dir/README.md``: the task's ``card`` fields over defaults drawn from the run.

    Args:
        card: what the task's ``card(metrics, test)`` returned; its ``training`` rows are added to the loop's.
        metrics: the final eval metrics (the default ``metrics`` rows, split ``eval``).
        train_samples: size of the training set; ``hardware``: :func:`hardware`'s line; ``seconds``: training
            time over every session of the run; ``iterations``: the run's final iteration; ``processes``: how
            many processes trained; ``ema``: whether EMA copies were kept (the row shows ``run.ema_decay``).
    """
    from faceforge.hub import write_model_card

    card = dict(card)
    fields: dict[str, Any] = {
        "title": f"faceforge {model.config.model_type} ({run.task})",
        "summary": f"A {type(model).__name__} trained with the faceforge {run.task} task.",
        "pipeline_tag": "image-classification",
        "datasets": [run.dataset],
        "metrics": [{"name": k, "type": k, "value": v, "dataset_name": run.dataset,
                     "dataset_type": run.dataset, "dataset_split": "eval"} for k, v in metrics.items()],
    }
    training = {
        "data": f"{run.dataset}: {train_samples} training samples",
        "hardware": hardware,
        "training time": duration(seconds),
        "command": launch_command(run),
        "iterations": iterations,
        "batch": f"{run.batch_size} x {run.grad_accum} accumulated x {processes} processes",
        "precision": "fp32" if run.mixed_precision == "no" else f"{run.mixed_precision} autocast",
        "EMA decay": run.ema_decay if ema else "none",
        "seed": run.seed,
        "options": ", ".join(f"{k}={v}" for k, v in run.to_dict()["options"].items()),
    }
    training.update(card.pop("training", {}))
    fields.update(card)
    fields["training"] = training
    write_model_card(model_dir, **fields)


def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "CPU"


def hardware(accelerator: Accelerator) -> str:
    """``<processes> x <device name>``, as the card's training table shows it."""
    device = accelerator.device
    if device.type == "cuda":
        name = torch.cuda.get_device_name(device)
    elif device.type == "cpu":
        name = f"CPU, {os.cpu_count()} cores ({cpu_name()}), no GPU"
    else:
        name = device.type.upper()
    return f"{accelerator.num_processes} x {name}"


def duration(seconds: float) -> str:
    """Wall-clock training time for a card: minutes, or hours above 1.5 h."""
    return f"{seconds / 3600:.1f} h (wall clock)" if seconds >= 5400 else f"{seconds / 60:.0f} min (wall clock)"


def launch_command(run: RunConfig) -> str:
    """The command that reproduces this run, as the card shows it."""
    argv = sys.argv[1:] if Path(sys.argv[0]).name == "train.py" else ["--task", run.task]
    return "accelerate launch train/train.py " + " ".join(shlex.quote(a) for a in argv)


# --- the summary --------------------------------------------------------------------------------------------
def json_metrics(value: Any) -> Any:
    """``test_metrics()``'s result for ``train_summary.json``: nested dicts of floats (every leaf through
    ``float()``, keys through ``str()``), or None when a leaf is no number."""
    if isinstance(value, Mapping):
        out = {}
        for key, item in value.items():
            converted = json_metrics(item)
            if converted is None:
                return None
            out[str(key)] = converted
        return out
    try:
        return float(value)
    except (TypeError, ValueError, RuntimeError):  # RuntimeError: a tensor of several elements
        return None


# --- trackers -----------------------------------------------------------------------------------------------
def tracker_names(choice: str) -> list[str]:
    """The Accelerate trackers for the run's ``trackers`` key (``auto``: TensorBoard when installed)."""
    if choice == "none":
        return []
    if choice == "auto":
        try:
            import tensorboard  # noqa: F401
        except ImportError:
            try:
                import tensorboardX  # noqa: F401
            except ImportError:
                return []
        return ["tensorboard"]
    return [choice]


def flat_hparams(config: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """A nested config as ``{"a.b": scalar}`` (what trackers accept as hyperparameters)."""
    out = {}
    for key, value in config.items():
        if isinstance(value, dict):
            out.update(flat_hparams(value, f"{prefix}{key}."))
        elif isinstance(value, (int, float, str, bool)):
            out[prefix + key] = value
        else:
            out[prefix + key] = str(value)
    return out

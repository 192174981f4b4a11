"""Paper-style evaluation of faceforge models: ``faceforge eval --model ID --dataset NAME --split test``.

Each model type has one evaluator function that runs the model over a dataset and returns
``{"table": {row: {column: value}}, "details": {...}}``; ``format_table`` prints the table the way the papers
do (percentages). Synthetic evaluation sets: ``synth`` (the split as is), ``synth-peak`` (expression
intensity 0.85-1) and ``synth-weak`` (intensity 0.15-0.4), all identity-disjoint from training.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch.utils.data import DataLoader, Dataset

from faceforge.face.aus import au_label
from faceforge.metrics.classification import au_metrics, confusion_matrix, expression_metrics
from faceforge.modeling import FaceForgeModel

SYNTH_SETS = {
    "synth": {},
    "synth-peak": {"intensity_range": (0.85, 1.0)},
    "synth-weak": {"intensity_range": (0.15, 0.4)},
}

# The shipped evaluator of each kind, which `faceforge eval` uses to score other models' outputs.
DEFAULT_EVALUATORS = {"au": "hub_cards/au-evaluator", "expression": "hub_cards/expression-evaluator"}


def build_eval_dataset(name: str, *, split: str = "test", root: str | None = None, length: int | None = None,
                       size: int = 128) -> Dataset:
    """A dataset by name: the synthetic sets above, or a prepared real dataset (``faceforge prepare``)."""
    if name in SYNTH_SETS:
        from faceforge.data.synth import SynthFaces

        return SynthFaces(split, size=size, length=length, **SYNTH_SETS[name])
    from faceforge.data.datasets import build_dataset

    return build_dataset(name, root=root, split=split)


@torch.no_grad()
def _collect(model: torch.nn.Module, dataset: Dataset, keys: tuple[str, ...], *, batch_size: int,
             num_workers: int, device: str) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    loader = DataLoader(dataset, batch_size=batch_size, num_workers=num_workers)
    outputs, labels = [], {k: [] for k in keys}
    model = model.to(device).eval()
    for batch in loader:
        outputs.append(model(batch["image"].to(device)).float().cpu())
        for k in keys:
            labels[k].append(torch.as_tensor(batch[k]))
    return torch.cat(outputs), {k: torch.cat(v) for k, v in labels.items()}


def evaluate_au_detector(model: FaceForgeModel, dataset: Dataset, *, batch_size: int = 64, num_workers: int = 0,
                         device: str = "cpu") -> dict:
    """Per-AU F1 and accuracy (IGCN Tables 1-2 / MPENet Table 2) of the model's AUs that the dataset labels."""
    keys = ("au_occurrence",) + (("au_mask",) if _has_key(dataset, "au_mask") else ())
    logits, labels = _collect(model, dataset, keys, batch_size=batch_size, num_workers=num_workers, device=device)
    data_aus = tuple(getattr(dataset, "aus", model.config.aus))
    columns = [model.config.aus.index(au) for au in data_aus if au in model.config.aus]
    target_cols = [data_aus.index(model.config.aus[c]) for c in columns]
    mask = labels["au_mask"][:, target_cols] if "au_mask" in labels else None
    result = au_metrics(torch.sigmoid(logits[:, columns]), labels["au_occurrence"][:, target_cols],
                        aus=[model.config.aus[c] for c in columns], threshold=model.config.threshold, mask=mask)
    return {"table": result, "details": {"samples": len(logits), "aus": [au_label(model.config.aus[c])
                                                                         for c in columns]}}


def evaluate_expression_classifier(model: FaceForgeModel, dataset: Dataset, *, batch_size: int = 64,
                                   num_workers: int = 0, device: str = "cpu") -> dict:
    """Per-class, mean and overall accuracy and the confusion matrix (FSR-FER / GroupGAN tables)."""
    logits, labels = _collect(model, dataset, ("expression",), batch_size=batch_size, num_workers=num_workers,
                              device=device)
    names = model.config.classes
    target = labels["expression"]
    return {
        "table": expression_metrics(logits, target, class_names=names),
        "details": {"samples": len(target), "confusion": confusion_matrix(logits, target, class_names=names,
                                                                           normalize=True)},
    }


EVALUATORS: dict[str, Callable[..., dict]] = {
    "au_detector": evaluate_au_detector,
    "expression_classifier": evaluate_expression_classifier,
}


def evaluate(model: FaceForgeModel, dataset: Dataset, **kwargs) -> dict:
    """Run the evaluator of ``model``'s type over ``dataset``."""
    model_type = model.config.model_type
    if model_type not in EVALUATORS:
        raise ValueError(f"no evaluation defined for model_type {model_type!r}")
    return EVALUATORS[model_type](model, dataset, **kwargs)


def _has_key(dataset: Dataset, key: str) -> bool:
    try:
        return key in dataset[0]
    except (IndexError, KeyError):
        return False

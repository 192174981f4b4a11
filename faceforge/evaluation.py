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

SR_DIGITS = {"PSNR": 2, "SSIM": 4, "AU F1": 2, "AU Acc": 2}  # as MPENet's tables print them

# The shipped evaluator of each kind, which `faceforge eval` uses to score other models' outputs (short names:
# hub_cards/<name> in a source checkout, else the Hub).
DEFAULT_EVALUATORS = {"au": "au-evaluator", "expression": "expression-evaluator"}


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
                        aus=[model.config.aus[c] for c in columns], threshold=model.decision_thresholds()[columns],
                        mask=mask)
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


def _centre_crop(images: torch.Tensor, size: int) -> tuple[torch.Tensor, int]:
    """The centre ``size`` crop of (B, 3, S, S) faces (prepared sets may carry a border) and its offset."""
    side = images.shape[-1]
    if images.shape[-2] != side or side < size:
        raise ValueError(f"faces must be square and at least {size} pixels, got {tuple(images.shape[-2:])}")
    top = (side - size) // 2
    return images[..., top:top + size, top:top + size], top


@torch.no_grad()
def evaluate_super_resolution(model: FaceForgeModel, dataset: Dataset, *, batch_size: int = 32,
                              num_workers: int = 0, device: str = "cpu",
                              au_evaluator: str | FaceForgeModel | None = DEFAULT_EVALUATORS["au"]) -> dict:
    """MPENet Tables 1-3 on a face dataset: PSNR / SSIM (Y channel) and AU F1 / accuracy of the restored faces.

    Every face is centre-cropped to the model's output size, brought down by MATLAB bicubic (8-bit, as in
    training) and restored. Rows: ``bicubic`` (the LR input upsampled), ``step 1`` ... ``step T`` (the last
    is the model's output), and ``HR`` (the ground-truth faces: the ceiling of the AU columns). The AU columns
    are measured by ``au_evaluator``, a separately trained AU detector (never the network that supervised the
    model); ``None`` leaves them out.

    Returns:
        ``{"table": {row: {"PSNR": dB, "SSIM": value, "AU F1": %, "AU Acc": %}}, "percent": False,
        "digits": SR_DIGITS, "details": {"samples", "au_f1" (row -> per-AU F1), "landmark_px", "evaluator"}}``.
    """
    from faceforge.data.degrade import imresize, to_low_resolution
    from faceforge.face.aus import au_index
    from faceforge.metrics.image import psnr_y, ssim_y

    cfg = model.config
    model = model.to(device).eval()
    evaluator = None
    if au_evaluator is not None:
        import faceforge

        evaluator = (faceforge.from_pretrained(au_evaluator) if isinstance(au_evaluator, str) else au_evaluator)
        evaluator = evaluator.to(device).eval()
    loader = DataLoader(dataset, batch_size=batch_size, num_workers=num_workers)
    rows = ["bicubic", *(f"step {t}" for t in range(1, cfg.steps + 1))]
    quality: dict[str, dict[str, list]] = {r: {"PSNR": [], "SSIM": []} for r in rows}
    probs: dict[str, list[torch.Tensor]] = {r: [] for r in [*rows, "HR"]}
    targets, masks, landmark_err = [], [], []
    for batch in loader:
        hr, offset = _centre_crop(batch["image"].to(device).float(), cfg.image_size)
        lr = to_low_resolution(hr, cfg.lr_size, quantize=True)
        out = model(lr)
        images = {"bicubic": imresize(lr, size=cfg.image_size, clamp=True)}
        images.update({f"step {t}": sr.float().clamp(0, 1) for t, sr in enumerate(out["steps"], start=1)})
        for name, sr in images.items():
            quality[name]["PSNR"].extend(psnr_y(sr, hr).tolist())
            quality[name]["SSIM"].extend(ssim_y(sr, hr).tolist())
        if evaluator is not None:
            for name, img in {**images, "HR": hr}.items():
                probs[name].append(torch.sigmoid(evaluator(img).float()).cpu())
            targets.append(torch.as_tensor(batch["au_occurrence"]).float())
            if "au_mask" in batch:
                masks.append(torch.as_tensor(batch["au_mask"]).float())
        if out["landmarks"] is not None and "landmarks" in batch:
            truth = batch["landmarks"].to(out["landmarks"].device).float() - offset
            landmark_err.extend((out["landmarks"] - truth).norm(dim=-1).mean(-1).tolist())
    table = {r: {k: float(torch.tensor(v, dtype=torch.float64).mean()) for k, v in quality[r].items()} for r in rows}
    table["HR"] = {}
    details: dict = {"samples": len(quality["bicubic"]["PSNR"]), "rows": "model output = the last step"}
    if evaluator is not None:
        data_aus = tuple(getattr(dataset, "aus", cfg.aus))
        shared = [au for au in data_aus if au in evaluator.config.aus]
        columns = list(au_index(evaluator.config.aus, shared))
        target_cols = list(au_index(data_aus, shared))
        target = torch.cat(targets)[:, target_cols]
        mask = torch.cat(masks)[:, target_cols] if masks else None
        details["evaluator"] = (au_evaluator if isinstance(au_evaluator, str) else type(evaluator).__name__)
        details["au_f1"] = {}
        for name, p in probs.items():
            result = au_metrics(torch.cat(p)[:, columns], target, aus=shared,
                                threshold=evaluator.decision_thresholds()[columns], mask=mask)
            table[name]["AU F1"] = 100 * result["f1"]["avg"]
            table[name]["AU Acc"] = 100 * result["accuracy"]["avg"]
            details["au_f1"][name] = {k: 100 * v for k, v in result["f1"].items()}
    else:
        del table["HR"]
    if landmark_err:
        details["landmark_px"] = float(torch.tensor(landmark_err).mean())
    return {"table": table, "percent": False, "digits": SR_DIGITS, "details": details}


EVALUATORS: dict[str, Callable[..., dict]] = {
    "au_detector": evaluate_au_detector,
    "expression_classifier": evaluate_expression_classifier,
    "mpenet": evaluate_super_resolution,
}


# Model types whose tables are measured by a separate evaluator network (``au_evaluator=``).
EVALUATOR_USERS = ("mpenet",)


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

"""Paper-style evaluation of faceforge models: ``faceforge eval --model ID --dataset NAME --split test``.

Each model type has one evaluator function that runs the model over a dataset and returns
``{"table": {row: {column: value}}, "details": {...}}``; ``format_table`` prints the table the way the papers
do (percentages). Synthetic evaluation sets: ``synth`` (the split as is), ``synth-peak`` (expression
intensity 0.85-1) and ``synth-weak`` (intensity 0.15-0.4), all identity-disjoint from training.
"""

from __future__ import annotations

import inspect
from pathlib import Path

import torch
from torch.utils.data import DataLoader, Dataset

from faceforge.face.aus import au_label
from faceforge.metrics.classification import (
    au_metrics,
    au_ranking_metrics,
    au_statistics,
    best_f1_thresholds,
    confusion_matrix,
    expression_metrics,
)
from faceforge.modeling import FaceForgeModel

SYNTH_SETS = {
    "synth": {},
    "synth-peak": {"intensity_range": (0.85, 1.0)},
    "synth-weak": {"intensity_range": (0.15, 0.4)},
}

SR_DIGITS = {"PSNR": 2, "SSIM": 4, "AU F1": 2, "AU Acc": 2, "AU AUC": 3, "AU AP": 3}  # as MPENet's tables print them



def build_eval_dataset(name: str, *, split: str = "test", root: str | None = None, length: int | None = None,
                       size: int = 128, synth_version: int | None = None) -> Dataset:
    """A dataset by name: the synthetic sets above, or a prepared real dataset (``faceforge prepare``).

    ``synth_version``: FaceForge-Synth's renderer for the synthetic sets (None: the default, 2)."""
    if name in SYNTH_SETS:
        from faceforge.data.synth import SynthFaces
        from faceforge.data.synth.faces import check_version

        return SynthFaces(split, size=size, length=length, version=check_version(synth_version), **SYNTH_SETS[name])
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
    """Per-AU F1 and accuracy (IGCN Tables 1-2 / MPENet Table 2) of the model's AUs that the dataset labels, and
    the threshold-free ROC-AUC and average precision (rows ``auc`` and ``ap``)."""
    keys = ("au_occurrence",) + (("au_mask",) if _has_key(dataset, "au_mask") else ())
    logits, labels = _collect(model, dataset, keys, batch_size=batch_size, num_workers=num_workers, device=device)
    data_aus = tuple(getattr(dataset, "aus", model.config.aus))
    columns = [model.config.aus.index(au) for au in data_aus if au in model.config.aus]
    target_cols = [data_aus.index(model.config.aus[c]) for c in columns]
    mask = labels["au_mask"][:, target_cols] if "au_mask" in labels else None
    prob, aus = torch.sigmoid(logits[:, columns]), [model.config.aus[c] for c in columns]
    target = labels["au_occurrence"][:, target_cols]
    result = au_metrics(prob, target, aus=aus, threshold=model.decision_thresholds()[columns], mask=mask)
    result.update(au_ranking_metrics(prob, target, aus=aus, mask=mask))
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


class SuperResolutionScores:
    """The one super-resolution scoring core (``faceforge eval`` and the MPENet task both use it).

    Add batches of HR faces, their LR inputs and the model's output; it keeps, per row (``bicubic``, ``step 1``
    ... ``step T``), PSNR / SSIM on Y of every face, the landmark error of an alignment branch, and with an
    ``evaluator`` (a separately trained AU detector) its AU probabilities on each row (``au_rows="all"``, plus
    ``HR``: the ceiling) or on the model's output alone (``au_rows="output"``).

    Args:
        steps: the model's recurrent steps T (its outputs ``out["steps"]``).
        image_size: HR side (bicubic upsampling target).
        evaluator: an AU network with ``config.aus`` and ``decision_thresholds()``, or None (no AU columns).
        au_rows: ``"all"`` or ``"output"`` (the last step only).
        extra_evaluators: more AU networks by label, each adding threshold-free columns ``AU AUC (label)`` and
            ``AU AP (label)`` on the same rows (e.g. a stricter evaluator trained on sharp faces only).
    """

    def __init__(self, *, steps: int, image_size: int, evaluator: FaceForgeModel | None = None,
                 au_rows: str = "all", extra_evaluators: dict[str, FaceForgeModel] | None = None):
        if au_rows not in ("all", "output"):
            raise ValueError(f"au_rows must be 'all' or 'output', got {au_rows!r}")
        if extra_evaluators and evaluator is None:
            raise ValueError("extra_evaluators need a main evaluator")
        self.steps, self.image_size, self.evaluator, self.au_rows = steps, image_size, evaluator, au_rows
        self.extra_evaluators = dict(extra_evaluators or {})
        self.rows = ["bicubic", *(f"step {t}" for t in range(1, steps + 1))]
        self.quality: dict[str, dict[str, list[float]]] = {r: {"PSNR": [], "SSIM": []} for r in self.rows}
        au_rows_ = [*self.rows, "HR"] if au_rows == "all" else [self.rows[-1]]
        self.probs: dict[str, list[torch.Tensor]] = {r: [] for r in au_rows_}
        self.extra_probs = {label: {r: [] for r in au_rows_} for label in self.extra_evaluators}
        self.targets: list[torch.Tensor] = []
        self.masks: list[torch.Tensor] = []
        self.landmark_err: list[float] = []

    @torch.no_grad()
    def add(self, hr: torch.Tensor, lr: torch.Tensor, out: dict, *, landmarks: torch.Tensor | None = None,
            au_occurrence: torch.Tensor | None = None, au_mask: torch.Tensor | None = None) -> None:
        """One batch: ``hr`` (B, 3, H, W) and ``lr`` (B, 3, h, w) in [0, 1], ``out`` the model's output dict
        (``steps``, ``landmarks``), the true ``landmarks`` (B, 68, 2) in HR pixels and the AU labels."""
        from faceforge.data.degrade import imresize
        from faceforge.metrics.image import psnr_y, ssim_y

        images = {"bicubic": imresize(lr, size=self.image_size, clamp=True)}
        images.update({f"step {t}": sr.float().clamp(0, 1) for t, sr in enumerate(out["steps"], start=1)})
        for name, sr in images.items():
            self.quality[name]["PSNR"].extend(psnr_y(sr, hr).tolist())
            self.quality[name]["SSIM"].extend(ssim_y(sr, hr).tolist())
        if self.evaluator is not None:
            if au_occurrence is None:
                raise ValueError("AU scoring needs the faces' au_occurrence labels")
            for name in self.probs:
                image = hr if name == "HR" else images[name]
                self.probs[name].append(torch.sigmoid(self.evaluator(image).float()).cpu())
                for label, extra in self.extra_evaluators.items():
                    self.extra_probs[label][name].append(torch.sigmoid(extra(image).float()).cpu())
            self.targets.append(torch.as_tensor(au_occurrence).float().cpu())
            if au_mask is not None:
                self.masks.append(torch.as_tensor(au_mask).float().cpu())
        if out.get("landmarks") is not None and landmarks is not None:
            truth = landmarks.to(out["landmarks"].device).float()
            self.landmark_err.extend((out["landmarks"] - truth).norm(dim=-1).mean(-1).tolist())

    @property
    def samples(self) -> int:
        return len(self.quality["bicubic"]["PSNR"])

    # --- storage: a measurement kept on disk, so that models can be scored in separate processes ----------------
    def save(self, path: str | Path, *, extra: dict[str, torch.Tensor] | None = None, **metadata: str) -> None:
        """Write every per-face value to a safetensors file, with ``metadata`` (strings) beside them; read it back
        with :meth:`load`. The evaluators are not stored: :meth:`load` takes them again. ``extra``: more tensors
        of a caller's (keys outside ``quality/``, ``probs/``, ``extra/``), which :meth:`load` leaves alone."""
        from safetensors.torch import save_file

        tensors = dict(extra or {})
        tensors.update({f"quality/{row}/{column}": torch.tensor(values, dtype=torch.float64)
                        for row, columns in self.quality.items() for column, values in columns.items()})
        tensors.update({f"probs/{row}": torch.cat(p) for row, p in self.probs.items() if p})
        tensors.update({f"extra/{label}/{row}": torch.cat(p) for label, rows in self.extra_probs.items()
                        for row, p in rows.items() if p})
        if self.targets:
            tensors["targets"] = torch.cat(self.targets)
        if self.masks:
            tensors["masks"] = torch.cat(self.masks)
        tensors["landmark_err"] = torch.tensor(self.landmark_err, dtype=torch.float64)
        info = {"steps": str(self.steps), "image_size": str(self.image_size), "au_rows": self.au_rows,
                "extra_evaluators": ",".join(self.extra_evaluators), **metadata}
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        save_file({k: v.contiguous() for k, v in tensors.items()}, str(path), metadata=info)

    @classmethod
    def load(cls, path: str | Path, *, evaluator: FaceForgeModel | None = None,
             extra_evaluators: dict[str, FaceForgeModel] | None = None) -> SuperResolutionScores:
        """The scores :meth:`save` wrote, with the evaluators that measured them (needed for their AU lists and
        thresholds; a stored evaluator label without its network is an error)."""
        from safetensors import safe_open

        with safe_open(str(path), framework="pt") as file:
            info = file.metadata() or {}
            tensors = {key: file.get_tensor(key) for key in file.keys()}
        labels = [label for label in info.get("extra_evaluators", "").split(",") if label]
        missing = sorted(set(labels) - set(extra_evaluators or {}))
        if missing:
            raise ValueError(f"{path} was scored with extra evaluators {missing}: pass them to load()")
        has_aus = any(key.startswith("probs/") for key in tensors)
        scores = cls(steps=int(info["steps"]), image_size=int(info["image_size"]),
                     evaluator=evaluator if has_aus else None, au_rows=info.get("au_rows", "all"),
                     extra_evaluators={k: v for k, v in (extra_evaluators or {}).items() if k in labels}
                     if has_aus else None)
        for key, value in tensors.items():
            kind, _, rest = key.partition("/")
            if kind == "quality":
                row, column = rest.rsplit("/", 1)
                scores.quality[row][column] = value.tolist()
            elif kind == "probs":
                scores.probs[rest] = [value]
            elif kind == "extra":
                label, row = rest.split("/", 1)
                scores.extra_probs[label][row] = [value]
        scores.targets = [tensors["targets"]] if "targets" in tensors else []
        scores.masks = [tensors["masks"]] if "masks" in tensors else []
        scores.landmark_err = tensors["landmark_err"].tolist()
        return scores

    def _au_data(self, data_aus: tuple[int, ...], label: str | None = None):
        """(shared AUs, {row: (N, K) probabilities}, (N, K) labels, mask or None, (K,) evaluator thresholds) over
        the AUs that both the data and the evaluator have (``label``: an extra evaluator's)."""
        from faceforge.face.aus import au_index

        evaluator = self.evaluator if label is None else self.extra_evaluators[label]
        stored = self.probs if label is None else self.extra_probs[label]
        shared = [au for au in data_aus if au in evaluator.config.aus]
        columns = list(au_index(evaluator.config.aus, shared))
        target_cols = list(au_index(data_aus, shared))
        target = torch.cat(self.targets)[:, target_cols]
        mask = torch.cat(self.masks)[:, target_cols] if self.masks else None
        probs = {name: torch.cat(p)[:, columns] for name, p in stored.items() if p}
        return shared, probs, target, mask, evaluator.decision_thresholds()[columns]

    def _au_results(self, data_aus: tuple[int, ...]) -> dict[str, dict]:
        """``{row: au_metrics result + au_ranking_metrics result}``."""
        shared, probs, target, mask, threshold = self._au_data(data_aus)
        return {name: {**au_metrics(p, target, aus=shared, threshold=threshold, mask=mask),
                       **au_ranking_metrics(p, target, aus=shared, mask=mask)} for name, p in probs.items()}

    def fit_thresholds(self, data_aus: tuple[int, ...]) -> dict[str, tuple[float, ...]]:
        """Per row, the per-AU thresholds that maximise F1 on these faces: call it on a *validation* split and
        pass the result to :meth:`bootstrap` of the test split."""
        _, probs, target, mask, _ = self._au_data(data_aus)
        return {name: best_f1_thresholds(p, target, mask=mask) for name, p in probs.items()}

    def statistics(self, data_aus: tuple[int, ...], *,
                   val_thresholds: dict[str, tuple[float, ...]] | None = None,
                   subset: tuple[int, ...] | None = None) -> dict[str, dict]:
        """Every cell of :meth:`table` as a function of the faces it is measured on (``{row: {column: fn}}``, fn
        taking an index array), plus ``AU F1 (val thr.)`` with ``val_thresholds`` from :meth:`fit_thresholds` of
        a validation split and ``AU Acc, all absent``: the input of a :class:`faceforge.metrics.BootstrapTable`.
        ``subset``: the AU columns average over these AUs only (e.g. BP4D's 12 of ``data_aus``)."""
        import numpy as np

        def select(shared, probs, target, mask, threshold, val=None):
            keep = [k for k, au in enumerate(shared) if subset is None or au in subset]
            if not keep:
                raise ValueError(f"none of the AUs {subset} is both in the data and in the evaluator")
            return ({name: p[:, keep] for name, p in probs.items()}, target[:, keep],
                    mask[:, keep] if mask is not None else None, threshold[keep],
                    {name: tuple(np.asarray(t)[keep]) for name, t in (val or {}).items()})

        cells: dict[str, dict] = {}
        for row in self.rows:
            for column, values in self.quality[row].items():
                array = np.asarray(values, dtype=np.float64)
                cells.setdefault(row, {})[column] = lambda i, a=array: float(a[i].mean())
        if self.evaluator is not None and self.targets:
            probs, target, mask, threshold, val_thresholds = select(*self._au_data(data_aus), val_thresholds)
            for name, p in probs.items():
                val = val_thresholds.get(name)
                cells.setdefault(name, {}).update(
                    au_statistics(p, target, threshold=threshold, val_threshold=val, mask=mask))
            for label in self.extra_evaluators:
                probs, target, mask, threshold, _ = select(*self._au_data(data_aus, label))
                for name, p in probs.items():
                    stats = au_statistics(p, target, threshold=threshold, mask=mask)
                    cells[name][f"AU AUC ({label})"] = stats["AU AUC"]
                    cells[name][f"AU AP ({label})"] = stats["AU AP"]
        return cells

    def bootstrap(self, data_aus: tuple[int, ...], *, val_thresholds: dict[str, tuple[float, ...]] | None = None,
                  resamples: int = 1000, seed: int = 0):
        """:meth:`statistics` with a 95% bootstrap interval over the faces for each cell, as a
        :class:`faceforge.metrics.BootstrapTable` whose rows compare pairwise on the same draws."""
        from faceforge.metrics.bootstrap import BootstrapTable

        table = BootstrapTable(self.samples, resamples=resamples, seed=seed)
        for row, cells in self.statistics(data_aus, val_thresholds=val_thresholds).items():
            table.add_row(row, cells)
        return table

    def table(self, data_aus: tuple[int, ...]) -> tuple[dict[str, dict[str, float]], dict]:
        """``({row: {"PSNR", "SSIM", "AU F1" %, "AU Acc" %, "AU AUC", "AU AP"}}, details)``: MPENet Tables 1-3,
        with the threshold-free AU columns."""
        table = {r: {k: _mean(v) for k, v in self.quality[r].items()} for r in self.rows}
        details: dict = {"samples": self.samples, "rows": "model output = the last step"}
        if self.evaluator is not None and self.targets:
            details["au_f1"] = {}
            for name, result in self._au_results(data_aus).items():
                table.setdefault(name, {})
                table[name]["AU F1"] = 100 * result["f1"]["avg"]
                table[name]["AU Acc"] = 100 * result["accuracy"]["avg"]
                table[name]["AU AUC"] = result["auc"]["avg"]
                table[name]["AU AP"] = result["ap"]["avg"]
                details["au_f1"][name] = {k: 100 * v for k, v in result["f1"].items()}
            for label in self.extra_evaluators:
                shared, probs, target, mask, _ = self._au_data(data_aus, label)
                for name, p in probs.items():
                    ranking = au_ranking_metrics(p, target, aus=shared, mask=mask)
                    table[name][f"AU AUC ({label})"] = ranking["auc"]["avg"]
                    table[name][f"AU AP ({label})"] = ranking["ap"]["avg"]
        if self.landmark_err:
            details["landmark_px"] = _mean(self.landmark_err)
        return table, details

    def metrics(self, data_aus: tuple[int, ...]) -> dict[str, float]:
        """Flat metrics for training logs: ``psnr_step{t}``, ``ssim_step{t}``, ``psnr_bicubic``,
        ``ssim_bicubic``, ``psnr`` / ``ssim`` (the output), ``landmark_px``, ``au_f1`` / ``au_accuracy`` /
        ``au_auc`` / ``au_ap`` (fractions, on the output)."""
        out: dict[str, float] = {}
        for row in self.rows:
            key = row.replace("step ", "step")
            for column in ("PSNR", "SSIM"):
                out[f"{column.lower()}_{key}"] = _mean(self.quality[row][column])
        out["psnr"], out["ssim"] = out[f"psnr_step{self.steps}"], out[f"ssim_step{self.steps}"]
        if self.landmark_err:
            out["landmark_px"] = _mean(self.landmark_err)
        if self.evaluator is not None and self.targets:
            result = self._au_results(data_aus)[self.rows[-1]]
            out["au_f1"], out["au_accuracy"] = result["f1"]["avg"], result["accuracy"]["avg"]
            out["au_auc"], out["au_ap"] = result["auc"]["avg"], result["ap"]["avg"]
        return out


def _mean(values: list[float]) -> float:
    return float(torch.tensor(values, dtype=torch.float64).mean())


@torch.no_grad()
def score_super_resolution(model: FaceForgeModel, dataset: Dataset, evaluator: FaceForgeModel | None, *,
                           batch_size: int, num_workers: int, device: str,
                           extra_evaluators: dict[str, FaceForgeModel] | None = None) -> SuperResolutionScores:
    """Restore every face of ``dataset`` (centre crop, MATLAB bicubic down to the model's input, 8-bit) and
    score it: the :class:`SuperResolutionScores` that :func:`evaluate_super_resolution` reports from."""
    from faceforge.data.degrade import to_low_resolution

    cfg = model.config
    scores = SuperResolutionScores(steps=cfg.steps, image_size=cfg.image_size, evaluator=evaluator,
                                   extra_evaluators=extra_evaluators)
    for batch in DataLoader(dataset, batch_size=batch_size, num_workers=num_workers):
        hr, offset = _centre_crop(batch["image"].to(device).float(), cfg.image_size)
        lr = to_low_resolution(hr, cfg.lr_size, quantize=True)
        landmarks = batch["landmarks"].float() - offset if "landmarks" in batch else None
        scores.add(hr, lr, model(lr), landmarks=landmarks, au_occurrence=batch.get("au_occurrence"),
                   au_mask=batch.get("au_mask"))
    return scores


@torch.no_grad()
def evaluate_super_resolution(model: FaceForgeModel, dataset: Dataset, *, batch_size: int = 32,
                              num_workers: int = 0, device: str = "cpu",
                              au_evaluator: str | FaceForgeModel | None = "default",
                              extra_au_evaluators: dict[str, str | FaceForgeModel] | None = None,
                              calibration: Dataset | None = None, resamples: int = 0) -> dict:
    """MPENet Tables 1-3 on a face dataset: PSNR / SSIM (Y channel) and the AU columns of the restored faces.

    Every face is centre-cropped to the model's output size, brought down by MATLAB bicubic (8-bit, as in
    training) and restored. Rows: ``bicubic`` (the LR input upsampled), ``step 1`` ... ``step T`` (the last
    is the model's output), and ``HR`` (the ground-truth faces: the ceiling of the AU columns). The AU columns
    (F1 and accuracy at the evaluator's thresholds, threshold-free ROC-AUC and average precision) are measured by
    ``au_evaluator``, a separately trained AU detector (never the network that supervised the model;
    ``"default"``: the shipped model of the ``evaluator.au`` role); ``None`` leaves them out.

    Args:
        extra_au_evaluators: More AU evaluators by label (shipped names, folders or networks), each adding the
            threshold-free columns ``AU AUC (label)`` and ``AU AP (label)``.
        calibration: A validation split: each row's per-AU F1 thresholds are chosen on it, giving the
            ``AU F1 (val thr.)`` column of the intervals.
        resamples: Bootstrap resamples of the test faces for 95% intervals of every cell (0: none).

    Returns:
        ``{"table": {row: {"PSNR": dB, "SSIM": value, "AU F1": %, "AU Acc": %, "AU AUC", "AU AP"}},
        "percent": False, "digits": SR_DIGITS, "details": {"samples", "au_f1" (row -> per-AU F1), "landmark_px",
        "evaluator", "intervals" (with ``resamples``: row -> column -> {value, low, high})}}``, and with
        ``resamples`` also ``"bootstrap"``: the :class:`faceforge.metrics.BootstrapTable` (rows compare pairwise).
    """
    model = model.to(device).eval()
    evaluator = None
    if au_evaluator == "default":
        from faceforge.registry import default_model

        au_evaluator = default_model("evaluator.au")
    if au_evaluator is not None:
        from faceforge.loading import load_pretrained

        evaluator = (load_pretrained(au_evaluator) if isinstance(au_evaluator, str) else au_evaluator)
        evaluator = evaluator.to(device).eval()
    extras = {}
    for label, extra in (extra_au_evaluators or {}).items():
        from faceforge.loading import load_pretrained

        extras[label] = (load_pretrained(extra) if isinstance(extra, str) else extra).to(device).eval()
    kwargs = {"batch_size": batch_size, "num_workers": num_workers, "device": device}
    scores = score_super_resolution(model, dataset, evaluator, extra_evaluators=extras, **kwargs)
    data_aus = tuple(getattr(dataset, "aus", model.config.aus))
    table, details = scores.table(data_aus)
    result = {"table": table, "percent": False, "digits": SR_DIGITS, "details": details}
    if evaluator is not None:
        details["evaluator"] = au_evaluator if isinstance(au_evaluator, str) else type(evaluator).__name__
    if resamples:
        thresholds = None
        if calibration is not None and evaluator is not None:
            thresholds = score_super_resolution(model, calibration, evaluator, **kwargs).fit_thresholds(data_aus)
            details["val_thresholds"] = thresholds
        result["bootstrap"] = scores.bootstrap(data_aus, val_thresholds=thresholds, resamples=resamples)
        details["intervals"] = result["bootstrap"].as_dict()
    return result


def evaluator_takes_resamples(model_type: str) -> bool:
    """Whether the evaluator of ``model_type`` gives bootstrap intervals (``resamples=``)."""
    from faceforge.registry import evaluator_for

    function = evaluator_for(model_type)
    return function is not None and "resamples" in inspect.signature(function).parameters


def evaluator_takes_au_evaluator(model_type: str) -> bool:
    """Whether the evaluator of ``model_type`` scores outputs with a separate AU network (``au_evaluator=``)."""
    from faceforge.registry import evaluator_for

    function = evaluator_for(model_type)
    return function is not None and "au_evaluator" in inspect.signature(function).parameters


def evaluate(model: FaceForgeModel, dataset: Dataset, **kwargs) -> dict:
    """Run the evaluator that ``model``'s family declares for its type over ``dataset``."""
    from faceforge.registry import evaluator_for

    model_type = model.config.model_type
    function = evaluator_for(model_type)
    if function is None:
        raise ValueError(f"no evaluation defined for model_type {model_type!r}")
    return function(model, dataset, **kwargs)


def _has_key(dataset: Dataset, key: str) -> bool:
    try:
        return key in dataset[0]
    except (IndexError, KeyError):
        return False

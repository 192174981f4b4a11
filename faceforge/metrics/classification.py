"""AU detection and expression classification metrics, returned as plain dicts that print as paper tables.

* AU occurrence (IGCN Tables 1-2, MPENet Table 2): per-AU F1 and accuracy and their averages over the AUs,
  where F1 = 2 TP / (2 TP + FP + FN) of the binary occurrence labels; and the threshold-free scores a decision
  threshold cannot flatter or sink: per-AU ROC-AUC and average precision (:func:`au_ranking_metrics`).
* Expression recognition (FSR-FER, GroupGAN): overall accuracy, per-class accuracy (recall) and the
  confusion matrix with named rows (true class) and columns (predicted class).

Inputs may be torch tensors or NumPy arrays. :func:`format_table` renders any ``{row: {column: value}}`` dict
(and so every result here) as an aligned text table.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence

import numpy as np
import torch
from sklearn.metrics import confusion_matrix as _sk_confusion_matrix

from faceforge.face.aus import FACEFORGE_AUS
from faceforge.face.expressions import EXPRESSIONS

__all__ = [
    "au_metrics",
    "au_ranking_metrics",
    "au_statistics",
    "average_precision",
    "best_f1_thresholds",
    "binarize",
    "roc_auc",
    "classification_accuracy",
    "confusion_matrix",
    "expression_metrics",
    "format_table",
    "predicted_classes",
]

AVERAGE = "avg"


def _numpy(values: torch.Tensor | np.ndarray | Sequence) -> np.ndarray:
    if isinstance(values, torch.Tensor):
        return values.detach().cpu().numpy()
    return np.asarray(values)


def binarize(
    pred: torch.Tensor | np.ndarray, *, threshold: float | Sequence[float] | np.ndarray | torch.Tensor = 0.5,
    from_logits: bool = False,
) -> np.ndarray:
    """Occurrence decisions from scores: ``sigmoid(pred) >= threshold`` for logits, ``pred >= threshold``
    otherwise (so 0/1 labels pass through unchanged).

    Args:
        pred: (N, K) probabilities, logits or 0/1 labels.
        threshold: Decision threshold on the probability: one for every column, or (K,) one per column.
        from_logits: Treat ``pred`` as logits.

    Returns:
        (N, K) bool array.
    """
    scores = _numpy(pred).astype(np.float64)
    if from_logits:
        scores = 1.0 / (1.0 + np.exp(-scores))
    return scores >= _numpy(threshold).astype(np.float64)


def _au_columns(aus: Sequence[int | str], count: int) -> list[str]:
    if len(aus) != count:
        raise ValueError(
            f"{count} AU columns but {len(aus)} AU names; pass aus= (e.g. BP4D_AUS or DISFA_AUS from "
            "faceforge.face.aus) matching the label columns"
        )
    return [a if isinstance(a, str) else f"AU{a}" for a in aus]


def au_metrics(
    pred: torch.Tensor | np.ndarray,
    target: torch.Tensor | np.ndarray,
    *,
    aus: Sequence[int | str] = FACEFORGE_AUS,
    threshold: float | Sequence[float] | np.ndarray | torch.Tensor = 0.5,
    from_logits: bool = False,
    mask: torch.Tensor | np.ndarray | None = None,
    undefined_f1: float = math.nan,
) -> dict[str, dict[str, float]]:
    """Per-AU F1 and accuracy of multi-label AU occurrence predictions, with their averages.

    An AU whose valid ground truth holds no positive has an undefined F1 (recall is 0 / 0). It is reported
    as ``undefined_f1`` (NaN by default) and NaNs are left out of the average; pass ``undefined_f1=0.0`` to
    count such AUs as 0, as scikit-learn's ``f1_score`` does. An AU with no valid label at all gets NaN
    accuracy as well.

    Args:
        pred: (N, K) probabilities, logits (``from_logits=True``) or 0/1 labels.
        target: (N, K) 0/1 ground truth; entries outside {0, 1} must be masked out.
        aus: The K AU numbers (or column names) in column order; default faceforge's 18 AUs.
        threshold: Decision threshold on the probability, one or (K,) per AU.
        from_logits: Treat ``pred`` as logits.
        mask: Optional (N, K) validity mask, True (or 1) where the label is known.
        undefined_f1: F1 reported for an AU without positive labels.

    Returns:
        ``{"f1": {"AU1": ..., ..., "avg": ...}, "accuracy": {...}}`` with values in [0, 1].
    """
    decided = binarize(pred, threshold=threshold, from_logits=from_logits)
    truth = _numpy(target)
    if decided.shape != truth.shape or truth.ndim != 2:
        raise ValueError(f"pred and target must both be (N, K); got {decided.shape} and {truth.shape}")
    valid = np.ones(truth.shape, dtype=bool) if mask is None else _numpy(mask).astype(bool)
    if valid.shape != truth.shape:
        raise ValueError(f"mask shape {valid.shape} differs from target shape {truth.shape}")
    if not np.isin(truth[valid], (0, 1)).all():
        raise ValueError("target holds values other than 0 and 1; mask unknown labels with mask=")
    positive = truth.astype(bool)
    tp = (decided & positive & valid).sum(axis=0)
    fp = (decided & ~positive & valid).sum(axis=0)
    fn = (~decided & positive & valid).sum(axis=0)
    tn = (~decided & ~positive & valid).sum(axis=0)
    count = valid.sum(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        f1 = np.where(tp + fn > 0, 2 * tp / (2 * tp + fp + fn), undefined_f1)
        accuracy = np.where(count > 0, (tp + tn) / count, math.nan)
    columns = _au_columns(aus, truth.shape[1])
    return {"f1": _with_average(columns, f1), "accuracy": _with_average(columns, accuracy)}


def roc_auc(score: np.ndarray, positive: np.ndarray) -> float:
    """Area under the ROC curve of one binary column: the probability that a random positive scores above a
    random negative (ties count half), from average ranks; NaN without positives or without negatives.
    Equal to scikit-learn's ``roc_auc_score``."""
    from scipy.stats import rankdata

    y = np.asarray(positive, dtype=bool)
    n_pos = int(y.sum())
    n_neg = y.size - n_pos
    if n_pos == 0 or n_neg == 0:
        return math.nan
    ranks = rankdata(np.asarray(score, dtype=np.float64))
    return float((ranks[y].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def average_precision(score: np.ndarray, positive: np.ndarray) -> float:
    """Average precision of one binary column, sum over distinct thresholds of (R_n - R_{n-1}) P_n (no
    interpolation); NaN without positives. Equal to scikit-learn's ``average_precision_score``; a scorer that
    knows nothing gets the positive rate."""
    y = np.asarray(positive, dtype=bool)
    if not y.any():
        return math.nan
    s = np.asarray(score, dtype=np.float64)
    order = np.argsort(-s, kind="mergesort")
    s, y = s[order], y[order]
    last = np.r_[np.flatnonzero(np.diff(s)), s.size - 1]  # the last face of each group of equal scores
    tp = np.cumsum(y)[last]
    precision = tp / (last + 1)
    recall = tp / tp[-1]
    return float(np.sum(np.diff(recall, prepend=0.0) * precision))


def au_ranking_metrics(
    prob: torch.Tensor | np.ndarray,
    target: torch.Tensor | np.ndarray,
    *,
    aus: Sequence[int | str] = FACEFORGE_AUS,
    mask: torch.Tensor | np.ndarray | None = None,
) -> dict[str, dict[str, float]]:
    """Threshold-free AU scores: per-AU ROC-AUC and average precision, with their means over the AUs.

    An AU whose valid labels are all one class has no AUC (and without positives no AP): NaN, left out of the
    mean. AUC 0.5 and AP = the positive rate are what a scorer without information gets.

    Args:
        prob: (N, K) scores (probabilities or logits: only their order counts).
        target: (N, K) 0/1 ground truth.
        aus: The K AU numbers (or column names) in column order.
        mask: Optional (N, K) validity mask.

    Returns:
        ``{"auc": {"AU1": ..., "avg": ...}, "ap": {...}}`` with values in [0, 1].
    """
    scores, truth = _numpy(prob).astype(np.float64), _numpy(target)
    if scores.shape != truth.shape or truth.ndim != 2:
        raise ValueError(f"prob and target must both be (N, K); got {scores.shape} and {truth.shape}")
    valid = np.ones(truth.shape, dtype=bool) if mask is None else _numpy(mask).astype(bool)
    if valid.shape != truth.shape:
        raise ValueError(f"mask shape {valid.shape} differs from target shape {truth.shape}")
    if not np.isin(truth[valid], (0, 1)).all():
        raise ValueError("target holds values other than 0 and 1; mask unknown labels with mask=")
    columns = _au_columns(aus, truth.shape[1])
    auc, ap = np.full(truth.shape[1], math.nan), np.full(truth.shape[1], math.nan)
    for k in range(truth.shape[1]):
        v = valid[:, k]
        auc[k] = roc_auc(scores[v, k], truth[v, k])
        ap[k] = average_precision(scores[v, k], truth[v, k])
    return {"auc": _with_average(columns, auc), "ap": _with_average(columns, ap)}


def au_statistics(
    prob: torch.Tensor | np.ndarray,
    target: torch.Tensor | np.ndarray,
    *,
    threshold: float | Sequence[float] | np.ndarray | torch.Tensor = 0.5,
    val_threshold: Sequence[float] | np.ndarray | None = None,
    mask: torch.Tensor | np.ndarray | None = None,
) -> dict[str, Callable[[np.ndarray], float]]:
    """The AU columns of a table as functions of the faces they are measured on, for
    :class:`faceforge.metrics.BootstrapTable`: each takes an index array into the N faces and returns the mean
    over the AUs. The AUs averaged are fixed on all N faces (those with a positive, and for AUC also a negative,
    valid label), so every resample measures the same statistic; a resample on which one of them is undefined
    gives NaN (the bootstrap leaves it out and counts it) instead of a mean over fewer AUs.

    Columns: ``AU F1`` (%, at ``threshold``), ``AU F1 (val thr.)`` (%, at per-AU thresholds chosen on a
    validation split, when ``val_threshold`` is given), ``AU AUC`` and ``AU AP`` (threshold-free, in [0, 1]),
    ``AU Acc`` (%, at ``threshold``) and ``AU Acc, all absent`` (%: the accuracy of answering "no AU" everywhere,
    the trivial baseline that accuracy must be read against).

    Args:
        prob: (N, K) probabilities.
        target: (N, K) 0/1 labels.
        threshold: Decision threshold, one or (K,).
        val_threshold: Optional (K,) thresholds chosen on the validation split.
        mask: Optional (N, K) validity mask.
    """
    p = _numpy(prob).astype(np.float64)
    truth = _numpy(target)
    if p.shape != truth.shape or truth.ndim != 2:
        raise ValueError(f"prob and target must both be (N, K); got {p.shape} and {truth.shape}")
    valid = np.ones(truth.shape, dtype=bool) if mask is None else _numpy(mask).astype(bool)
    positive = truth.astype(bool) & valid
    has_positive = positive.any(0)
    has_both = has_positive & (valid & ~positive).any(0)
    labelled = valid.any(0)

    def mean(values: np.ndarray, over: np.ndarray) -> float:
        if not over.any():
            return math.nan
        chosen = values[over]
        return float(chosen.mean()) if np.isfinite(chosen).all() else math.nan

    def f1_and_accuracy(decided: np.ndarray, idx: np.ndarray) -> tuple[float, float]:
        d, y, v = decided[idx], positive[idx], valid[idx]
        tp, fp, fn = (d & y).sum(0), (d & ~y & v).sum(0), (~d & y).sum(0)
        tn = (~d & ~y & v).sum(0)
        with np.errstate(divide="ignore", invalid="ignore"):
            f1 = np.where(tp + fn > 0, 2 * tp / (2 * tp + fp + fn), math.nan)
            accuracy = (tp + tn) / v.sum(0)
        return 100 * mean(f1, has_positive), 100 * mean(accuracy, labelled)

    decided = binarize(p, threshold=threshold) & valid
    columns: dict[str, Callable[[np.ndarray], float]] = {"AU F1": lambda i: f1_and_accuracy(decided, i)[0]}
    if val_threshold is not None:
        tuned = binarize(p, threshold=np.asarray(val_threshold, dtype=np.float64)) & valid
        columns["AU F1 (val thr.)"] = lambda i: f1_and_accuracy(tuned, i)[0]
    k_range = range(truth.shape[1])
    columns["AU AUC"] = lambda i: mean(np.array([roc_auc(p[i, k][valid[i, k]], positive[i, k][valid[i, k]])
                                                 if has_both[k] else math.nan for k in k_range]), has_both)
    columns["AU AP"] = lambda i: mean(np.array([average_precision(p[i, k][valid[i, k]], positive[i, k][valid[i, k]])
                                                if has_positive[k] else math.nan for k in k_range]), has_positive)
    columns["AU Acc"] = lambda i: f1_and_accuracy(decided, i)[1]
    columns["AU Acc, all absent"] = lambda i: f1_and_accuracy(np.zeros_like(decided), i)[1]
    return columns


def best_f1_thresholds(
    prob: torch.Tensor | np.ndarray,
    target: torch.Tensor | np.ndarray,
    *,
    mask: torch.Tensor | np.ndarray | None = None,
    grid: Sequence[float] = tuple(np.round(np.arange(0.05, 0.96, 0.05), 2)),
    default: float = 0.5,
) -> tuple[float, ...]:
    """Per-column probability thresholds that maximise F1 (ties: the one nearest ``default``).

    Fit them on a validation split, never on the split that is reported. A column without positives keeps
    ``default``.

    Args:
        prob: (N, K) probabilities.
        target: (N, K) 0/1 labels.
        mask: Optional (N, K) validity mask.
        grid: Candidate thresholds.
        default: Threshold of columns with no positive label, and the tie-breaker.

    Returns:
        K thresholds.
    """
    p, truth = _numpy(prob).astype(np.float64), _numpy(target).astype(bool)
    valid = np.ones(truth.shape, dtype=bool) if mask is None else _numpy(mask).astype(bool)
    chosen = []
    for k in range(truth.shape[1]):
        v = valid[:, k]
        y, s = truth[v, k], p[v, k]
        if not y.any():
            chosen.append(float(default))
            continue
        scores = []
        for t in grid:
            d = s >= t
            tp, fp, fn = (d & y).sum(), (d & ~y).sum(), (~d & y).sum()
            scores.append((2 * tp / (2 * tp + fp + fn), -abs(t - default), float(t)))
        chosen.append(max(scores)[2])
    return tuple(chosen)


def _with_average(columns: list[str], values: np.ndarray) -> dict[str, float]:
    row = {name: float(v) for name, v in zip(columns, values)}
    finite = values[~np.isnan(values)]
    row[AVERAGE] = float(finite.mean()) if finite.size else math.nan
    return row


def predicted_classes(pred: torch.Tensor | np.ndarray) -> np.ndarray:
    """Class indices from (N,) integer predictions or (N, C) scores (argmax over C).

    Returns:
        (N,) int64 array.
    """
    array = _numpy(pred)
    if array.ndim == 2:
        return array.argmax(axis=1).astype(np.int64)
    if array.ndim != 1:
        raise ValueError(f"expected (N,) class indices or (N, C) scores, got shape {array.shape}")
    return array.astype(np.int64)


def _class_pairs(
    pred: torch.Tensor | np.ndarray, target: torch.Tensor | np.ndarray, num_classes: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    predicted, truth = predicted_classes(pred), _numpy(target).astype(np.int64)
    if predicted.shape != truth.shape or truth.size == 0:
        raise ValueError(f"need matching non-empty (N,) labels; got {predicted.shape} and {truth.shape}")
    if num_classes is None:
        return predicted, truth
    for name, labels in (("pred", predicted), ("target", truth)):
        if labels.min() < 0 or labels.max() >= num_classes:
            raise ValueError(f"{name} holds class indices outside 0..{num_classes - 1}")
    return predicted, truth


def classification_accuracy(pred: torch.Tensor | np.ndarray, target: torch.Tensor | np.ndarray) -> float:
    """Fraction of samples whose predicted class (argmax of scores, or the given index) equals the target.

    Args:
        pred: (N,) class indices or (N, C) scores.
        target: (N,) class indices.

    Returns:
        Accuracy in [0, 1].
    """
    predicted, truth = _class_pairs(pred, target)
    return float((predicted == truth).mean())


def confusion_matrix(
    pred: torch.Tensor | np.ndarray,
    target: torch.Tensor | np.ndarray,
    *,
    class_names: Sequence[str] = EXPRESSIONS,
    normalize: bool = False,
) -> dict[str, dict[str, float]]:
    """Confusion matrix with rows = true class and columns = predicted class, keyed by class name.

    Args:
        pred: (N,) class indices or (N, C) scores.
        target: (N,) class indices in 0..C-1.
        class_names: The C class names in index order; default faceforge's eight expressions.
        normalize: Divide each row by its total (rows of absent classes become NaN), as papers plot them.

    Returns:
        ``{true_name: {predicted_name: count or fraction}}``.
    """
    predicted, truth = _class_pairs(pred, target, len(class_names))
    counts = _sk_confusion_matrix(truth, predicted, labels=np.arange(len(class_names))).astype(np.float64)
    if normalize:
        totals = counts.sum(axis=1, keepdims=True)
        with np.errstate(divide="ignore", invalid="ignore"):
            counts = np.where(totals > 0, counts / totals, math.nan)
    return {
        true_name: {pred_name: float(v) for pred_name, v in zip(class_names, row)}
        for true_name, row in zip(class_names, counts)
    }


def expression_metrics(
    pred: torch.Tensor | np.ndarray,
    target: torch.Tensor | np.ndarray,
    *,
    class_names: Sequence[str] = EXPRESSIONS,
) -> dict[str, dict[str, float]]:
    """Expression recognition summary: per-class accuracy (recall), their mean, and overall accuracy.

    A class absent from ``target`` gets NaN and is left out of the mean.

    Args:
        pred: (N,) class indices or (N, C) scores.
        target: (N,) class indices in 0..C-1.
        class_names: The C class names in index order.

    Returns:
        ``{"accuracy": {name: recall, ..., "avg": mean class accuracy, "overall": accuracy}}``.
    """
    rows = confusion_matrix(pred, target, class_names=class_names, normalize=True)
    per_class = np.array([rows[name][name] for name in class_names])
    row = _with_average(list(class_names), per_class)
    row["overall"] = classification_accuracy(pred, target)
    return {"accuracy": row}


def format_table(
    rows: Mapping[str, Mapping[str, float]], *, percent: bool = False, digits: int | Mapping[str, int] = 2,
    corner: str = "",
) -> str:
    """Aligned text table of ``{row: {column: value}}``, e.g. ``format_table(au_metrics(...), percent=True)``.

    Args:
        rows: Row name to a mapping of column name to value; columns appear in first-seen order.
        percent: Multiply values by 100 (papers print F1 and accuracy in %).
        digits: Digits after the decimal point, for every column or per column name (others: 2).
        corner: Text of the top-left cell.

    Returns:
        The table; missing cells and NaN print as ``-``.
    """
    columns: list[str] = []
    for row in rows.values():
        columns.extend(c for c in row if c not in columns)

    def cell(value: float | None, column: str) -> str:
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return "-"
        places = digits.get(column, 2) if isinstance(digits, Mapping) else digits
        return f"{value * 100 if percent else value:.{places}f}"

    table = [[corner, *columns]]
    table += [[name, *(cell(row.get(c), c) for c in columns)] for name, row in rows.items()]
    widths = [max(len(line[i]) for line in table) for i in range(len(table[0]))]
    return "\n".join(
        "  ".join(text.ljust(w) if i == 0 else text.rjust(w) for i, (text, w) in enumerate(zip(line, widths)))
        for line in table
    )

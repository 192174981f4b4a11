"""Posed expression sequences (CK+, Oulu-CASIA): which frames are neutral, weak and peak, and their pairs.

GroupGAN (Niu et al., KBS 2022, Sec. 4.1) follows both datasets' documentation, whose sequences run from a
neutral face to the peak expression: "we denote the 6-th to 8-th frames as 'weak expressions' as they show
non-peak expression with very weak intensities. The last frame of each sequence is regarded as the peak
expression." faceforge caches, per sequence, the first frame (phase ``"neutral"``, expression neutral), frames
6, 7 and 8 counted from 1 (phase ``"weak"``; only those before the last frame) and the last frame (phase
``"peak"``). ``intensity`` is the frame's position in the sequence, ``(t - 1) / (T - 1)`` for frame t of T: 0
for the neutral frame, 1 for the peak, a linear proxy in between. ``sequence_expression`` is the expression of
the whole sequence (also on its neutral frame; -1 for an unlabelled sequence). Both datasets use 5
subject-exclusive folds
(:func:`~faceforge.data.datasets.base.round_robin_folds`).

Loader options: ``phases`` (default all three) and ``labelled_only`` (default True: leave out sequences with
no expression label, which CK+ has). ``pairs=True`` gives each weak frame with the peak frame of its
sequence (``target_*`` keys), GroupGAN's (X_weak, X_peak) training pairs.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from faceforge.data.datasets.base import RawItem, RoundRobinSpec

WEAK_FRAMES: tuple[int, ...] = (6, 7, 8)
"""GroupGAN's weak-expression frames, counted from 1."""
PHASES: tuple[str, ...] = ("neutral", "weak", "peak")


def expression_frames(n_frames: int) -> list[tuple[int, str]]:
    """``(frame number from 1, phase)`` of the frames cached from a sequence of ``n_frames`` frames."""
    if n_frames < 2:
        return []
    weak = [(t, "weak") for t in WEAK_FRAMES if 1 < t < n_frames]
    return [(1, "neutral"), *weak, (n_frames, "peak")]


def sequence_items(
    frames: Sequence[Path],
    *,
    subject: str,
    sequence: str,
    expression: int,
    landmarks: Callable[[Path], np.ndarray | None] = lambda path: None,
    peak_labels: Mapping[str, Any] | None = None,
    n_aus: int = 0,
) -> list[RawItem]:
    """Raw items of one sequence's neutral, weak and peak frames (``frames`` in temporal order).

    Args:
        frames: image paths of the sequence, first to last.
        subject: subject id.
        sequence: sequence id, unique in the dataset (also the key prefix).
        expression: faceforge index of the sequence's expression (-1: unlabelled).
        landmarks: dataset landmarks of a frame, or None.
        peak_labels: extra labels of the peak frame only (CK+'s FACS-coded AUs).
        n_aus: length of the AU lists; frames other than the peak get an all-unknown AU list.
    """
    n = len(frames)
    items = []
    for t, phase in expression_frames(n):
        path = frames[t - 1]
        labels: dict[str, Any] = {
            "expression": 0 if phase == "neutral" else expression,
            "sequence_expression": expression,
            "intensity": (t - 1) / (n - 1),
            "phase": phase,
            "sequence": sequence,
            "frame": t,
        }
        if n_aus:
            labels["au_occurrence"] = [None] * n_aus
        if phase == "peak" and peak_labels:
            labels.update(peak_labels)
        items.append(RawItem(f"{sequence}/{t:03d}", path, subject, labels, landmarks=landmarks(path)))
    return items


class SequenceSpec(RoundRobinSpec):
    """Shared splits, filters and pairs of the sequence datasets."""

    n_folds: ClassVar[int] = 5
    folds = (1, 2, 3, 4, 5)
    default_fold = 1
    pairs_supported = True

    def keep(
        self, record: Mapping[str, Any], *, phases: Sequence[str] = PHASES, labelled_only: bool = True
    ) -> bool:
        """``phases``: any of "neutral", "weak", "peak"; ``labelled_only``: drop unlabelled sequences."""
        unknown = set(phases) - set(PHASES)
        if unknown:
            raise ValueError(f"{self.name}: unknown phase(s) {sorted(unknown)}; expected {', '.join(PHASES)}")
        if labelled_only and record["sequence_expression"] < 0:
            return False
        return record["phase"] in phases

    def pairs(self, records: Sequence[Mapping[str, Any]]) -> list[tuple[int, int]]:
        """Each weak frame with the peak frame of its sequence."""
        peak = {r["sequence"]: i for i, r in enumerate(records) if r["phase"] == "peak"}
        return [
            (i, peak[r["sequence"]])
            for i, r in enumerate(records)
            if r["phase"] == "weak" and r["sequence"] in peak
        ]

"""Bootstrap confidence intervals over test faces, for every table number and every "A beats B" claim.

A table figure is a statistic of the test faces (a mean PSNR, a mean AU F1 or AUC over the AUs). Resampling the
faces with replacement and recomputing it gives its sampling spread; the 2.5 and 97.5 percentiles are the 95%
percentile interval. Two rows measured on the same faces are compared by resampling the faces once and
differencing the two statistics on each resample (:func:`paired_difference`): the difference is real when its
interval excludes zero, which is stricter than, and not the same as, asking whether two separate intervals overlap.

    psnr = per_face_psnr                                  # (N,) values
    interval = bootstrap_interval(lambda idx: psnr[idx].mean(), len(psnr))
    print(interval)                                       # 27.41 [27.30, 27.52]

A whole table is a :class:`BootstrapTable`: every cell is resampled over the same draws, so any two rows can be
compared afterwards (``table.compare("MPENet", "Bicubic", "PSNR")``).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

__all__ = ["BootstrapTable", "Interval", "bootstrap_interval", "bootstrap_samples", "difference_sentence",
           "paired_difference"]

Statistic = Callable[[np.ndarray], float]

RESAMPLES = 1000
LEVEL = 0.95


@dataclass(frozen=True)
class Interval:
    """A statistic on the full sample and its bootstrap percentile interval."""

    value: float
    low: float
    high: float
    level: float = LEVEL
    dropped: int = 0  # resamples on which the statistic was undefined (NaN), left out of the percentiles

    def excludes(self, value: float = 0.0) -> bool:
        """Whether ``value`` lies outside the interval (for a difference: a measurable one)."""
        return value < self.low or value > self.high

    def scaled(self, factor: float) -> Interval:
        """The interval in other units, e.g. ``scaled(100)`` for percent."""
        return Interval(self.value * factor, self.low * factor, self.high * factor, self.level)

    def format(self, digits: int = 2) -> str:
        """``value [low, high]``."""
        if math.isnan(self.value):
            return "-"
        return f"{self.value:.{digits}f} [{self.low:.{digits}f}, {self.high:.{digits}f}]"

    def as_dict(self) -> dict[str, float]:
        out = {"value": self.value, "low": self.low, "high": self.high}
        if self.dropped:
            out["dropped"] = self.dropped
        return out

    def __str__(self) -> str:
        return self.format()


def _draws(n: int, resamples: int, seed: int) -> np.ndarray:
    if n < 1:
        raise ValueError("bootstrap needs at least one sample")
    if resamples < 1:
        raise ValueError(f"resamples must be positive, got {resamples}")
    return np.random.default_rng(seed).integers(0, n, size=(resamples, n))


def bootstrap_samples(statistics: dict[str, Statistic], n: int, *, resamples: int = RESAMPLES,
                      seed: int = 0) -> dict[str, np.ndarray]:
    """Each statistic on the same ``resamples`` draws of ``n`` indices with replacement.

    Args:
        statistics: name -> function of an index array (into the N test faces) returning a number.
        n: Number of test faces N.
        resamples: Bootstrap resamples.
        seed: Seed of the draws (the same seed gives the same draws, so figures are reproducible).

    Returns:
        name -> (resamples,) statistic values; NaN where a resample leaves the statistic undefined.
    """
    draws = _draws(n, resamples, seed)
    return {name: np.array([fn(idx) for idx in draws], dtype=np.float64) for name, fn in statistics.items()}


def _percentiles(value: float, samples: np.ndarray, level: float) -> Interval:
    if not 0 < level < 1:
        raise ValueError(f"level must lie in (0, 1), got {level}")
    finite = samples[np.isfinite(samples)]
    if math.isnan(value) or finite.size == 0:
        return Interval(math.nan, math.nan, math.nan, level, int(samples.size))
    tail = 100 * (1 - level) / 2
    low, high = np.percentile(finite, [tail, 100 - tail])
    return Interval(float(value), float(low), float(high), level, int(samples.size - finite.size))


def bootstrap_interval(statistic: Statistic, n: int, *, resamples: int = RESAMPLES, level: float = LEVEL,
                       seed: int = 0) -> Interval:
    """The statistic on all ``n`` faces with its bootstrap percentile interval.

    Args:
        statistic: Function of an index array returning a number (e.g. ``lambda i: psnr[i].mean()``).
        n: Number of faces.
        resamples: Bootstrap resamples.
        level: Coverage of the interval.
        seed: Seed of the draws.
    """
    samples = bootstrap_samples({"s": statistic}, n, resamples=resamples, seed=seed)["s"]
    return _percentiles(float(statistic(np.arange(n))), samples, level)


def paired_difference(a: Statistic, b: Statistic, n: int, *, resamples: int = RESAMPLES, level: float = LEVEL,
                      seed: int = 0) -> Interval:
    """``a - b`` for two statistics of the same ``n`` faces, with the interval of the paired bootstrap (both
    recomputed on each resample of the faces). ``.excludes(0)`` says whether the difference is measurable."""
    samples = bootstrap_samples({"a": a, "b": b}, n, resamples=resamples, seed=seed)
    everyone = np.arange(n)
    return _percentiles(float(a(everyone) - b(everyone)), samples["a"] - samples["b"], level)


class BootstrapTable:
    """A table whose cells are statistics of the same N faces, each with its interval, and whose rows can be
    compared pairwise on the same bootstrap draws.

    Args:
        n: Number of faces every statistic indexes.
        resamples: Bootstrap resamples.
        level: Coverage of the intervals.
        seed: Seed of the draws (shared by every cell).
    """

    def __init__(self, n: int, *, resamples: int = RESAMPLES, level: float = LEVEL, seed: int = 0):
        self.n, self.level = n, level
        self.draws = _draws(n, resamples, seed)
        self._values: dict[str, dict[str, float]] = {}
        self._samples: dict[str, dict[str, np.ndarray]] = {}

    def add(self, row: str, column: str, statistic: Statistic) -> Interval:
        """Compute one cell (the statistic on all faces and on every draw)."""
        self._values.setdefault(row, {})[column] = float(statistic(np.arange(self.n)))
        self._samples.setdefault(row, {})[column] = np.array([statistic(idx) for idx in self.draws], dtype=np.float64)
        return self.interval(row, column)

    def add_row(self, row: str, statistics: dict[str, Statistic]) -> dict[str, Interval]:
        return {column: self.add(row, column, fn) for column, fn in statistics.items()}

    def interval(self, row: str, column: str) -> Interval:
        return _percentiles(self._values[row][column], self._samples[row][column], self.level)

    def has(self, row: str, column: str) -> bool:
        return column in self._values.get(row, {})

    def compare(self, row: str, other: str, column: str) -> Interval:
        """``row - other`` in ``column`` with its paired interval."""
        return _percentiles(self._values[row][column] - self._values[other][column],
                            self._samples[row][column] - self._samples[other][column], self.level)

    def verdict(self, row: str, other: str, column: str, *, digits: int = 2, unit: str = "") -> str:
        """A sentence that claims a difference only where the paired interval excludes zero."""
        return difference_sentence(row, other, column, self.compare(row, other, column), digits=digits, unit=unit)

    def derived(self, function: Callable[..., float], *cells: tuple[str, str]) -> Interval:
        """A statistic of several cells (e.g. the share of a gap that a row recovers), with its interval from the
        same draws: ``function(*values)`` on the full sample and on every resample."""
        values = [self._values[row][column] for row, column in cells]
        samples = [self._samples[row][column] for row, column in cells]
        with np.errstate(divide="ignore", invalid="ignore"):
            return _percentiles(float(function(*values)), np.asarray(function(*samples), dtype=np.float64),
                                self.level)

    def rows(self) -> dict[str, dict[str, Interval]]:
        """``{row: {column: Interval}}`` in the order added."""
        return {row: {column: self.interval(row, column) for column in columns}
                for row, columns in self._values.items()}

    def as_dict(self) -> dict[str, dict[str, dict[str, float]]]:
        """JSON-ready ``{row: {column: {"value", "low", "high"}}}``."""
        return {row: {c: i.as_dict() for c, i in cells.items()} for row, cells in self.rows().items()}


def difference_sentence(row: str, other: str, column: str, diff: Interval, *, digits: int = 2,
                        unit: str = "") -> str:
    """``row`` above / below ``other`` in ``column`` by so much, or "no measurable difference" where the paired
    interval of ``row - other`` contains zero."""
    span = f"{100 * diff.level:.0f}% CI [{diff.low:+.{digits}f}, {diff.high:+.{digits}f}]"
    if math.isnan(diff.value):
        return f"{row} vs {other} in {column}: not measured"
    if not diff.excludes(0.0):
        return f"{row} vs {other} in {column}: no measurable difference ({diff.value:+.{digits}f}{unit}, {span})"
    word = "above" if diff.low > 0 else "below"
    return f"{row} {word} {other} in {column} by {abs(diff.value):.{digits}f}{unit} ({span})"

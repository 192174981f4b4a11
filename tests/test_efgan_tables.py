"""The report of benchmarks/efgan_tables.py: Tables 1-3 with intervals, goal lines that say met or missed from the
paired intervals, the identity caveat, and the per-pair AU F1 it bootstraps, from per-pair values whose differences
are known."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from faceforge.metrics.bootstrap import BootstrapTable

ROOT = Path(__file__).resolve().parents[1]
N = 400


@pytest.fixture(scope="module")
def tables():
    spec = importlib.util.spec_from_file_location("efgan_tables", ROOT / "benchmarks" / "efgan_tables.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def share(rate: float) -> np.ndarray:
    """N pairs of which the first ``rate`` share (in one fixed shuffled order) score 1: nested rows."""
    out = np.zeros(N)
    out[np.random.default_rng(0).permutation(N)[:round(rate * N)]] = 1
    return out


def saved_tables(tables, rows: dict[str, dict[str, float]]) -> dict:
    """Cells from per-pair values: percentages from shares, the rest as constant offsets of one noisy column."""
    noise = np.random.default_rng(1).normal(0, 1, N)
    table = BootstrapTable(N, resamples=200)
    for row, columns in rows.items():
        for column, value in columns.items():
            values = 100 * share(value / 100) if column in tables.PERCENT else value + 0.1 * noise
            table.add(row, column, lambda i, v=values: float(v[i].mean()))
    measured = [r for r in tables.ROWS if r in rows]
    pairs = [(a, b) for a, b in zip(measured[1:], measured[:-1], strict=True)] + [(r, "Baseline") for r in measured[2:]]
    comparisons = [{"row": a, "other": b, "column": c, **table.compare(a, b, c).as_dict()}
                   for a, b in pairs for c in tables.COLUMNS if table.has(a, c) and table.has(b, c)]
    return {"pairs": N, "resamples": 200, "runs": "runs", "overrides": [], "cpu": "test CPU",
            "iterations": {"Baseline": 1200, "Cascade EF-GAN": 400}, "false_accept": 0.9, "cells": table.as_dict(),
            "comparisons": comparisons}


def row(g, psnr, fid, kept, rank):
    return {"G": g, "PSNR": psnr, "SSIM": 0.8, "FID (dlib)": fid, "AU F1": 0.5, "AU MAE": 0.1, "ID < 0.6": kept,
            "ID rank-1": rank}


def test_tables_show_every_measured_row_and_the_goals_read_the_paired_intervals(tables):
    saved = saved_tables(tables, {
        tables.SOURCE: {"G": 20.0, "PSNR": 25.0, "SSIM": 0.7},
        "Baseline": row(80.0, 27.0, 0.05, 99.0, 60.0),
        "Baseline + Local Focuses": row(85.0, 27.5, 0.04, 99.0, 62.0),
        "Cascade EF-GAN": row(92.0, 28.5, 0.03, 99.0, 70.0),
        tables.TARGET: {"G": 95.0, "ID < 0.6": 99.5, "ID rank-1": 90.0},
    })
    text = tables.report(saved, update=False)
    assert "| Cascade EF-GAN | 92.0 [" in text and "| Baseline | 80.0 [" in text
    assert "Baseline + Cascade |" not in text  # an absent row is left out, not zero
    assert "| true target face | 95.0 [" in text  # R
    assert "G at least 90% and 4 points above the Baseline (paper 89.4 vs 84.6 on RaFD): 92.0 [" in text
    assert ", met; 12.0 [" in text and "points above, met" in text
    assert "PSNR at least 1 dB above the Baseline: 1.50 [" in text and "dB, met" in text
    assert "Cascade EF-GAN vs Baseline + Local Focuses: no worse" in text
    assert "in at least 95% of edits: 99.0 [" in text and "90.0% of pairs of *different* test people" in text
    assert "Cascade EF-GAN better than Baseline in FID (dlib)" in text  # lower is better
    assert "Cascade EF-GAN better than Baseline in G" in text

    worse = saved_tables(tables, {"Baseline": row(88.0, 27.0, 0.03, 90.0, 60.0),
                                  "Baseline + Local Focuses": row(86.0, 27.2, 0.05, 90.0, 50.0)})
    text = tables.report(worse, update=False)
    assert "Baseline + Local Focuses vs Baseline: measurably worse in G, FID (dlib), ID rank-1" in text
    assert "G at least 90%" not in text  # no Cascade EF-GAN row: its goals are not claimed either way


def test_au_f1_bootstraps_the_mean_over_the_aus_that_occur(tables):
    from sklearn.metrics import f1_score

    rng = np.random.default_rng(0)
    labels = (rng.random((60, 5)) < 0.3).astype(float)
    labels[:, 4] = 0  # an AU that never occurs is left out of the mean
    probs = np.clip(labels * 0.6 + rng.random((60, 5)) * 0.5, 0, 1)
    thresholds = np.array([0.5, 0.4, 0.6, 0.5, 0.5])
    everyone = np.arange(60)
    want = np.mean([f1_score(labels[:, k], probs[:, k] >= thresholds[k]) for k in range(4)])
    assert tables.au_f1(probs, labels, thresholds, everyone) == pytest.approx(want)
    twice = np.concatenate([everyone, everyone])  # a resample with every pair drawn twice: the same F1
    assert tables.au_f1(probs, labels, thresholds, twice) == pytest.approx(want)


def test_edit_picture_puts_each_row_beside_the_source_and_the_true_target(tables):
    rng = np.random.default_rng(0)
    pairs = {"source": rng.integers(0, 255, (8, 128, 128, 3), dtype=np.uint8),
             "target": rng.integers(0, 255, (8, 128, 128, 3), dtype=np.uint8),
             "source_aus": rng.random((8, 18)), "target_aus": rng.random((8, 18))}
    edits = {"Baseline": pairs["source"] // 2, "Cascade EF-GAN": pairs["target"] // 2}
    image = tables.picture(pairs, edits, count=3)
    assert image.size == (4 * 128, 28 + 3 * 128)
    largest = int(np.argmax(np.abs(pairs["target_aus"] - pairs["source_aus"]).sum(1)))
    assert np.array_equal(np.asarray(image)[28:156, :128], pairs["source"][largest])
    assert np.array_equal(np.asarray(image)[28:156, 384:], pairs["target"][largest])

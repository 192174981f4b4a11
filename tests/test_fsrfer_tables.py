"""The report of benchmarks/fsrfer_tables.py: Table 1's rows with intervals, the goal lines (met, missed or
unsettled by the paired interval), Table 2's convergence reading and Figure 4, from per-face correctness whose
differences are known."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
import torch

from faceforge.metrics.bootstrap import BootstrapTable

ROOT = Path(__file__).resolve().parents[1]
N = 400


@pytest.fixture(scope="module")
def tables():
    spec = importlib.util.spec_from_file_location("fsrfer_tables", ROOT / "benchmarks" / "fsrfer_tables.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def correct(rate: float, seed: int = 0) -> np.ndarray:
    """N faces of which the first ``rate`` share (in a fixed shuffled order) are right: rows built from the same
    order are nested, so paired differences are exact."""
    order = np.random.default_rng(seed).permutation(N)
    out = np.zeros(N)
    out[order[:round(rate * N)]] = 1
    return out


def saved_tables(tables, rates: dict[str, dict[str, float]], curves=None) -> dict:
    table = BootstrapTable(N, resamples=200)
    cells = {}
    for row, columns in rates.items():
        values = {c: correct(r) for c, r in columns.items()}
        values["avg"] = np.mean([values[f"x{f}"] for f in tables.FACTORS], axis=0)
        cells[row] = {c: table.add(row, c, lambda i, v=v: float(v[i].mean())).scaled(100).as_dict()
                      for c, v in values.items()}
    comparisons = []
    for row, other in (("FSR-FER", "bicubic"), ("FSR-FER", "ISR (VDSR, then the backbone)"),
                       ("FSR-FER", "FSR-FER w/o re-weighting")):
        if row in rates and other in rates:
            for column in tables.COLUMNS:
                comparisons.append({"row": row, "other": other, "column": column,
                                    **table.compare(row, other, column).scaled(100).as_dict()})
    return {"faces": N, "resamples": 200, "cpu": "test CPU", "runs": "runs", "overrides": [],
            "iterations": {"fsrfer": 1500}, "majority": {"value": 12.5, "low": 10.0, "high": 15.0}, "chance": 12.5,
            "cells": cells, "comparisons": comparisons, "curves": curves or {}}


def rates(hr: float, low: float, high: float) -> dict[str, float]:
    """HR, then x2..x8 falling linearly from ``high`` to ``low``."""
    return {"HR": hr, **{f"x{f}": high + (low - high) * (f - 2) / 6 for f in range(2, 9)}}


def test_table_1_shows_every_row_with_intervals_and_the_goals_say_met_or_missed(tables, capsys):
    saved = saved_tables(tables, {"bicubic": rates(0.8, 0.15, 0.7), "ISR (VDSR, then the backbone)":
                                  rates(0.8, 0.15, 0.75), "FSR-FER": rates(0.8, 0.45, 0.75)})
    text = tables.report(saved, update=False)
    assert "| route | HR | x2 | x3 | x4 | x5 | x6 | x7 | x8 | avg |" in text
    assert "| bicubic | 80.0 [" in text and "| FSR-FER | 80.0 [" in text
    assert "FSR-FER w/o re-weighting |" not in text  # an absent row is left out, not zero
    assert "x8 at least 20 points above bicubic (paper: 64.2 vs 40.3 on RAF-DB): 30.0 [" in text
    assert "points, met" in text
    assert "measurably above at x5, x6, x7, x8 of them" in text
    assert "both runs' validation curves are needed" in text
    assert "Always answering the most frequent expression scores 12.5 [10.0, 15.0] (chance 12.5)" in text

    close = saved_tables(tables, {"bicubic": rates(0.8, 0.15, 0.7), "FSR-FER": rates(0.8, 0.20, 0.7)})
    assert "5.0 [" in tables.report(close, update=False) and "points, missed" in capsys.readouterr().out


def test_table_2_reads_the_iterations_each_run_needs_to_reach_the_other_runs_final_accuracy(tables):
    curves = {"FSR-FER": [[150, 0.40], [300, 0.46], [450, 0.47]],
              "FSR-FER w/o re-weighting": [[150, 0.38], [300, 0.42], [450, 0.45]]}
    saved = saved_tables(tables, {"bicubic": rates(0.8, 0.15, 0.7), "FSR-FER": rates(0.8, 0.25, 0.75),
                                  "FSR-FER w/o re-weighting": rates(0.8, 0.25, 0.75)}, curves)
    text = tables.report(saved, update=False)
    assert "| FSR-FER | 40.0 | 46.0 | 47.0 |" in text
    assert "ends at 45.0%; it first reaches that at iteration 450, FSR-FER at iteration 300" in text
    assert "re-weighting faster to converge: yes, 1.5x fewer iterations" in text
    assert "0.0 [0.0, 0.0] points, no measurable difference" in text  # identical per-face rows
    slow = {**curves, "FSR-FER": [[150, 0.30], [300, 0.40], [450, 0.44]]}
    assert "FSR-FER at not within the run" in tables.report({**saved, "curves": slow}, update=False)
    assert tables.first_reaching([(1, 0.2), (2, 0.5)], 0.5) == 2 and tables.first_reaching([(1, 0.2)], 0.5) is None


def test_figure_4_is_drawn_with_a_line_per_route(tables):
    saved = saved_tables(tables, {"bicubic": rates(0.8, 0.15, 0.7), "FSR-FER": rates(0.8, 0.45, 0.75)})
    image = np.asarray(tables.plot(saved))
    assert image.shape == (420, 640, 3)
    for row in ("bicubic", "FSR-FER"):
        colour = np.array(tables.COLOURS[row])
        assert (np.abs(image.astype(int) - colour).sum(-1) == 0).sum() > 100, row


def test_predictions_follow_each_route(tables):
    from faceforge.models.fsrfer import FSRFER, low_resolution_input

    torch.manual_seed(0)
    model = FSRFER(FSRFER.tiny_config()).eval()
    backbone = model.backbone
    faces = torch.rand(3, 3, backbone.config.image_size, backbone.config.image_size)

    class Grey(torch.nn.Module):
        def forward(self, x):
            return {"sr": torch.full_like(x, 0.5)}

    bicubic = tables.predictions(backbone, "bicubic", backbone, faces, batch_size=2)
    isr = tables.predictions(Grey(), "isr", backbone, faces, batch_size=2)
    fsr = tables.predictions(model, "fsrfer", backbone, faces, batch_size=2)
    with torch.no_grad():
        assert (bicubic["x4"] == backbone(low_resolution_input(faces, 4)).argmax(1).numpy()).all()
        grey = backbone(torch.full((1, *faces.shape[1:]), 0.5)).argmax(1).item()
        assert (fsr["x8"] == model(low_resolution_input(faces, 8)).argmax(1).numpy()).all()
    assert (isr["x2"] == grey).all() and (isr["HR"] == bicubic["HR"]).all()
    assert list(bicubic) == ["HR", "x2", "x3", "x4", "x5", "x6", "x7", "x8"]

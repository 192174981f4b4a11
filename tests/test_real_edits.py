"""The summary of benchmarks/real_edits.py: per-face records into the per-target and overall table, the reference
distances between distinct faces and the pixel change, from hand-made values whose answers are known."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
TARGETS = ["happiness", "neutral"]


@pytest.fixture(scope="module")
def real_edits():
    spec = importlib.util.spec_from_file_location("real_edits", ROOT / "benchmarks" / "real_edits.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def probs(happiness: float, neutral: float) -> dict[str, float]:
    """A reading over three classes; anger takes the rest."""
    return {"neutral": neutral, "happiness": happiness, "anger": round(1 - happiness - neutral, 6)}


# Per face: the input's reading, then per target (edit's reading, identity distance, pixel change).
FACES = {
    "a": (probs(0.6, 0.3), {"happiness": (probs(0.9, 0.05), 0.3, 10), "neutral": (probs(0.2, 0.7), 0.5, 12)}),
    "b": (probs(0.1, 0.2), {"happiness": (probs(0.5, 0.1), 0.7, 20), "neutral": (probs(0.1, 0.6), 0.4, 8)}),
    "c": (probs(0.2, 0.7), {"happiness": (probs(0.3, 0.6), 0.2, 30), "neutral": (probs(0.1, 0.8), 0.1, 4)}),
    "d": (probs(0.3, 0.1), {"happiness": (probs(0.7, 0.1), 0.65, 40), "neutral": (probs(0.2, 0.5), 0.55, 6)}),
}


@pytest.fixture(scope="module")
def records(real_edits):
    return {name: real_edits.face_record(reading, edits) for name, (reading, edits) in FACES.items()}


def test_face_record_names_the_readings_and_the_target_probabilities(records):
    b = records["b"]
    assert b["input"]["read"] == "anger" and b["input"]["probabilities"] == probs(0.1, 0.2)
    assert b["edits"]["happiness"]["read"] == "happiness" and b["edits"]["neutral"]["read"] == "neutral"
    assert b["edits"]["neutral"]["target_probability"] == {"input": 0.2, "edit": 0.6}
    assert b["edits"]["happiness"]["identity_distance"] == 0.7 and b["edits"]["happiness"]["pixel_change"] == 20


def test_summary_per_target_and_overall(real_edits, records):
    table = real_edits.summarize(records, TARGETS, resamples=200)
    rows = table.rows()
    assert list(rows) == ["happiness", "neutral", "overall"]
    expected = {
        # read before/after (%): inputs / edits read as the target; dp: mean change of p(target);
        # ID < 0.6 (%); median identity distance; median pixel change
        "happiness": {"read before": 25, "read after": 75, "after - before": 50, "dp(target)": 0.3,
                      "ID < 0.6": 50, "ID dist": 0.475, "pixel change": 25},
        "neutral": {"read before": 25, "read after": 100, "after - before": 75, "dp(target)": 0.325,
                    "ID < 0.6": 100, "ID dist": 0.45, "pixel change": 7},
        "overall": {"read before": 25, "read after": 87.5, "after - before": 62.5, "dp(target)": 0.3125,
                    "ID < 0.6": 75, "ID dist": 0.45, "pixel change": 11},
    }
    for row, cells in expected.items():
        assert set(rows[row]) == set(real_edits.COLUMNS)
        for column, value in cells.items():
            cell = rows[row][column]
            assert cell.value == pytest.approx(value), (row, column)
            assert cell.low <= cell.value <= cell.high
    # A figure every face shares has no spread; one that differs between faces has.
    assert (rows["neutral"]["read after"].low, rows["neutral"]["read after"].high) == (100, 100)
    assert rows["happiness"]["read after"].low < rows["happiness"]["read after"].high
    text = real_edits.report(table, None)
    assert "| happiness | 25 [" in text and "| overall | 25 [" in text and "reference" not in text


def test_different_people_are_every_distinct_pair(real_edits, records):
    descriptors = np.zeros((4, 128), np.float32)
    descriptors[:, 0] = [0.0, 0.5, 1.0, 1.5]  # pair distances 0.5 (three), 1.0 (two), 1.5
    distances = real_edits.pairwise_distances(descriptors)
    assert distances.shape == (4, 4) and np.allclose(np.diag(distances), 0) and np.allclose(distances, distances.T)
    reference = real_edits.different_people(distances, resamples=200)
    assert reference["faces"] == 4 and reference["pairs"] == 6
    assert reference["median"]["value"] == pytest.approx(0.75)
    assert reference["median"]["low"] <= 0.75 <= reference["median"]["high"]
    assert reference["under_0.6"] == pytest.approx(0.5)
    assert "reference, distinct faces (6 pairs of 4): median ID dist 0.75" in real_edits.report(
        real_edits.summarize(records, TARGETS, resamples=10), reference)


def test_pixel_change_is_the_mean_absolute_difference_without_wrapping(real_edits):
    faces = np.full((2, 4, 4, 3), 200, np.uint8)
    edited = faces.copy()
    edited[0] = 10  # darker by 190: uint8 subtraction would wrap
    edited[1, :2] = 255  # half the pixels brighter by 55
    assert real_edits.pixel_change(edited, faces) == pytest.approx([190, 27.5])


def test_real_magnify_summarizes_shares_and_the_median_change_with_intervals():
    spec = importlib.util.spec_from_file_location("real_magnify", ROOT / "benchmarks" / "real_magnify.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    figures = module.summarize([True, False, False, False], [True, True, False, False], [1.0, 2.0, 3.0, 10.0],
                               [0.2, 0.3, 0.7, 0.1], resamples=200)
    assert figures["C reading changed"].value == 25.0 and figures["evaluator reading changed"].value == 50.0
    assert figures["median change (0-255)"].value == 2.5 and figures["ID dist < 0.6"].value == 75.0
    low, high = figures["evaluator reading changed"].low, figures["evaluator reading changed"].high
    assert 0 <= low <= 50 <= high <= 100

"""benchmarks/groupgan_tables.py: the protocol it trains, the intervals over folds it reports and its goals."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import groupgan_tables as gt  # noqa: E402


def test_the_plan_trains_five_folds_of_vgg13_first_and_two_of_every_other_basenet(tmp_path):
    units = gt.plan(tmp_path)
    assert [(arch, fold) for arch, fold, _ in units[:5]] == [("vgg13", k) for k in range(1, 6)]
    assert {arch: [f for a, f, _ in units if a == arch] for arch in gt.ARCHS if arch != "vgg13"} == {
        "alexnet": [1, 2], "vgg11": [1, 2], "vgg16": [1, 2], "resnet18": [1, 2]}
    assert len(gt.plan(tmp_path, "paper")) == 25
    arch, fold, (peak, cnn, dcgan, v12, v22) = units[7]
    assert (arch, fold) == ("vgg11", 1)
    assert [r.name for r in (peak, cnn, dcgan, v12, v22)] == [f"vgg11/fold1/{c}" for c in
                                                              ("peak", "cnn", "dcgan", "1v2", "2v2")]
    assert "options.train_on=peak" in peak.overrides and "options.train_on=weak" in cnn.overrides
    assert f"options.init={peak.folder(tmp_path) / 'model'}" in cnn.overrides  # fine-tuned from the fold's peak net
    assert "options.net.arch=vgg11" in cnn.overrides and "fold=1" in cnn.overrides
    for gan, variant, cond in ((dcgan, "dcgan", 0), (v12, "1v2", 0), (v22, "2v2", 256)):
        assert gan.task == "groupgan" and f"options.variant={variant}" in gan.overrides
        assert f"options.net.cond_dim={cond}" in gan.overrides
        # every game of a fold starts from that fold's own peak BaseNet
        assert f"options.classifier={peak.folder(tmp_path) / 'model'}" in gan.overrides
    assert v22.argv(tmp_path)[-1] == "--resume" and f"output_dir={v22.folder(tmp_path)}" in v22.argv(tmp_path)


def test_the_interval_over_folds_is_students_t():
    mean, low, high = gt.t_interval([0.5, 0.6, 0.7, 0.8, 0.9])
    # sd 0.158, t(4) 2.776: half-width 0.196
    assert mean == pytest.approx(0.7) and high - mean == pytest.approx(0.1963, abs=1e-4) and mean - low == \
        pytest.approx(high - mean)
    mean, low, high = gt.t_interval([0.4, 0.6])
    assert (mean, round(high - mean, 3)) == (pytest.approx(0.5), 1.271)  # t(1) 12.71: two folds say little
    assert gt.t_interval([0.3]) == (0.3, 0.3, 0.3)


def test_a_unit_is_trained_by_one_process_at_a_time(tmp_path):
    lock = tmp_path / "vgg13" / "fold1.claim"
    assert gt.claim(lock) and lock.read_text() == str(os.getpid())
    assert not gt.claim(lock)  # held by a live process (this one)
    lock.write_text("999999999")  # a holder that died
    assert gt.claim(lock)


def saved(cells: dict[str, dict[str, float]]) -> dict:
    return {"schedule": "cpu", "cells": cells}


def test_rows_average_each_column_over_its_folds_and_goals_say_met_or_missed():
    shifts = (0, .01, -.01, .02, -.02)
    cells = {f"vgg13/fold{k}": {"n": 600, "majority": 0.2, "peak_on_weak": 0.3, "cnn": 0.40 + d, "dcgan": 0.42 + d,
                                "1v2": 0.44 + d, "2v2": 0.46 + d, "peak_on_peak": 0.8}
             for k, d in zip(range(1, 6), shifts, strict=True)}
    cells["alexnet/fold1"] = {"n": 600, "majority": 0.2, "peak_on_weak": 0.3, "cnn": 0.3, "dcgan": 0.3, "1v2": 0.3,
                              "2v2": 0.3, "peak_on_peak": 0.7}
    table = gt.rows(saved(cells))
    assert table["vgg13"]["2v2"][0] == pytest.approx(0.46) and table["vgg13"]["cnn"][3] == 5
    assert table["alexnet"]["cnn"][:3] == (0.3, 0.3, 0.3)
    goals = gt.goals(saved(cells))
    assert "+6.0 points, met" in goals[1] and goals[2].startswith("- 2V2 >= 1V2 >= DCGAN >= CNN: met")
    cells["vgg13/fold1"]["1v2"] = 0.9  # 1V2 now above 2V2 on average
    assert "missed" in gt.goals(saved(cells))[2]
    text = gt.report(saved(cells), update=False)
    assert "| vgg13 (5) | 20.0 [20.0, 20.0] | 30.0 [30.0, 30.0] |" in text and "| alexnet (1) |" in text

"""benchmarks/au_evaluators.py: every evaluator x condition row with intervals, the goals and the card section,
on a few cached test faces and untrained tiny evaluators (no shipped weights needed)."""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
from pathlib import Path

import pytest
import torch

from faceforge.models.au_detector import AUDetector

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("au_evaluators", ROOT / "benchmarks" / "au_evaluators.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["au_evaluators"] = module
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_each_evaluator_is_measured_at_each_condition_and_the_report_names_the_goals(bench, tmp_path, monkeypatch,
                                                                                   capsys):
    monkeypatch.setenv("FACEFORGE_CACHE", str(tmp_path / "cache"))
    torch.manual_seed(0)
    robust = tmp_path / "au-evaluator-robust"
    ceiling = tmp_path / "runs" / "au_ceiling_x8" / "model"
    for folder in (robust, ceiling):
        AUDetector(AUDetector.tiny_config()).save_pretrained(folder)
    args = argparse.Namespace(evaluators=[str(robust), str(ceiling), str(tmp_path / "missing")], factors=[1, 8],
                              length=12, val_length=6, resamples=30)
    result = bench.measure(args)
    rows = list(result["cells"])
    assert rows == [f"{robust} | sharp", f"{robust} | bicubic x8", "au_ceiling_x8 | bicubic x8"]
    assert "not measured" in capsys.readouterr().out  # the missing folder is reported, not fatal
    cell = result["cells"][rows[0]]["AU Acc, all absent"]
    assert cell["low"] <= cell["value"] <= cell["high"] and 50 < cell["value"] < 100
    assert set(result["cells"][rows[1]]) == set(bench.COLUMNS)
    # the sharp and x8 rows see different pixels: an untrained network still scores them differently
    assert result["cells"][rows[0]]["AU AUC"]["value"] != result["cells"][rows[1]]["AU AUC"]["value"]

    assert result["comparisons"] == []  # the report's pairs name the shipped evaluators, not these folders
    saved = json.loads(json.dumps(result))
    saved["evaluators"] = {str(robust): "au-evaluator-robust"}
    saved["cells"] = {row.replace(str(robust), "au-evaluator-robust"): c for row, c in saved["cells"].items()}
    saved["comparisons"] = [{"row": "au-evaluator-robust | sharp", "other": "au-evaluator-robust | bicubic x8",
                             "column": "AU AUC", "value": 0.2, "low": 0.18, "high": 0.22},
                            {"row": "au_ceiling_x8 | bicubic x8", "other": "au-evaluator-robust | bicubic x8",
                             "column": "AU AP", "value": 0.01, "low": -0.01, "high": 0.03}]
    readme = tmp_path / "README.md"
    readme.write_text("# card\n")
    monkeypatch.setattr(bench, "ROOT", tmp_path)
    (tmp_path / "hub_cards" / "au-evaluator-robust").mkdir(parents=True)
    (tmp_path / "hub_cards" / "au-evaluator-robust" / "README.md").write_text("# robust\n")
    bench.report(saved, update=True)
    text = readme.read_text()
    assert bench.MARKERS[0] in text and "| au-evaluator-robust | bicubic x8 |" in text
    assert "goal: au-evaluator-robust mean AUC on sharp faces >= 0.95" in text and "missed by" in text
    assert "information ceiling at x8" in text
    assert "- au-evaluator-robust | sharp above au-evaluator-robust | bicubic x8 in AU AUC by 0.200" in text
    assert "in AU AP: no measurable difference (+0.010" in text
    bench.report(saved, update=True)  # a second update replaces the section
    assert readme.read_text().count(bench.MARKERS[0]) == 1

"""The report of benchmarks/mpenet_tables.py: which rows Tables 1-4 show, their intervals, and what the goal and
comparison lines say, from per-face statistics whose differences are known."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

from faceforge.metrics.bootstrap import BootstrapTable

ROOT = Path(__file__).resolve().parents[1]
N = 200


@pytest.fixture(scope="module")
def tables():
    spec = importlib.util.spec_from_file_location("mpenet_tables", ROOT / "benchmarks" / "mpenet_tables.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def per_face(mean: float, seed: int, spread: float = 1.0) -> np.ndarray:
    return mean + spread * np.random.default_rng(seed).normal(size=N)


def add_model(table: BootstrapTable, name: str, psnr: float, auc: float, ap: float, *, bicubic=(24.0, 0.70, 0.30),
              hr=(0.97, 0.80)) -> None:
    """A model with three steps, its bicubic row and the HR row; face-level noise shared by every model (seed 0),
    so paired differences are exactly the mean shifts."""
    rows = {"bicubic": bicubic, "step 1": (psnr - 1, auc - 0.02, ap - 0.02), "step 2": (psnr - 0.5, auc, ap),
            "step 3": (psnr, auc, ap)}
    for row, (p, c, a) in rows.items():
        for column, values in (("PSNR", per_face(p, 0)), ("SSIM", per_face(p / 40, 0, 0.01)),
                               ("AU AUC", per_face(c, 0, 0.05)), ("AU AP", per_face(a, 0, 0.05)),
                               ("AU F1", per_face(20, 0)), ("AU Acc", per_face(85, 0))):
            table.add(f"{name}:{row}", column, lambda i, v=values: float(v[i].mean()))
    for column, values in (("AU AUC", per_face(hr[0], 0, 0.05)), ("AU AP", per_face(hr[1], 0, 0.05)),
                           ("AU Acc, all absent", per_face(86.5, 0))):
        table.add(f"{name}:HR", column, lambda i, v=values: float(v[i].mean()))


def saved(tables, models: dict[str, tuple], iterations: dict[str, int] | None = None,
          scalings: dict[str, str] | None = None) -> dict:
    table = BootstrapTable(N, resamples=200)
    for name, (psnr, auc, ap) in models.items():
        add_model(table, name, psnr, auc, ap)
    details = {name: {"landmark_px": 2.5, "rows": ["bicubic", "step 1", "step 2", "step 3"]} for name in models}
    steps = iterations or {name: 1200 for name in models}
    rows = tables.display_rows({n: n for n in models}, steps, details, scalings)
    main = rows["main"]
    share = table.derived(lambda m, b, h: (m - b) / (h - b),
                          *[(main[r], "AU AP") for r in ("MPENet", "Bicubic", "HR (AU ceiling)")])
    return {"renderer": 2, "renderers": {"au-evaluator-robust": 2, "mpenet": 2, "baseline": 1},
            "derived": {"ap_gap_share": share.as_dict()}, "faces": N, "val_faces": 50, "resamples": 200,
            "au_evaluator": "au-evaluator-robust", "sharp_evaluator": "au-evaluator", "cpu": "test CPU",
            "runs": "runs/x", "models": {n: n for n in models},
            "iterations": steps, "scalings": scalings or {}, "details": details, "rows": rows, "cells": table.as_dict(),
            "comparisons": tables.comparisons(table, rows)}


def test_tables_show_every_trained_row_with_intervals_and_the_all_absent_accuracy(tables, capsys):
    measured = saved(tables, {"mpenet": (26.0, 0.90, 0.55), "baseline": (25.8, 0.85, 0.45),
                              "srcnn": (25.0, 0.80, 0.40), "mpegan": (25.5, 0.90, 0.55)})
    text = tables.report(measured, update=False)
    assert tables.report(json.loads(json.dumps(measured)), update=False) == text  # --from-json reads the same
    assert text.index("| Bicubic |") < text.index("| SRCNN |") < text.index("| Recurrent baseline (no priors) |") \
        < text.index("| MPENet |") < text.index("| MPEGAN |") < text.index("| HR (AU ceiling) |")
    assert "| MPENet | 26.02 [" in text and "answering \"no AU\" everywhere scores 86.5 [" in text
    assert "- goal HR faces mean AU AUC >= 0.95: 0.971 [0.964, 0.977] (met)" in text
    assert "- goal bicubic clearly below HR in AU AP: HR - bicubic 0.500 [0.500, 0.500] (met)" in text
    assert "- goal MPENet above Recurrent baseline (no priors) in AU AP with non-overlapping intervals" in text
    assert "- goal MPENet recovers >= 1/3 of the bicubic-to-HR gap in AU AP: 0.50 [0.50, 0.50] (met)" in text
    assert "- measured out of its training data (another renderer): baseline (renderer 1)" in text
    assert "- goal MPENet >= bicubic + 1.73 dB PSNR: 2.00 [2.00, 2.00] dB (met)" in text
    assert "- goal MPENet above SRCNN in PSNR: 1.00 [1.00, 1.00] dB (met)" in text
    assert "- goal MPENet above VDSR: not measured (no `runs/x/vdsr/model`)" in text
    assert "- MPEGAN below MPENet in PSNR by 0.50" in text
    assert "- MPEGAN vs MPENet in AU AUC: no measurable difference (+0.000" in text
    assert "Table 4: ablation, every row 1200 iterations (`runs/x`)" in text
    assert "- ablation rows not trained: +landmarks, +AUs" in text


def test_the_baseline_row_of_table_1_needs_mpenets_schedule_and_missed_goals_say_by_how_much(tables, capsys):
    short = saved(tables, {"mpenet": (24.5, 0.81, 0.32), "baseline": (25.0, 0.80, 0.31)},
                  iterations={"mpenet": 1200, "baseline": 300})
    text = tables.report(short, update=False)
    assert "Recurrent baseline (no priors) |" not in text and "in Table 4 only" in text
    assert "| baseline | 25.02 [" in text  # still Table 4's first row
    assert "rows trained for different iterations (300, 1200)" in text
    assert "- goal MPENet >= bicubic + 1.73 dB PSNR: 0.50 [0.50, 0.50] dB (missed by 1.23 dB)" in text
    assert "- goal MPENet recovers >= 1/3 of the bicubic-to-HR gap in AU AP: 0.04 [0.04, 0.04] (missed by 0.29)" in text
    assert "(AU ceiling)" in text and "not measured (no baseline trained as long as MPENet)" in text
    assert "- ablation +AU attention maps (MPENet) below baseline in PSNR by 0.50" in text


def test_write_section_replaces_the_marked_block_and_appends_one_where_missing(tables, tmp_path):
    start, end = tables.MARKERS
    marked = tmp_path / "marked.md"
    marked.write_text(f"# Card\n\nbefore\n{start}\nold table\n{end}\nafter\n")
    tables.write_section(marked, "new table\n", 2)
    assert marked.read_text() == f"# Card\n\nbefore\n{start}\nnew table\n{end}\nafter\n"

    bare = tmp_path / "bare.md"
    bare.write_text("# Card\n")
    tables.write_section(bare, "new table", 2)
    assert bare.read_text() == f"# Card\n\n## Paper tables (FaceForge-Synth v2)\n\n{start}\nnew table\n{end}\n"


def test_model_overrides_name_known_models_only(tables):
    found = tables.sources(Path("runs"), ["mpenet=runs/mpenet-full/model"])
    assert found["mpenet"] == "runs/mpenet-full/model" and found["vdsr"] == "runs/vdsr/model"
    with pytest.raises(SystemExit, match="NAME=FOLDER"):
        tables.sources(Path("runs"), ["nonsense"])
    assert tables.synth_version() in (1, 2)


def test_a_goal_met_by_the_point_estimate_alone_says_so_and_old_json_is_refused(tables):
    from faceforge.metrics import Interval

    assert tables.against(1.73, Interval(2.0, 1.8, 2.2), 2, " dB") == "met"
    assert tables.against(1.73, Interval(1.8, 1.6, 2.0), 2, " dB") == \
        "met by the point estimate, not by the interval's lower end 1.60 dB"
    assert tables.against(1.73, Interval(1.5, 1.3, 1.7), 2, " dB") == "missed by 0.23 dB"
    old = json.loads((ROOT / "benchmarks" / "results" / "mpenet_tables_renderer1.json").read_text())
    with pytest.raises(SystemExit, match="earlier version"):
        tables.report(old, update=False)


def test_a_second_loss_scaling_gets_its_own_table_with_paired_verdicts(tables):
    scalings = {"mpenet": "loss_norm paper, lambda_au 0.01", "scaling": "loss_norm mean, lambda_au 0.001"}
    measured = saved(tables, {"mpenet": (26.0, 0.90, 0.55), "scaling": (25.0, 0.90, 0.60)}, scalings=scalings)
    text = tables.report(measured, update=False)
    assert "**Loss scaling of Eq. (13)" in text
    assert "| MPENet (loss_norm paper, lambda_au 0.01; shipped) | 26.02 [" in text
    assert "| MPENet (loss_norm mean, lambda_au 0.001) | 25.02 [" in text
    assert "- loss scaling: MPENet (loss_norm mean, lambda_au 0.001) below MPENet (loss_norm paper, lambda_au " \
           "0.01; shipped) in PSNR by 1.00" in text
    assert "- loss scaling: MPENet (loss_norm mean, lambda_au 0.001) above MPENet (loss_norm paper, lambda_au " \
           "0.01; shipped) in AU AP by 0.050" in text
    assert "vs MPENet (loss_norm paper, lambda_au 0.01; shipped) in AU AUC: no measurable difference" in text
    assert "- loss scaling to ship (the better AU AUC at no worse PSNR): the shipped one; MPENet (loss_norm mean, " \
           "lambda_au 0.001) costs 1.00 dB PSNR -1.00 [-1.00, -1.00] and does not raise AU AUC measurably" in text
    better = saved(tables, {"mpenet": (26.0, 0.90, 0.55), "scaling": (26.0, 0.93, 0.60)}, scalings=scalings)
    assert "(the better AU AUC at no worse PSNR): MPENet (loss_norm mean, lambda_au 0.001), not the shipped one " \
           "(AU AUC 0.030 [0.030, 0.030]" in tables.report(better, update=False)
    assert "Loss scaling" not in tables.report(saved(tables, {"mpenet": (26.0, 0.90, 0.55)}), update=False)
    measured["details"]["mpenet"]["val"] = {"PSNR": 26.1, "AU AUC": 0.91, "AU AP": 0.5}
    measured["details"]["scaling"]["val"] = {"PSNR": 25.2, "AU AUC": 0.92, "AU AP": 0.6}
    assert "- loss scaling (chosen on 50 validation faces: PSNR 26.10 dB shipped vs 25.20, AU AUC 0.910 vs 0.920); " \
           "on the test faces, the one to ship (the better AU AUC at no worse PSNR): the shipped one;" \
           in tables.report(measured, update=False)


def test_loss_scaling_is_read_from_the_run_config_or_the_card(tables, tmp_path):
    run = tmp_path / "run"
    (run / "model").mkdir(parents=True)
    (run / "config.yaml").write_text("task: mpenet\noptions:\n  loss_norm: mean\n  lambda_au: 0.001\n")
    assert tables.loss_scaling(str(run / "model")) == "loss_norm mean, lambda_au 0.001"
    (run / "config.yaml").write_text("task: mpenet\n")
    assert tables.loss_scaling(str(run / "model")) == "loss_norm paper, lambda_au 0.01"  # the task's defaults
    card = (ROOT / "hub_cards" / "mpenet" / "README.md").read_text()
    assert f"loss_norm={tables.loss_scaling('mpenet').split(',')[0].split()[-1]}," in card
    assert tables.sources(Path("runs"), ["scaling=runs/mean/model"])["scaling"] == "runs/mean/model"
    assert "scaling" not in tables.sources(Path("runs"), [])


def test_stored_scores_are_reused_only_for_the_same_key(tables, tmp_path):
    from faceforge.evaluation import SuperResolutionScores

    calls = []

    def score():
        calls.append(1)
        scores = SuperResolutionScores(steps=1, image_size=8)
        for row, value in (("bicubic", 24.0), ("step 1", 26.0 + len(calls))):
            scores.quality[row] = {"PSNR": [value, value + 1], "SSIM": [0.5, 0.6]}
        return scores

    path, key = tmp_path / "scores" / "mpenet-test.safetensors", {"weights": "abc", "faces": "2"}
    first = tables.stored(path, key, score, None, {})
    again = tables.stored(path, key, score, None, {})
    assert len(calls) == 1 and again.quality == first.quality and again.quality["step 1"]["PSNR"] == [27.0, 28.0]
    changed = tables.stored(path, {**key, "weights": "def"}, score, None, {})
    assert len(calls) == 2 and changed.quality["step 1"]["PSNR"] == [28.0, 29.0]
    assert tables.weights_digest(str(tmp_path)) == "" and len(tables.weights_digest("mpenet")) == 16


def test_carried_rows_keep_their_cells_and_paired_comparisons_and_new_pairs_with_them_are_unpaired(tables, tmp_path):
    import argparse

    earlier = saved(tables, {"mpenet": (26.0, 0.90, 0.55), "baseline": (25.0, 0.88, 0.50)})
    path = tmp_path / "tables.json"
    path.write_text(json.dumps(earlier))
    setting = {k: earlier[k] for k in ("renderer", "faces", "val_faces", "resamples", "au_evaluator",
                                       "sharp_evaluator")}
    args = argparse.Namespace(carry=["baseline"], json=path)
    carried = tables.carry(args, {"mpenet": "mpenet"}, setting)
    assert set(carried["baseline"]["cells"]) == {f"baseline:{r}" for r in ("bicubic", "step 1", "step 2", "step 3",
                                                                          "HR")}
    assert carried["baseline"]["note"]["against"] == {"mpenet": "mpenet"}
    # Measured now: the same MPENet and a +landmarks variant 0.5 dB above the baseline and 0.5 dB below MPENet.
    table = BootstrapTable(N, resamples=200)
    add_model(table, "mpenet", 26.0, 0.90, 0.55)
    add_model(table, "landmarks", 25.5, 0.89, 0.52)
    models = {"mpenet": "mpenet", "landmarks": "runs/mpenet-landmarks/model", "baseline": "runs/base/model"}
    details = {name: {"landmark_px": 2.5, "rows": ["bicubic", "step 1", "step 2", "step 3"]} for name in models}
    rows = tables.display_rows(models, {name: 1200 for name in models}, details)
    found = {(c["table"], c["row"], c["other"], c["column"]): c
             for c in tables.comparisons(table, rows, carried, models, {"mpenet": "abc"})}
    earlier_pair = found[("main", "MPENet", "Recurrent baseline (no priors)", "PSNR")]
    assert earlier_pair["earlier"] and earlier_pair["same_weights"] and earlier_pair["value"] == pytest.approx(1.0)
    assert earlier_pair["high"] - earlier_pair["low"] < 1e-6  # the earlier paired interval, not a wider one
    unpaired = found[("ablation", "+landmarks", "baseline", "PSNR")]
    psnr = {n: table.as_dict()[f"{n}:step 3"]["PSNR"] if n != "baseline" else
            carried["baseline"]["cells"]["baseline:step 3"]["PSNR"] for n in ("landmarks", "baseline")}
    assert unpaired["unpaired"] and unpaired["value"] == pytest.approx(0.5)
    assert unpaired["low"] == pytest.approx(psnr["landmarks"]["low"] - psnr["baseline"]["high"])
    paired = found[("ablation", "+AU attention maps (MPENet)", "+landmarks", "PSNR")]
    assert "unpaired" not in paired and "earlier" not in paired and paired["value"] == pytest.approx(0.5)
    measured = {**earlier, "models": models, "details": details, "rows": rows, "iterations": {n: 1200 for n in models},
                "carried": {"baseline": carried["baseline"]["note"]}, "comparisons": list(found.values()),
                "cells": {**table.as_dict(), **carried["baseline"]["cells"]}}
    text = tables.report(measured, update=False)
    assert "- baseline rows carried from an earlier measurement of `baseline` (on test CPU;" in text
    assert "--length 200 --carry baseline` on" in text
    assert "- ablation +landmarks above baseline in PSNR by 0.50" in text
    assert "(unpaired: the two rows' intervals, one of them carried)" in text
    with pytest.raises(SystemExit, match="measured differently"):
        tables.carry(args, {"mpenet": "mpenet"}, {**setting, "faces": 2000})
    with pytest.raises(SystemExit, match="has no scaling rows"):
        tables.carry(argparse.Namespace(carry=["scaling"], json=path), {"mpenet": "mpenet"}, setting)

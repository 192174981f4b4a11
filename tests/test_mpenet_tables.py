"""The report of benchmarks/mpenet_tables.py: which rows Tables 1-4 show and what the goal lines say."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def tables():
    spec = importlib.util.spec_from_file_location("mpenet_tables", ROOT / "benchmarks" / "mpenet_tables.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def row(psnr: float, f1: float = 3.0) -> dict:
    return {"PSNR": psnr, "SSIM": psnr / 40, "AU F1": f1, "AU Acc": 80.0}


def model(psnr: float, iterations: int | None = None, f1: float = 3.0) -> dict:
    table = {"bicubic": row(24.0, 2.0), "step 1": row(psnr - 1), "step 2": row(psnr - 0.5), "step 3": row(psnr, f1),
             "HR": {"AU F1": 80.0, "AU Acc": 95.0}}
    return {"table": table, "details": {"landmark_px": 2.5}, "iterations": iterations}


def report(tables, results: dict, capsys, sources: dict | None = None) -> str:
    sources = sources or {name: f"runs/x/mpenet-{name}/model" for name in results}
    sources.update({"mpenet": "mpenet", "mpegan": "mpegan"})
    tables.report(results, sources, 10, "au-evaluator", Path("runs/x"), update=False)
    return capsys.readouterr().out


def test_the_baseline_row_of_table_1_needs_the_shipped_schedule(tables, capsys):
    shipped = tables.shipped_iterations("mpenet")
    assert shipped and shipped > 0  # the shipped card records its iterations

    long = report(tables, {"mpenet": model(26.0), "recurrent_baseline": model(25.25, shipped)}, capsys)
    assert "| Recurrent baseline (no priors) | 25.25 |" in long
    assert "in Table 4 only" not in long

    short = report(tables, {"mpenet": model(26.0), "baseline": model(25.25, shipped // 4)}, capsys)
    assert "Recurrent baseline (no priors)" not in short
    assert f"the shipped MPENet's {shipped} iterations" in short
    assert "| baseline | 25.25 |" in short  # still Table 4's first row


def test_table_4_says_how_long_its_rows_trained_and_which_rows_got_worse(tables, capsys):
    shipped = tables.shipped_iterations("mpenet")
    same = {"mpenet": model(26.0), "baseline": model(25.0, shipped), "landmarks": model(25.5, shipped),
            "landmarks_aus": model(25.4, shipped, f1=4.0)}
    text = report(tables, same, capsys)
    assert f"Table 4: ablation, every row {shipped} iterations (`runs/x`; the last row is the shipped mpenet)" in text
    assert "- ablation +landmarks vs baseline: no worse" in text
    assert "- ablation +AUs vs +landmarks: worse in PSNR, SSIM" in text
    assert "- ablation +AU attention maps (MPENet) vs +AUs: worse in AU F1" in text  # 3.0 < 4.0
    assert "below bicubic" not in text

    short = {"mpenet": model(26.0), **{v: model(23.5, 300) for v in ("baseline", "landmarks", "landmarks_aus", "full")}}
    text = report(tables, short, capsys)
    assert "Table 4: ablation, every row 300 iterations (`runs/x`)" in text
    assert "- ablation: every variant is still below bicubic in PSNR" in text

    mixed = {"mpenet": model(26.0), "baseline": model(25.0, 300)}
    text = report(tables, mixed, capsys)
    assert f"rows trained for different iterations (300, {shipped})" in text
    assert "- ablation rows not trained: +landmarks, +AUs" in text


def test_goal_lines_measure_mpenet_against_bicubic(tables, capsys):
    text = report(tables, {"mpenet": model(28.0, f1=8.0)}, capsys)
    assert "- goal MPENet >= bicubic + 3.5 dB: +4.00 dB (met)" in text
    assert "- goal MPENet >= bicubic + 5 AU F1 points: +6.00 (met)" in text
    text = report(tables, {"mpenet": model(25.0, f1=3.0)}, capsys)
    assert "+1.00 dB (missed by 2.50 dB)" in text
    assert "+1.00 (missed by 4.00)" in text


def test_a_non_default_baseline_is_part_of_the_command(tables, capsys):
    shipped = tables.shipped_iterations("mpenet")
    results = {"mpenet": model(26.0), "recurrent_baseline": model(25.0, shipped)}
    text = report(tables, results, capsys, sources={"recurrent_baseline": "elsewhere/model"})
    assert "`python benchmarks/mpenet_tables.py --runs runs/x --length 10 --baseline elsewhere/model`" in text


def test_write_section_replaces_the_marked_block_and_appends_one_where_missing(tables, tmp_path):
    start, end = tables.MARKERS
    marked = tmp_path / "marked.md"
    marked.write_text(f"# Card\n\nbefore\n{start}\nold table\n{end}\nafter\n")
    tables.write_section(marked, "new table\n")
    assert marked.read_text() == f"# Card\n\nbefore\n{start}\nnew table\n{end}\nafter\n"

    bare = tmp_path / "bare.md"
    bare.write_text("# Card\n")
    tables.write_section(bare, "new table")
    assert bare.read_text() == f"# Card\n\n## Paper tables (FaceForge-Synth v1)\n\n{start}\nnew table\n{end}\n"

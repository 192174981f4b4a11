"""IGCN's paper tables (Tables 1-3 of Liu et al., MMM 2020) on the FaceForge-Synth test split, every figure with a
95% bootstrap interval and every "A beats B" claim checked on the paired interval of the difference.

    python benchmarks/igcn_tables.py [--runs runs] [--model NAME=FOLDER ...] [--length 2000] [--val-length 500]
                                     [--au-evaluator au-evaluator-robust] [--sharp-evaluator au-evaluator]
                                     [--resamples 1000] [--json benchmarks/results/igcn_tables.json]
                                     [--scores RUNS/igcn_scores] [--only NAME ...] [--update] [--from-json]

Models (a missing one is reported and left out): the paper's rows ``srgan`` (IGCN 1x1 alone: SRGAN's residual
blocks, no AU loss), ``no_au`` ("Ours-": RRMBs without the AU classifier loss) and ``full`` ("Ours"), from
``RUNS/igcn-{srgan,no_au,full}/model`` (``bash train/ship_igcn.sh``; a missing ``igcn-full`` means the shipped
``igcn``), and the shipped ``mpenet`` on the same occluded inputs: the comparison a user makes (MPENet never saw an
occlusion). ``--model NAME=FOLDER`` points any of them elsewhere.

Faces: the identity-disjoint test split of the renderer IGCN was trained on (``synth_version`` of
``train/configs/igcn_cpu.yaml``), 128x128, brought down to 16x16 by MATLAB bicubic (8-bit), a square of half the
input's side (a quarter of its area) painted black at a position fixed per face (the same occlusions for every
model; ``faceforge.training.tasks.igcn.score_occluded_restoration``), and restored. PSNR and SSIM on the Y channel
of the whole face and of the occluded square alone (its 64x64 region). AU columns, by the robust AU evaluator
(``--au-evaluator``, trained apart from the AU supervisor, on degraded faces): per-AU F1 at the evaluator's
thresholds on BP4D's 12 and DISFA's 8 of FaceForge-Synth's AUs (the paper's Tables 1 and 2), and over each subset
the mean F1, accuracy (beside answering "no AU" everywhere), ROC-AUC and average precision, and F1 at per-AU
thresholds chosen on ``--val-length`` validation faces restored by the same model; the sharp evaluator adds a
stricter AUC / AP pair. Intervals: percentile bootstrap over the test faces, the same draws for every model.

Goals (the paper's BP4D margins of Ours over SRGAN): +2.1 dB PSNR, +0.12 SSIM, +16 points of mean AU F1; Ours at or
above Ours- in the AU metrics (its paired interval not wholly below zero).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # mpenet_tables: the shared table helpers

import mpenet_tables as shared  # noqa: E402

import faceforge  # noqa: E402
from faceforge.face.aus import BP4D_AUS, DISFA_AUS, FACEFORGE_AUS  # noqa: E402
from faceforge.metrics.bootstrap import BootstrapTable, Interval  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
MARKERS = ("<!-- igcn-tables -->", "<!-- /igcn-tables -->")
VARIANTS = {"srgan": "SRGAN (IGCN 1x1)", "no_au": "Ours- (no AU loss)", "full": "Ours (IGCN)"}
SUBSETS = {"BP4D": BP4D_AUS, "DISFA": DISFA_AUS}
QUALITY = ("PSNR", "SSIM", "PSNR (occluded)", "SSIM (occluded)")
AU_COLUMNS = ("AU F1", "AU F1 (val thr.)", "AU Acc", "AU AUC", "AU AP", "AU AUC (sharp)", "AU AP (sharp)")
DIGITS = {"PSNR": 2, "SSIM": 4, "PSNR (occluded)": 2, "SSIM (occluded)": 4, "AU AUC": 3, "AU AP": 3,
          "AU AUC (sharp)": 3, "AU AP (sharp)": 3}
GOALS = {"PSNR": 2.1, "SSIM": 0.12, "AU F1": 16.0}  # Ours - SRGAN on BP4D in the paper (F1 in points)


def synth_version() -> int:
    import yaml

    return int(yaml.safe_load((ROOT / "train" / "configs" / "igcn_cpu.yaml").read_text())["synth_version"])


def sources(runs: Path, overrides: list[str]) -> dict[str, str]:
    """Model name -> folder or shipped name."""
    found = {variant: str(runs / f"igcn-{variant}" / "model") for variant in VARIANTS}
    if not Path(found["full"]).is_dir():
        found["full"] = "igcn"
    found["mpenet"] = "mpenet"
    for item in overrides:
        name, sep, folder = item.partition("=")
        if not sep or name not in found:
            raise SystemExit(f"--model takes NAME=FOLDER with NAME one of {sorted(found)}, got {item!r}")
        found[name] = folder
    return found


def key(name: str, row: str) -> str:
    return f"{name}:{row}"


# --- measuring -----------------------------------------------------------------------------------------------------
def measure(args) -> dict:
    """Score every model on the same occluded faces; return the JSON-ready cells, per-AU F1 and comparisons."""
    from faceforge.data.cache import cached_synth
    from faceforge.loading import load_pretrained
    from faceforge.modeling import ModelLoadError
    from faceforge.training.report import cpu_name
    from faceforge.training.tasks.igcn import OcclusionScores, score_occluded_restoration

    version = synth_version()
    test = cached_synth("test", length=args.length, version=version)
    val = cached_synth("val", length=args.val_length, version=version)
    evaluator = load_pretrained(args.au_evaluator).eval()
    extras = {"sharp": load_pretrained(args.sharp_evaluator).eval()} if args.sharp_evaluator else {}
    tables = {subset: BootstrapTable(len(test), resamples=args.resamples) for subset in SUBSETS}
    models, per_au, digests = {}, {}, {}
    for name, source in sources(args.runs, args.model).items():
        if args.only and name not in args.only:
            continue
        try:
            model = faceforge.from_pretrained(source).eval()
        except ModelLoadError as err:
            print(f"[{name}] not measured: {err}")
            continue
        start = time.perf_counter()
        kwargs = {"batch_size": args.batch_size, "num_workers": 0, "device": "cpu"}
        stamp = {"weights": shared.weights_digest(source), "renderer": str(version),
                 "au_evaluator": args.au_evaluator, "sharp_evaluator": args.sharp_evaluator, "occlusion": "0.5,0"}

        stem = stamp["weights"] or name
        scores = shared.stored(
            args.scores / f"{stem}-test.safetensors", {**stamp, "faces": str(len(test))},
            lambda: score_occluded_restoration(model, test, evaluator, extra_evaluators=extras, **kwargs), None, {},
            load=lambda path: OcclusionScores.load(path, evaluator=evaluator, extra_evaluators=extras))
        val_scores = shared.stored(
            args.scores / f"{stem}-val.safetensors", {**stamp, "faces": str(len(val))},
            lambda: score_occluded_restoration(model, val, evaluator, **kwargs), None, {},
            load=lambda path: OcclusionScores.load(path, evaluator=evaluator))
        if args.only:  # kept for the run that makes the tables; its bootstrap is that run's work
            models[name] = source
            print(f"[{name}] {source}: {len(test)} + {len(val)} faces in {time.perf_counter() - start:.0f} s")
            continue
        calibration = val_scores.fit_thresholds(FACEFORGE_AUS)
        for subset, aus in SUBSETS.items():
            for row, cells in scores.statistics(FACEFORGE_AUS, val_thresholds=calibration, subset=aus).items():
                tables[subset].add_row(key(name, row), cells)
        _, details = scores.table(FACEFORGE_AUS)
        per_au[name] = details.get("au_f1", {})
        models[name], digests[name] = source, stamp["weights"]
        print(f"[{name}] {source}: {len(test)} + {len(val)} faces in {time.perf_counter() - start:.0f} s")
    if args.only:
        print(f"scored {', '.join(models) or 'nothing'} into {args.scores}; run without --only for the tables")
        return {}
    if "full" not in models:
        raise SystemExit("IGCN (the shipped igcn or --model full=FOLDER) is needed for the tables")
    rows = display_rows(models)
    return {"renderer": version, "faces": len(test), "val_faces": len(val), "resamples": args.resamples,
            "au_evaluator": args.au_evaluator, "sharp_evaluator": args.sharp_evaluator, "cpu": cpu_name(),
            "runs": str(args.runs), "overrides": list(args.model), "models": models, "digests": digests,
            "rows": rows, "per_au_f1": per_au,
            "cells": {subset: table.as_dict() for subset, table in tables.items()},
            "comparisons": comparisons(tables, rows)}


def display_rows(models: dict) -> dict[str, str]:
    """Shown row name -> cell row key, in the paper's order, with the input and the ground truth around them."""
    rows = {"Bicubic (occluded input)": key("full", "bicubic")}
    rows.update({label: key(name, "output") for name, label in VARIANTS.items() if name in models})
    if "mpenet" in models:
        rows["MPENet (never saw an occlusion)"] = key("mpenet", "output")
    rows["Ground truth (HR)"] = key("full", "HR")
    return rows


def comparisons(tables: dict[str, BootstrapTable], rows: dict[str, str]) -> list[dict]:
    """Paired differences (row - other) the goals and bullets read, per AU subset."""
    ours = VARIANTS["full"]
    pairs = [(ours, VARIANTS["srgan"]), (ours, VARIANTS["no_au"]), (ours, "MPENet (never saw an occlusion)"),
             (ours, "Bicubic (occluded input)")]
    out = []
    for subset, table in tables.items():
        for a, b in pairs:
            if a not in rows or b not in rows:
                continue
            for column in (*QUALITY, "AU F1", "AU AUC", "AU AP"):
                if table.has(rows[a], column) and table.has(rows[b], column):
                    out.append({"subset": subset, "row": a, "other": b, "column": column,
                                **table.compare(rows[a], rows[b], column).as_dict()})
    return out


# --- reporting -----------------------------------------------------------------------------------------------------
def cell(saved: dict, subset: str, row_key: str, column: str) -> Interval | None:
    found = saved["cells"][subset].get(row_key, {}).get(column)
    return Interval(found["value"], found["low"], found["high"]) if found else None


def difference(saved: dict, subset: str, row: str, other: str, column: str) -> Interval | None:
    for item in saved["comparisons"]:
        if (item["subset"], item["row"], item["other"], item["column"]) == (subset, row, other, column):
            return Interval(item["value"], item["low"], item["high"])
    return None


def interval_table(saved: dict, subset: str, title: str, columns: tuple[str, ...],
                   rows: dict[str, str] | None = None) -> str:
    rows = rows or saved["rows"]
    present = [c for c in columns if any(cell(saved, subset, k, c) for k in rows.values())]
    lines = [f"**{title}**", "", "| | " + " | ".join(present) + " |", "|---|" + "---|" * len(present)]
    for name, row_key in rows.items():
        values = [(found.format(DIGITS.get(c, 1)) if (found := cell(saved, subset, row_key, c)) else "-")
                  for c in present]
        lines.append(f"| {name} | " + " | ".join(values) + " |")
    return "\n".join(lines)


def per_au_table(saved: dict, subset: str) -> str:
    """The paper's layout: one column per AU (F1 % at the evaluator's thresholds), the subset's mean last."""
    aus = SUBSETS[subset]
    lines = [f"**Table {1 if subset == 'BP4D' else 2}: per-AU F1 (%) on the {len(aus)} {subset} AUs**", "",
             "| | " + " | ".join(f"AU{a}" for a in aus) + " | mean |", "|---|" + "---|" * (len(aus) + 1)]
    for name, row_key in saved["rows"].items():
        model, row = row_key.split(":")
        f1 = saved["per_au_f1"].get(model, {}).get(row)
        if not f1:
            continue
        values = [f"{f1[f'AU{a}']:.1f}" if f"AU{a}" in f1 else "-" for a in aus]
        mean = cell(saved, subset, row_key, "AU F1")
        lines.append(f"| {name} | " + " | ".join(values) + f" | {mean.format(1) if mean else '-'} |")
    return "\n".join(lines)


def goals(saved: dict) -> list[str]:
    ours, srgan, no_au = VARIANTS["full"], VARIANTS["srgan"], VARIANTS["no_au"]
    lines = []
    for column, goal in GOALS.items():
        diff = difference(saved, "BP4D", ours, srgan, column)
        if diff is None:
            lines.append(f"- goal Ours above SRGAN by >= {goal:g} in {column} (BP4D): not measured (no SRGAN row)")
            continue
        digits = DIGITS.get(column, 1)
        lines.append(f"- goal Ours above SRGAN by >= {goal:g} in {column} (BP4D AUs for F1): {diff.format(digits)} "
                     f"({shared.against(goal, diff, digits)})")
    for subset in SUBSETS:
        for column in ("AU F1", "AU AUC", "AU AP"):
            diff = difference(saved, subset, ours, no_au, column)
            if diff is None:
                continue
            verdict = "met" if diff.high >= 0 else "not met: Ours- is measurably above"
            shown = diff.format(1 if "F1" in column else 3)
            lines.append(f"- goal Ours at or above Ours- in {column} ({subset}): {shown} ({verdict})")
    return lines


def report(saved: dict, update: bool) -> str:
    """Print the tables, goals and paired comparisons (and write them into the README and the igcn card)."""
    overrides = saved.get("overrides") or []
    model_args = " --model " + " ".join(overrides) if overrides else ""
    hr = cell(saved, "BP4D", saved["rows"]["Ground truth (HR)"], "AU Acc, all absent")
    lines = [f"FaceForge-Synth renderer {saved['renderer']} test split (identity-disjoint), {saved['faces']} faces: "
             f"16x16 inputs (MATLAB bicubic x8) with a black square over a quarter of the input at a position fixed "
             f"per face, restored to 128x128. PSNR / SSIM on Y of the whole face and of the occluded square alone. "
             f"AU columns by `{saved['au_evaluator']}` (trained apart from the AU supervisor, on degraded faces): F1 "
             f"(%) at its thresholds and at per-AU thresholds chosen on {saved['val_faces']} validation faces, "
             f"accuracy (%; answering \"no AU\" everywhere scores {hr.format(1) if hr else '-'} on BP4D's AUs), "
             f"ROC-AUC and average precision; `(sharp)`: `{saved['sharp_evaluator']}`, trained on sharp faces only. "
             f"Every cell: value [95% bootstrap interval over the test faces, {saved['resamples']} resamples]. "
             f"Measured by `python benchmarks/igcn_tables.py --runs {saved['runs']} --length {saved['faces']}"
             f"{model_args}` on {saved['cpu']}.", "",
             per_au_table(saved, "BP4D"), "",
             interval_table(saved, "BP4D", "Table 1 (BP4D AUs): AU restoration", AU_COLUMNS), "",
             per_au_table(saved, "DISFA"), "",
             interval_table(saved, "DISFA", "Table 2 (DISFA AUs): AU restoration", AU_COLUMNS), "",
             interval_table(saved, "BP4D", "Table 3: image quality (whole face; the occluded square alone)",
                            QUALITY), ""]
    lines += goals(saved)
    for item in saved["comparisons"]:
        if item["subset"] == "BP4D" or item["column"].startswith("AU"):  # image columns once
            diff = Interval(item["value"], item["low"], item["high"])
            where = f" ({item['subset']} AUs)" if item["column"].startswith("AU") else ""
            lines.append(f"- {shared.sentence(item['row'], item['other'], item['column'] + where, diff)}")
    text = "\n".join(lines)
    print("\n" + text)
    if update:
        for path in (ROOT / "README.md", ROOT / "hub_cards" / "igcn" / "README.md"):
            shared.write_section(path, text, saved["renderer"], markers=MARKERS, title="IGCN paper tables")
            print(f"updated {path.relative_to(ROOT)}")
    return text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=Path, default=Path("runs"), help="folder of the IGCN and baseline runs")
    parser.add_argument("--model", nargs="+", default=[], metavar="NAME=FOLDER", help="measure NAME from FOLDER")
    parser.add_argument("--length", type=int, default=2000, help="test faces (the split has 2000)")
    parser.add_argument("--val-length", type=int, default=500, help="validation faces for the F1 thresholds")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--au-evaluator", default="au-evaluator-robust")
    parser.add_argument("--sharp-evaluator", default="au-evaluator", help="'' leaves the sharp columns out")
    parser.add_argument("--resamples", type=int, default=1000)
    parser.add_argument("--json", type=Path, default=Path("benchmarks/results/igcn_tables.json"))
    parser.add_argument("--scores", type=Path, default=None,
                        help="where each model's per-face scores are kept and reused (default RUNS/igcn_scores)")
    parser.add_argument("--only", nargs="+", default=[], metavar="NAME",
                        help="score only these models into --scores (run several processes at once), no tables")
    parser.add_argument("--update", action="store_true", help="write the tables into the README and the igcn card")
    parser.add_argument("--from-json", action="store_true", help="report the figures saved in --json")
    args = parser.parse_args()
    if args.from_json:
        report(json.loads(args.json.read_text()), args.update)
        return
    args.scores = args.scores or args.runs / "igcn_scores"
    saved = measure(args)
    if not saved:
        return
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(saved, indent=1) + "\n")
    print(f"wrote {args.json}")
    report(saved, args.update)


if __name__ == "__main__":
    main()

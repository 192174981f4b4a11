"""FSR-FER's paper tables (Tables 1-2 and Figure 4 of Jing et al., arXiv:2004.02234) on the FaceForge-Synth test
split, every accuracy with a 95% bootstrap interval and every "A beats B" claim checked on the paired interval of
the difference.

    python benchmarks/fsrfer_tables.py [--runs runs] [--model NAME=FOLDER ...] [--length 2000] [--resamples 1000]
                                       [--json benchmarks/results/fsrfer_tables.json] [--scores RUNS/table_scores]
                                       [--update] [--from-json]

Routes, one row each (a missing model is reported and left out):

* ``bicubic``: the shipped CovPoolFER (``covpoolfer``) on the LR face brought back up by bicubic interpolation;
* ``ISR``: the same backbone on the face restored by the image super-resolution route, one VDSR for every factor
  trained on the same faces (``RUNS/fsrfer-isr/model``, ``--task fsrfer_isr``);
* ``FSR-FER w/o re-weighting``: Table 2's variant (``RUNS/fsrfer-noreweight/model``);
* ``FSR-FER``: the shipped ``fsrfer`` (``--model fsrfer=runs/fsrfer/model`` before it is published).

Faces: the identity-disjoint test split of FaceForge-Synth v2 rendered at the backbone's 100x100, each brought down
by MATLAB bicubic at x2..x8 (8-bit) and back up (``faceforge.models.fsrfer.low_resolution_input``); HR: the faces as
they are. Intervals: percentile bootstrap over the test faces, the same draws for every row, so rows compare
pairwise (``faceforge.metrics.BootstrapTable``). Beside them: the accuracy of always answering the test split's most
frequent expression.

Table 2 adds each FSR-FER run's validation accuracy (mean over x2-x8, the ``eval/accuracy_avg`` its training logged
every ``eval_every`` iterations on the validation faces) and the first logged iteration at which each reaches the
final validation accuracy of the run without re-weighting (the paper: ~150k against ~400k iterations).

Per-face predictions are kept in ``--scores`` (keyed by the weights' digest and the faces) and reused. Prints the
tables and the goals (FSR-FER at x8 at least 20 points above bicubic; above ISR at x5-x8; re-weighting no worse than
without and faster to converge); ``--update`` writes them into the README and the ``fsrfer`` / ``covpoolfer`` cards
between ``<!-- fsrfer-tables -->`` markers and draws Figure 4 (accuracy against the factor) into
``hub_cards/fsrfer/accuracy_vs_scale.png``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))  # mpenet_tables: the shared table helpers

import mpenet_tables as shared  # noqa: E402

from faceforge.metrics.bootstrap import BootstrapTable, Interval  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
MARKERS = ("<!-- fsrfer-tables -->", "<!-- /fsrfer-tables -->")
FACTORS = (2, 3, 4, 5, 6, 7, 8)
COLUMNS = ("HR", *(f"x{f}" for f in FACTORS), "avg")
ROWS = {  # row label -> (model name, route)
    "bicubic": ("covpoolfer", "bicubic"),
    "ISR (VDSR, then the backbone)": ("isr", "isr"),
    "FSR-FER w/o re-weighting": ("fsrfer-noreweight", "fsrfer"),
    "FSR-FER": ("fsrfer", "fsrfer"),
}
COLOURS = {"bicubic": (120, 120, 120), "ISR (VDSR, then the backbone)": (214, 120, 30),
           "FSR-FER w/o re-weighting": (90, 150, 220), "FSR-FER": (25, 70, 170)}


def sources(runs: Path, overrides: list[str]) -> dict[str, str]:
    """Model name -> shipped name or folder."""
    found = {"covpoolfer": "covpoolfer", "fsrfer": "fsrfer", "isr": str(runs / "fsrfer-isr" / "model"),
             "fsrfer-noreweight": str(runs / "fsrfer-noreweight" / "model")}
    for item in overrides:
        name, _, folder = item.partition("=")
        if name not in found or not folder:
            raise SystemExit(f"--model takes NAME=FOLDER with NAME one of {', '.join(found)}, got {item!r}")
        found[name] = folder
    return found


@torch.no_grad()
def predictions(model, route: str, backbone, faces: torch.Tensor, *, batch_size: int = 50) -> dict[str, np.ndarray]:
    """Each face's predicted expression in every column: ``{"HR": (N,), "x2": (N,), ...}``.

    ``route``: ``bicubic`` (``model`` is the backbone), ``isr`` (``model`` restores the bicubic-upsampled face and
    ``backbone`` recognises it; HR faces are recognised as they are) or ``fsrfer`` (``model`` is an FSRFER: its
    classifier on G's features of the bicubic-upsampled face)."""
    from faceforge.models.fsrfer import low_resolution_input

    out: dict[str, list[torch.Tensor]] = {c: [] for c in COLUMNS[:-1]}
    for start in range(0, len(faces), batch_size):
        hr = faces[start:start + batch_size]
        for column, factor in (("HR", 1), *((f"x{f}", f) for f in FACTORS)):
            x = hr if factor == 1 else low_resolution_input(hr, factor)
            if route == "bicubic":
                logits = model(x)
            elif route == "isr":
                logits = backbone(x if factor == 1 else model(x)["sr"].clamp(0, 1))
            else:
                logits = model(x)
            out[column].append(logits.argmax(1))
    return {c: torch.cat(v).numpy() for c, v in out.items()}


def stored_predictions(path: Path, key: dict[str, str], compute) -> dict[str, np.ndarray]:
    """The predictions kept at ``path`` under the same ``key``, else ``compute()``'s, kept there."""
    from safetensors import safe_open
    from safetensors.torch import save_file

    if path.is_file():
        with safe_open(str(path), framework="pt") as file:
            if all((file.metadata() or {}).get(k) == v for k, v in key.items()):
                print(f"  reusing {path}")
                return {k: file.get_tensor(k).numpy() for k in file.keys()}  # noqa: SIM118
    found = compute()
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file({k: torch.from_numpy(v) for k, v in found.items()}, str(path), metadata=key)
    return found


def is_folder(source: str) -> bool:
    """Whether a model source is a folder (a run's export) rather than a shipped name."""
    return "/" in source or Path(source).is_dir()


def validation_curve(source: str) -> list[tuple[int, float]]:
    """(iteration, validation accuracy averaged over the factors) from a run folder's ``log.jsonl``."""
    log = Path(source).parent / "log.jsonl"
    if not log.is_file():
        return []
    rows = [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
    return [(r["step"], r["eval/accuracy_avg"]) for r in rows if "eval/accuracy_avg" in r]


def first_reaching(curve: list[tuple[int, float]], target: float) -> int | None:
    return next((step for step, value in curve if value >= target - 1e-9), None)


def measure(args) -> dict:
    """Predict with every route on the same faces; return the JSON-ready cells and comparisons."""
    from faceforge.data.cache import cached_synth
    from faceforge.loading import load_pretrained
    from faceforge.modeling import ModelLoadError
    from faceforge.training.report import cpu_name

    torch.set_grad_enabled(False)
    models = sources(args.runs, args.model)
    loaded, digests = {}, {}
    for name, source in models.items():
        try:
            loaded[name] = load_pretrained(source).eval()
        except (ModelLoadError, OSError) as err:
            print(f"  {name}: not measured ({err})")
            continue
        digests[name] = shared.weights_digest(source)
    if "covpoolfer" not in loaded:
        raise SystemExit("the CovPoolFER backbone is needed for every row")
    backbone = loaded["covpoolfer"]
    data = cached_synth("test", length=args.length, version=2, size=backbone.config.image_size)
    faces = torch.stack([torch.as_tensor(data[i]["image"]).float() for i in range(len(data))])
    labels = np.array([int(data[i]["expression"]) for i in range(len(data))])
    n = len(labels)
    print(f"{n} test faces at {faces.shape[-1]}x{faces.shape[-1]}")
    correct: dict[str, dict[str, np.ndarray]] = {}
    for row, (name, route) in ROWS.items():
        if name not in loaded:
            continue
        key = {"model": digests[name], "route": route, "faces": f"synth-v2-test-{n}-{faces.shape[-1]}",
               "backbone": digests["covpoolfer"] if route == "isr" else ""}
        print(f"{row}: predicting")
        found = stored_predictions(args.scores / f"fsrfer-{name}-{digests[name][:16]}-{n}.safetensors", key,
                                   lambda m=loaded[name], r=route: predictions(m, r, backbone, faces))
        correct[row] = {c: (found[c] == labels).astype(np.float64) for c in COLUMNS[:-1]}
        correct[row]["avg"] = np.mean([correct[row][f"x{f}"] for f in FACTORS], axis=0)
    table = BootstrapTable(n, resamples=args.resamples)
    cells: dict[str, dict[str, dict]] = {}
    for row, columns in correct.items():
        cells[row] = {c: table.add(row, c, lambda i, v=v: float(v[i].mean())).scaled(100).as_dict()
                      for c, v in columns.items()}
    majority = np.bincount(labels).argmax()
    table.add("majority", "HR", lambda i: float((labels[i] == majority).mean()))
    comparisons = []

    def compare(row: str, other: str, column: str) -> None:
        if row in correct and other in correct:
            diff = table.compare(row, other, column).scaled(100)
            comparisons.append({"row": row, "other": other, "column": column, **diff.as_dict()})

    for column in COLUMNS:
        compare("FSR-FER", "bicubic", column)
        compare("FSR-FER", "ISR (VDSR, then the backbone)", column)
        compare("ISR (VDSR, then the backbone)", "bicubic", column)
        compare("FSR-FER", "FSR-FER w/o re-weighting", column)
    # a shipped model's curve is its run's, while that run folder is on disk
    runs_of = {name: (source if is_folder(source) else str(args.runs / name / "model"))
               for name, source in models.items()}
    curves = {row: validation_curve(runs_of[name]) for row, (name, _) in ROWS.items()
              if row.startswith("FSR-FER") and name in loaded}
    curves = {row: curve for row, curve in curves.items() if curve}
    return {"faces": n, "resamples": args.resamples, "cpu": cpu_name(), "runs": str(args.runs),
            "overrides": args.model, "sources": {name: models[name] for name in loaded},
            "iterations": {name: shared.iterations(models[name]) if is_folder(models[name])
                           else shared.shipped_iterations(models[name]) for name in loaded},
            "majority": table.interval("majority", "HR").scaled(100).as_dict(),
            "chance": 100 / len(np.unique(labels)), "cells": cells, "comparisons": comparisons, "curves": curves}


def interval(d: dict) -> Interval:
    return Interval(d["value"], d["low"], d["high"])


def diff(saved: dict, row: str, other: str, column: str) -> Interval | None:
    for item in saved["comparisons"]:
        if (item["row"], item["other"], item["column"]) == (row, other, column):
            return interval(item)
    return None


def tables(saved: dict) -> list[str]:
    cells = saved["cells"]
    lines = ["| route | " + " | ".join(COLUMNS) + " |", "|---|" + "---|" * len(COLUMNS)]
    for row in ROWS:
        if row in cells:
            lines.append(f"| {row} | " + " | ".join(interval(cells[row][c]).format(1) for c in COLUMNS) + " |")
    return lines


def convergence(saved: dict) -> list[str]:
    curves = saved["curves"]
    if not {"FSR-FER", "FSR-FER w/o re-weighting"} <= set(curves):
        return ["- Table 2's convergence: both runs' validation curves are needed (their run folders are gone)"]
    target = curves["FSR-FER w/o re-weighting"][-1][1]
    reached = {row: first_reaching(curve, target) for row, curve in curves.items()}
    lines = ["| iteration | " + " | ".join(str(step) for step, _ in curves["FSR-FER"]) + " |",
             "|---|" + "---|" * len(curves["FSR-FER"])]
    for row in ("FSR-FER w/o re-weighting", "FSR-FER"):
        lines.append(f"| {row} | " + " | ".join(f"{100 * v:.1f}" for _, v in curves[row]) + " |")
    words = {row: (f"iteration {step}" if step is not None else "not within the run") for row, step in reached.items()}
    lines += ["", f"Validation accuracy (%, mean over x2-x8) logged during training. The run without re-weighting "
                  f"ends at {100 * target:.1f}%; it first reaches that at {words['FSR-FER w/o re-weighting']}, "
                  f"FSR-FER at {words['FSR-FER']}."]
    return lines


def goals(saved: dict) -> list[str]:
    out = ["", "Goals:"]
    gain = diff(saved, "FSR-FER", "bicubic", "x8")
    if gain:
        verdict = "met" if gain.low >= 20 else ("missed" if gain.high < 20 else "not settled (the interval spans it)")
        out.append(f"- FSR-FER at x8 at least 20 points above bicubic (paper: 64.2 vs 40.3 on RAF-DB): "
                   f"{gain.format(1)} points, {verdict}")
    isr = [(c, diff(saved, "FSR-FER", "ISR (VDSR, then the backbone)", c)) for c in ("x5", "x6", "x7", "x8")]
    if all(d is not None for _, d in isr):
        above = [c for c, d in isr if d.low > 0]
        out.append("- FSR-FER above the ISR route at x5-x8: " + ", ".join(f"{c} {d.format(1)}" for c, d in isr)
                   + f" points; measurably above at {', '.join(above) if above else 'none'} of them")
    rw = diff(saved, "FSR-FER", "FSR-FER w/o re-weighting", "avg")
    if rw:
        verdict = ("better" if rw.low > 0 else "worse" if rw.high < 0 else "no measurable difference")
        out.append(f"- re-weighting no worse than without (mean over x2-x8): {rw.format(1)} points, {verdict}")
    curves = saved["curves"]
    if {"FSR-FER", "FSR-FER w/o re-weighting"} <= set(curves):
        target = curves["FSR-FER w/o re-weighting"][-1][1]
        a, b = (first_reaching(curves[r], target) for r in ("FSR-FER", "FSR-FER w/o re-weighting"))
        if a is None:
            out.append("- re-weighting faster to converge: no; FSR-FER never reaches the final validation accuracy "
                       "of the run without it")
        else:
            how = f"yes, {b / a:.1f}x fewer iterations" if a < b else "no, as many or more iterations"
            out.append(f"- re-weighting faster to converge: {how} to the other run's final validation accuracy "
                       f"({a} vs {b}; validation faces logged every {curves['FSR-FER'][0][0]} iterations, so a "
                       f"coarse reading)")
    return out


def report(saved: dict, update: bool) -> str:
    overrides = " --model " + " ".join(saved["overrides"]) if saved.get("overrides") else ""
    steps = ", ".join(f"{name} {it}" for name, it in saved["iterations"].items() if it)
    lines = [f"FaceForge-Synth v2 test split (identity-disjoint), {saved['faces']} faces at 100x100, eight "
             f"expressions; total accuracy (%) with [95% bootstrap interval over the test faces, "
             f"{saved['resamples']} resamples]. HR: the faces as they are; x<f>: MATLAB-bicubic down by f (8-bit) and "
             f"bicubic back up; avg: the mean over x2-x8. Always answering the most frequent expression scores "
             f"{interval(saved['majority']).format(1)} (chance {saved['chance']:.1f}). Trained iterations: {steps}. "
             f"Measured by `python benchmarks/fsrfer_tables.py --runs {saved['runs']}{overrides}` on {saved['cpu']}.",
             "", "Table 1 (with Table 2's variant): total accuracy", "", *tables(saved), "",
             "Table 2: convergence with and without re-weighting", "", *convergence(saved), *goals(saved), "",
             "Paired differences (points):"]
    for item in saved["comparisons"]:
        if item["column"] in ("x2", "x4", "x6", "x8", "avg"):
            lines.append(f"- {item['row']} - {item['other']} at {item['column']}: {interval(item).format(1)}")
    text = "\n".join(lines)
    print("\n" + text)
    if update:
        picture = ROOT / "hub_cards" / "fsrfer" / "accuracy_vs_scale.png"
        plot(saved).save(picture)
        print(f"wrote {picture.relative_to(ROOT)}")
        figure = "\n\nFigure 4: accuracy against the factor, 95% bands; dashed: HR.\n\n![Figure 4]({})"
        for path, link in ((ROOT / "README.md", "hub_cards/fsrfer/accuracy_vs_scale.png"),
                           (ROOT / "hub_cards" / "fsrfer" / "README.md", "accuracy_vs_scale.png"),
                           (ROOT / "hub_cards" / "covpoolfer" / "README.md", None)):
            body = text + (figure.format(link) if link else "")
            shared.write_section(path, body, 2, markers=MARKERS, title="FSR-FER tables")
            print(f"updated {path.relative_to(ROOT)}")
    return text


def plot(saved: dict, width: int = 640, height: int = 420):
    """Figure 4: accuracy against the down-sampling factor for every route, with its 95% band, HR dashed."""
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(image)
    left, right, top, bottom = 56, width - 200, 24, height - 48
    columns = COLUMNS[1:-1]

    def xy(i: int, value: float) -> tuple[float, float]:
        return (left + i * (right - left) / (len(columns) - 1), bottom - value / 100 * (bottom - top))

    for tick in range(0, 101, 20):
        y = xy(0, tick)[1]
        draw.line([(left, y), (right, y)], fill=(228, 228, 228))
        draw.text((left - 28, y - 6), f"{tick}", fill="black")
    for i, column in enumerate(columns):
        x = xy(i, 0)[0]
        draw.text((x - 8, bottom + 8), column, fill="black")
    draw.text(((left + right) / 2 - 60, height - 20), "down-sampling factor", fill="black")
    draw.text((8, 6), "accuracy (%)", fill="black")
    hr = saved["cells"]["bicubic"]["HR"]["value"]  # the backbone on the faces as they are
    for x in range(left, right, 12):
        draw.line([(x, xy(0, hr)[1]), (x + 6, xy(0, hr)[1])], fill=(0, 0, 0))
    legend_y = top
    for row, cells in saved["cells"].items():
        colour = COLOURS[row]
        band = [xy(i, cells[c]["high"]) for i, c in enumerate(columns)]
        band += [xy(i, cells[c]["low"]) for i, c in reversed(list(enumerate(columns)))]
        overlay = Image.new("RGBA", image.size)
        ImageDraw.Draw(overlay).polygon(band, fill=(*colour, 50))
        image.paste(Image.alpha_composite(image.convert("RGBA"), overlay).convert("RGB"))
        draw = ImageDraw.Draw(image)
        draw.line([xy(i, cells[c]["value"]) for i, c in enumerate(columns)], fill=colour, width=3)
        draw.line([(right + 12, legend_y + 6), (right + 34, legend_y + 6)], fill=colour, width=3)
        draw.text((right + 40, legend_y), row.replace(", then the backbone", ""), fill="black")
        legend_y += 18
    draw.line([(right + 12, legend_y + 6), (right + 16, legend_y + 6)], fill="black")
    draw.line([(right + 22, legend_y + 6), (right + 28, legend_y + 6)], fill="black")
    draw.text((right + 40, legend_y), "HR (faces as they are)", fill="black")
    return image


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=Path, default=Path("runs"), help="folder of the variant and baseline runs")
    parser.add_argument("--model", nargs="+", default=[], metavar="NAME=FOLDER", help="measure NAME from FOLDER")
    parser.add_argument("--length", type=int, default=2000, help="test faces")
    parser.add_argument("--resamples", type=int, default=1000, help="bootstrap resamples")
    parser.add_argument("--json", type=Path, default=ROOT / "benchmarks" / "results" / "fsrfer_tables.json")
    parser.add_argument("--scores", type=Path, default=None, help="folder of kept predictions (RUNS/table_scores)")
    parser.add_argument("--update", action="store_true", help="write the tables into the README and cards")
    parser.add_argument("--from-json", action="store_true", help="report the tables kept in --json")
    args = parser.parse_args()
    args.scores = args.scores or args.runs / "table_scores"
    if args.from_json:
        saved = json.loads(args.json.read_text())
    else:
        saved = measure(args)
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(saved, indent=1))
    report(saved, args.update)


if __name__ == "__main__":
    main()

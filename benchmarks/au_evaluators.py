"""How well each AU evaluator reads AUs from sharp and from low-resolution faces, with 95% intervals.

    python benchmarks/au_evaluators.py [--evaluators au-evaluator au-evaluator-robust runs/au_ceiling_x8/model]
                                       [--factors 1 2 4 8] [--length 2000] [--val-length 1000] [--resamples 1000]
                                       [--json benchmarks/results/au_evaluators.json] [--update] [--from-json]

Faces: the identity-disjoint FaceForge-Synth renderer-2 test split (the first ``--length`` faces, rendered once
into faceforge's render cache); per-AU decision thresholds for the ``F1 (val thr.)`` column are chosen on the
first ``--val-length`` faces of the validation split under the same condition. Conditions: sharp (x1) and the
faces brought down by MATLAB bicubic by x2, x4, x8 (8-bit) and back up to 128x128, which is what the bicubic
row of a restoration table shows the evaluator.

Evaluators (each trained apart from the AU supervisor ``au-detector``, on training identities only):

* ``au-evaluator``: ResNet-10t trained on sharp faces (the strict judge);
* ``au-evaluator-robust``: ResNet-10t trained on faces degraded at random (bicubic x1-x8, blur, noise, JPEG),
  the judge of restored faces;
* ``runs/au_ceiling_x8/model`` (not shipped): the same architecture trained and tested on x8 inputs alone;
  its x8 row is the AU information that survives the x8 degradation at all, the ceiling of what restoration
  could give back to an evaluator.

Columns: mean over the 18 AUs of ROC-AUC and average precision (threshold-free), F1 at 0.5 and at the
validation thresholds, accuracy, and the accuracy of answering "no AU" everywhere (the trivial baseline).
Every figure has its 95% bootstrap interval over test faces; "sharp above x8" and the other comparisons are
claimed only where the paired interval of the difference excludes zero, and the AUC goal (>= 0.95 on sharp faces)
says whether the whole interval or only the point estimate meets it. ``--update`` writes the table into the
``au-evaluator-robust`` card and the README between ``<!-- au-evaluators -->`` markers.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader

import faceforge
from faceforge.data.degrade import Degradations, random_degradation
from faceforge.metrics import BootstrapTable, Interval
from faceforge.metrics.bootstrap import difference_sentence
from faceforge.metrics.classification import au_statistics, best_f1_thresholds

ROOT = Path(__file__).resolve().parents[1]
MARKERS = ("<!-- au-evaluators -->", "<!-- /au-evaluators -->")
SYNTH_VERSION = 2
COLUMNS = ("AU AUC", "AU AP", "AU F1", "AU F1 (val thr.)", "AU Acc", "AU Acc, all absent")
DIGITS = {"AU AUC": 3, "AU AP": 3}
DEFAULT_EVALUATORS = ("au-evaluator", "au-evaluator-robust", "runs/au_ceiling_x8/model")
ROBUST, CEILING = "au-evaluator-robust", "au_ceiling_x8"
# (row, other) pairs whose paired differences the report reads
PAIRS = ((f"{ROBUST} | sharp", f"{ROBUST} | bicubic x8"), (f"{CEILING} | bicubic x8", f"{ROBUST} | bicubic x8"),
         (f"{ROBUST} | bicubic x8", "au-evaluator | bicubic x8"))


def condition(factor: int) -> str:
    return "sharp" if factor == 1 else f"bicubic x{factor}"


@torch.no_grad()
def probabilities(model, faces, factor: int, batch_size: int = 200) -> tuple[np.ndarray, np.ndarray]:
    """(N, K) AU probabilities of ``model`` on the faces resampled by ``factor``, and the (N, K) labels."""
    model.eval()
    probs, labels = [], []
    resample = Degradations(factors=(factor,))
    for batch in DataLoader(faces, batch_size=batch_size, num_workers=0):
        images = batch["image"].float()
        if factor > 1:
            images = random_degradation(images, resample)
        probs.append(torch.sigmoid(model(images).float()).numpy())
        labels.append(batch["au_occurrence"].numpy())
    return np.concatenate(probs), np.concatenate(labels)


def measure(args) -> dict:
    from faceforge.data.cache import cached_synth
    from faceforge.training.report import cpu_name

    test = cached_synth("test", length=args.length, version=SYNTH_VERSION)
    val = cached_synth("val", length=args.val_length, version=SYNTH_VERSION)
    table = BootstrapTable(len(test), resamples=args.resamples)
    names, thresholds = {}, {}
    for source in args.evaluators:
        try:
            model = faceforge.from_pretrained(source)
        except Exception as err:  # a missing optional ceiling run is reported, not fatal
            print(f"[{source}] not measured: {err}")
            continue
        names[source] = Path(source).parent.name if source.endswith("/model") else source
        factors = model_factors(source, args.factors)
        for factor in factors:
            start = time.perf_counter()
            val_prob, val_target = probabilities(model, val, factor)
            tuned = best_f1_thresholds(val_prob, val_target)
            prob, target = probabilities(model, test, factor)
            row = f"{names[source]} | {condition(factor)}"
            stats = au_statistics(prob, target, threshold=model.decision_thresholds().numpy(), val_threshold=tuned)
            table.add_row(row, stats)
            thresholds[row] = tuned
            print(f"[{row}] {table.interval(row, 'AU AUC').format(3)} AUC, {time.perf_counter() - start:.0f} s")
    comparisons = [{"row": a, "other": b, "column": column, **table.compare(a, b, column).as_dict()}
                   for a, b in PAIRS for column in ("AU AUC", "AU AP") if table.has(a, column) and table.has(b, column)]
    return {"faces": len(test), "val_faces": len(val), "resamples": args.resamples, "renderer": SYNTH_VERSION,
            "cpu": cpu_name(), "evaluators": names, "cells": table.as_dict(), "val_thresholds": thresholds,
            "comparisons": comparisons}


def model_factors(source: str, factors: list[int]) -> list[int]:
    """The ceiling run is only meaningful on the degradation it was trained for."""
    return [8] if "ceiling_x8" in source else factors


def cells_of(saved: dict) -> dict[str, dict[str, Interval]]:
    return {row: {c: Interval(**v) for c, v in cells.items()} for row, cells in saved["cells"].items()}


def report(saved: dict, update: bool) -> str:
    cells = cells_of(saved)
    lines = [f"FaceForge-Synth renderer {saved['renderer']} test split (identity-disjoint), {saved['faces']} faces; "
             f"F1 (val thr.): per-AU thresholds chosen on {saved['val_faces']} validation faces under the same "
             f"condition; 95% bootstrap intervals over test faces ({saved['resamples']} resamples). AUC and AP "
             f"are means over the 18 AUs; F1 and accuracy in %. Measured by `python benchmarks/au_evaluators.py` "
             f"on {saved['cpu']}.", "",
             "| evaluator | faces | " + " | ".join(COLUMNS) + " |", "|---|---|" + "---|" * len(COLUMNS)]
    for row, row_cells in cells.items():
        name, cond = row.split(" | ")
        values = [row_cells[c].format(DIGITS.get(c, 1)) if c in row_cells else "-" for c in COLUMNS]
        lines.append(f"| {name} | {cond} | " + " | ".join(values) + " |")
    lines.append("")
    robust = ROBUST
    hr, x8 = f"{robust} | sharp", f"{robust} | bicubic x8"
    if hr in cells:
        auc = cells[hr]["AU AUC"]
        verdict = ("met" if auc.low >= 0.95 else "met by the point estimate only" if auc.value >= 0.95
                   else f"missed by {0.95 - auc.value:.3f}")
        lines.append(f"- goal: {robust} mean AUC on sharp faces >= 0.95: {auc.format(3)} ({verdict})")
    for item in saved.get("comparisons", []):
        diff = Interval(item["value"], item["low"], item["high"])
        lines.append(f"- {difference_sentence(item['row'], item['other'], item['column'], diff, digits=3)}")
    ceiling = f"{CEILING} | bicubic x8"
    if ceiling in cells and x8 in cells:
        lines.append(f"- information ceiling at x8 (an evaluator trained on x8 inputs alone): AUC "
                     f"{cells[ceiling]['AU AUC'].format(3)}, AP {cells[ceiling]['AU AP'].format(3)}; "
                     f"{robust} at x8: AUC {cells[x8]['AU AUC'].format(3)}, AP {cells[x8]['AU AP'].format(3)}")
    text = "\n".join(lines)
    print("\n" + text)
    if update:
        for path in (ROOT / "README.md", ROOT / "hub_cards" / "au-evaluator-robust" / "README.md"):
            write_section(path, text)
            print(f"updated {path.relative_to(ROOT)}")
    return text


def write_section(path: Path, text: str) -> None:
    start, end = MARKERS
    doc = path.read_text()
    block = f"{start}\n{text.strip()}\n{end}"
    if start in doc and end in doc:
        doc = doc[:doc.index(start)] + block + doc[doc.index(end) + len(end):]
    else:
        doc = doc.rstrip() + "\n\n## AU evaluators on sharp and low-resolution faces\n\n" + block + "\n"
    path.write_text(doc)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--evaluators", nargs="+", default=list(DEFAULT_EVALUATORS))
    parser.add_argument("--factors", nargs="+", type=int, default=[1, 2, 4, 8])
    parser.add_argument("--length", type=int, default=2000, help="test faces (the split has 2000)")
    parser.add_argument("--val-length", type=int, default=1000, help="validation faces for the F1 thresholds")
    parser.add_argument("--resamples", type=int, default=1000)
    parser.add_argument("--json", type=Path, default=Path("benchmarks/results/au_evaluators.json"))
    parser.add_argument("--update", action="store_true", help="write the table into the README and the card")
    parser.add_argument("--from-json", action="store_true", help="report the saved figures, measuring nothing")
    args = parser.parse_args()
    if args.from_json:
        report(json.loads(args.json.read_text()), args.update)
        return
    torch.manual_seed(0)
    result = measure(args)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {args.json}")
    report(result, args.update)


if __name__ == "__main__":
    main()

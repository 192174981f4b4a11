"""MPENet's paper tables (Tables 1-4 of ``004_22aececcdc79dbf1.txt``), measured on the FaceForge-Synth test split.

    python benchmarks/mpenet_tables.py [--runs runs] [--length 2000] [--json benchmarks/results/mpenet_tables.json]
                                       [--update] [--from-json]

Models: the shipped ``mpenet`` and ``mpegan`` (``hub_cards/``) for Tables 1-3, and the ablation variants in
``RUNS/mpenet-{baseline,landmarks,landmarks_aus,full}/model`` for Table 4 and the "Recurrent baseline" row; every
row of Table 4 trains for the same iterations, as the paper's ablation does (``bash train/ablation_mpenet.sh
STEPS`` trains all four into ``runs/ablation-STEPS``; ``bash train/ship_mpenet.sh`` trains them at the shipped
schedule into ``runs/``, where a missing ``mpenet-full`` run means the shipped ``mpenet``). Every face of
the identity-disjoint test split is centre-aligned at 128x128, brought down to 16x16 by MATLAB bicubic and
restored (:func:`faceforge.evaluation.evaluate_super_resolution`). PSNR and SSIM are on the Y channel; AU F1
and accuracy (%) are measured on the restored faces by the shipped AU *evaluator* (a ResNet-10t trained apart
from the AU detector that supervises MPENet), with the HR faces' own AU F1 as the ceiling.

Prints Markdown tables and the issue's goals (MPENet >= 3.5 dB over bicubic, >= 5 AU F1 points over bicubic,
every ablation row no worse than the one before), and writes every number to ``--json``. ``--update`` also
writes the tables into the README and the ``mpenet`` / ``mpegan`` model cards, between the markers
``<!-- mpenet-tables -->`` and ``<!-- /mpenet-tables -->`` (added at the end of a card that has none).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import faceforge
from faceforge.data.synth import SynthFaces
from faceforge.evaluation import evaluate_super_resolution
from faceforge.modeling import ModelLoadError

ABLATION = [("baseline", "baseline"), ("+landmarks", "landmarks"), ("+AUs", "landmarks_aus"),
            ("+AU attention maps (MPENet)", "full")]
COLUMNS = ("PSNR", "SSIM", "AU F1", "AU Acc")


def iterations(model_folder: str) -> int | None:
    """Training iterations of a run's exported model (``train_summary.json`` beside ``model/``), if recorded."""
    summary = Path(model_folder).parent / "train_summary.json"
    return json.loads(summary.read_text()).get("step") if summary.is_file() else None


def fmt(row: dict) -> str:
    cells = [f"{row['PSNR']:.2f}" if "PSNR" in row else "-", f"{row['SSIM']:.4f}" if "SSIM" in row else "-",
             f"{row['AU F1']:.2f}" if "AU F1" in row else "-", f"{row['AU Acc']:.2f}" if "AU Acc" in row else "-"]
    return " | ".join(cells)


def table(title: str, rows: dict[str, dict]) -> str:
    lines = [f"**{title}**", "", "| | PSNR | SSIM | AU F1 | AU Acc |", "|---|---|---|---|---|"]
    lines += [f"| {name} | {fmt(row)} |" for name, row in rows.items()]
    return "\n".join(lines)


MARKERS = ("<!-- mpenet-tables -->", "<!-- /mpenet-tables -->")
ROOT = Path(__file__).resolve().parents[1]


def write_section(path: Path, text: str) -> None:
    """Put ``text`` between the markers of ``path`` (appended with its markers when they are missing)."""
    start, end = MARKERS
    doc = path.read_text()
    block = f"{start}\n{text.strip()}\n{end}"
    if start in doc and end in doc:
        doc = doc[:doc.index(start)] + block + doc[doc.index(end) + len(end):]
    else:
        doc = doc.rstrip() + "\n\n## Paper tables (FaceForge-Synth)\n\n" + block + "\n"
    path.write_text(doc)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=Path, default=Path("runs"), help="folder of the ablation runs")
    parser.add_argument("--length", type=int, default=2000, help="test faces (the split has 2000)")
    parser.add_argument("--batch-size", type=int, default=50)
    parser.add_argument("--au-evaluator", default="au-evaluator")
    parser.add_argument("--json", type=Path, default=Path("benchmarks/results/mpenet_tables.json"))
    parser.add_argument("--update", action="store_true", help="write the tables into the README and the cards")
    parser.add_argument("--from-json", action="store_true", help="report the figures saved in --json, measuring nothing")
    args = parser.parse_args()

    if args.from_json:  # the tables of an earlier measurement, e.g. to --update the README without measuring again
        saved = json.loads(args.json.read_text())
        report(saved["results"], saved["models"], saved["faces"], saved["au_evaluator"], Path(saved.get("runs", "runs")),
               args.update)
        return
    data = SynthFaces("test", length=args.length)
    faces = len(data)
    sources = {"mpenet": "mpenet", "mpegan": "mpegan"}
    sources.update({variant: str(args.runs / f"mpenet-{variant}" / "model") for _, variant in ABLATION})
    results: dict[str, dict] = {}
    for name, source in sources.items():
        try:
            model = faceforge.from_pretrained(source)
        except ModelLoadError as err:
            if name != "full":  # the full variant falls back on the shipped mpenet
                print(f"[{name}] missing ({err}); train it with `bash train/ablation_mpenet.sh STEPS`")
            continue
        start = time.perf_counter()
        results[name] = evaluate_super_resolution(model, data, batch_size=args.batch_size,
                                                  au_evaluator=args.au_evaluator)
        print(f"[{name}] {source}: {faces} faces in {time.perf_counter() - start:.0f} s")
    if "mpenet" not in results:
        raise SystemExit("the shipped mpenet is needed for Tables 1-3")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"faces": faces, "au_evaluator": args.au_evaluator, "runs": str(args.runs),
                                     "models": sources, "results": results}, indent=2) + "\n")
    print(f"wrote {args.json}")
    report(results, sources, faces, args.au_evaluator, args.runs, args.update)


def report(results: dict, sources: dict, faces: int, au_evaluator: str, runs: Path, update: bool) -> None:
    """Print the tables and the goals (and write them into the README and the cards with ``update``)."""
    full = results["mpenet"]["table"]
    last = f"step {max(int(k.split()[1]) for k in full if k.startswith('step'))}"
    steps_of = {name: iterations(sources[name]) for name in results if name not in ("mpenet", "mpegan")}
    main_rows = {"Bicubic": full["bicubic"]}
    if "baseline" in results:
        n = steps_of.get("baseline")
        main_rows[f"Recurrent baseline (no priors{f', {n} iterations' if n else ''})"] = results["baseline"]["table"][last]
    main_rows["MPENet"] = full[last]
    if "mpegan" in results:
        main_rows["MPEGAN"] = results["mpegan"]["table"][last]
    main_rows["HR (AU ceiling)"] = full["HR"]
    steps = {k: v for k, v in full.items() if k.startswith("step")}
    ablation_full = results["full"]["table"] if "full" in results else full  # else the shipped mpenet
    ablation = {label: (ablation_full[last] if variant == "full" else results[variant]["table"][last])
                for label, variant in ABLATION if variant == "full" or variant in results}
    counts = {steps_of.get(v) for _, v in ABLATION if v in results}
    ablation_title = ("Table 4: ablation, every row " + (f"{counts.pop()} iterations" if len(counts) == 1 and None not in counts
                      else "the same iterations") + f" (`{runs}`" +
                      ("; the last row is the shipped mpenet)" if "full" not in results else ")"))

    lines = [f"FaceForge-Synth test split (identity-disjoint), {faces} faces, x8 (16x16 -> 128x128); PSNR / "
             f"SSIM on Y; AU F1 / accuracy (%) by `{au_evaluator}`, a detector trained apart from the AU "
             f"supervisor; landmark error of MPENet's alignment branch "
             f"{results['mpenet']['details'].get('landmark_px', float('nan')):.2f} px (128x128). "
             f"Measured by `python benchmarks/mpenet_tables.py --runs {runs} --length {faces}` on the CPU.", "",
             table("Tables 1-2: image quality and AU restoration", main_rows), "",
             table("Table 3: outputs of the recurrent steps (MPENet)", steps), "",
             table(ablation_title, ablation), ""]
    gain = full[last]["PSNR"] - full["bicubic"]["PSNR"]
    f1_gain = full[last].get("AU F1", float("nan")) - full["bicubic"].get("AU F1", float("nan"))
    lines.append(f"- goal MPENet >= bicubic + 3.5 dB: {gain:+.2f} dB "
                 f"({'met' if gain >= 3.5 else f'missed by {3.5 - gain:.2f} dB'})")
    lines.append(f"- goal MPENet >= bicubic + 5 AU F1 points: {f1_gain:+.2f} "
                 f"({'met' if f1_gain >= 5 else f'missed by {5 - f1_gain:.2f}'})")
    names = list(ablation)
    for before, after in zip(names, names[1:]):
        worse = [c for c in COLUMNS if c in ablation[after] and ablation[after][c] < ablation[before][c]]
        lines.append(f"- ablation {after} vs {before}: " + ("no worse" if not worse else f"worse in {', '.join(worse)}"))
    missing = [label for label, variant in ABLATION if variant not in results and variant != "full"]
    if missing:
        lines.append(f"- ablation rows not trained: {', '.join(missing)}")
    text = "\n".join(lines)
    print("\n" + text)
    if update:
        for path in (ROOT / "README.md", ROOT / "hub_cards" / "mpenet" / "README.md",
                     ROOT / "hub_cards" / "mpegan" / "README.md"):
            write_section(path, text)
            print(f"updated {path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()

"""MPENet's paper tables (Tables 1-4 of Zhang and Liu, IJCB 2022), measured on the FaceForge-Synth test split.

    python benchmarks/mpenet_tables.py [--runs runs] [--baseline runs/mpenet-baseline/model] [--length 2000]
                                       [--json benchmarks/results/mpenet_tables.json] [--only NAME ...]
                                       [--update] [--from-json]

Models: the shipped ``mpenet`` and ``mpegan`` (``hub_cards/``) for Tables 1-3, and the ablation variants in
``RUNS/mpenet-{baseline,landmarks,landmarks_aus,full}/model`` for Table 4; every row of Table 4 trains for the
same iterations, as the paper's ablation does (``bash train/ablation_mpenet.sh STEPS`` trains all four into
``runs/ablation-STEPS``; ``bash train/ship_mpenet.sh`` trains them at the shipped schedule into ``runs/``, where
a missing ``mpenet-full`` run means the shipped ``mpenet``). The "Recurrent baseline" row of Tables 1-2 is
``--baseline`` (or Table 4's baseline), shown only when it trained for as many iterations as the shipped
MPENet. ``--only NAME ...`` measures some models (``mpenet``, ``mpegan``, ``recurrent_baseline`` or a variant)
and keeps the other figures of ``--json``. Every face of
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
import re
import time
from pathlib import Path

import faceforge
from faceforge.data.synth import SynthFaces
from faceforge.evaluation import evaluate_super_resolution
from faceforge.modeling import ModelLoadError

ABLATION = [("baseline", "baseline"), ("+landmarks", "landmarks"), ("+AUs", "landmarks_aus"),
            ("+AU attention maps (MPENet)", "full")]
COLUMNS = ("PSNR", "SSIM", "AU F1", "AU Acc")
DEFAULT_BASELINE = Path("runs/mpenet-baseline/model")


def iterations(model_folder: str) -> int | None:
    """Training iterations of a run's exported model (``train_summary.json`` beside ``model/``), if recorded."""
    summary = Path(model_folder).parent / "train_summary.json"
    return json.loads(summary.read_text()).get("step") if summary.is_file() else None


def shipped_iterations(name: str) -> int | None:
    """Training iterations a shipped model's card records (its ``| iterations | N |`` row)."""
    card = ROOT / "hub_cards" / name / "README.md"
    found = re.search(r"^\| iterations \| (\d+) \|$", card.read_text(), re.M) if card.is_file() else None
    return int(found.group(1)) if found else None


def fmt(row: dict) -> str:
    cells = [f"{row['PSNR']:.2f}" if "PSNR" in row else "-", f"{row['SSIM']:.4f}" if "SSIM" in row else "-",
             f"{row['AU F1']:.2f}" if "AU F1" in row else "-", f"{row['AU Acc']:.2f}" if "AU Acc" in row else "-"]
    return " | ".join(cells)


def table(title: str, rows: dict[str, dict]) -> str:
    lines = [f"**{title}**", "", "| | PSNR | SSIM | AU F1 | AU Acc |", "|---|---|---|---|---|"]
    lines += [f"| {name} | {fmt(row)} |" for name, row in rows.items()]
    return "\n".join(lines)


MARKERS = ("<!-- mpenet-tables -->", "<!-- /mpenet-tables -->")
SYNTH_VERSION = 1  # the renderer the shipped MPENet and MPEGAN were trained on (train/configs/mpenet*.yaml)
ROOT = Path(__file__).resolve().parents[1]


def write_section(path: Path, text: str) -> None:
    """Put ``text`` between the markers of ``path`` (appended with its markers when they are missing)."""
    start, end = MARKERS
    doc = path.read_text()
    block = f"{start}\n{text.strip()}\n{end}"
    if start in doc and end in doc:
        doc = doc[:doc.index(start)] + block + doc[doc.index(end) + len(end):]
    else:
        doc = doc.rstrip() + f"\n\n## Paper tables (FaceForge-Synth v{SYNTH_VERSION})\n\n" + block + "\n"
    path.write_text(doc)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=Path, default=Path("runs"), help="folder of the ablation runs")
    parser.add_argument("--baseline", type=Path, default=DEFAULT_BASELINE,
                        help="a recurrent baseline (variant=baseline) trained as long as the shipped MPENet")
    parser.add_argument("--only", nargs="+", metavar="NAME", help="measure these models, keep the rest of --json")
    parser.add_argument("--length", type=int, default=2000, help="test faces (the split has 2000)")
    parser.add_argument("--batch-size", type=int, default=8, help="faces per forward pass (larger is slower on a CPU)")
    parser.add_argument("--au-evaluator", default="au-evaluator")
    parser.add_argument("--json", type=Path, default=Path("benchmarks/results/mpenet_tables.json"))
    parser.add_argument("--update", action="store_true", help="write the tables into the README and the cards")
    parser.add_argument("--from-json", action="store_true",
                        help="report the figures saved in --json, measuring nothing")
    args = parser.parse_args()

    if args.from_json:  # the tables of an earlier measurement, e.g. to --update the README without measuring again
        saved = json.loads(args.json.read_text())
        report(saved["results"], saved["models"], saved["faces"], saved["au_evaluator"],
               Path(saved.get("runs", "runs")),
               args.update)
        return
    data = SynthFaces("test", length=args.length, version=SYNTH_VERSION)
    faces = len(data)
    sources = {"mpenet": "mpenet", "mpegan": "mpegan", "recurrent_baseline": str(args.baseline)}
    sources.update({variant: str(args.runs / f"mpenet-{variant}" / "model") for _, variant in ABLATION})
    results: dict[str, dict] = {}
    runs = args.runs
    if args.only:
        unknown = set(args.only) - set(sources)
        if unknown:
            raise SystemExit(f"--only: unknown {sorted(unknown)}; choose from {sorted(sources)}")
        saved = json.loads(args.json.read_text())
        if saved["faces"] != faces or saved["au_evaluator"] != args.au_evaluator:
            raise SystemExit(f"--only: {args.json} holds {saved['faces']} faces by {saved['au_evaluator']}; "
                             f"measure with the same --length and --au-evaluator")
        results = {name: saved["results"][name] for name in saved["results"] if name not in args.only}
        sources = {name: (sources[name] if name in args.only else saved["models"].get(name, sources[name]))
                   for name in sources}
        if not {variant for _, variant in ABLATION} & set(args.only):
            runs = Path(saved.get("runs", runs))
    for name, source in sources.items():
        if args.only and name not in args.only:
            continue
        if name == "recurrent_baseline" and Path(source).resolve() == Path(sources["baseline"]).resolve():
            continue  # Table 4's baseline run is this one
        try:
            model = faceforge.from_pretrained(source)
        except ModelLoadError as err:
            if name == "recurrent_baseline":
                print(f"[{name}] missing ({err}); train it with `accelerate launch train/train.py --task mpenet "
                      f"--config train/configs/mpenet_cpu.yaml options.variant=baseline "
                      f"output_dir={Path(source).parent}`")
            elif name != "full":  # the full variant falls back on the shipped mpenet
                print(f"[{name}] missing ({err}); train it with `bash train/ablation_mpenet.sh STEPS`")
            continue
        start = time.perf_counter()
        results[name] = evaluate_super_resolution(model, data, batch_size=args.batch_size,
                                                  au_evaluator=args.au_evaluator)
        results[name]["iterations"] = iterations(source)  # kept in the JSON: runs/ may be gone by --from-json
        print(f"[{name}] {source}: {faces} faces in {time.perf_counter() - start:.0f} s")
    if "mpenet" not in results:
        raise SystemExit("the shipped mpenet is needed for Tables 1-3")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"faces": faces, "au_evaluator": args.au_evaluator, "runs": str(runs),
                                     "models": sources, "results": results}, indent=2) + "\n")
    print(f"wrote {args.json}")
    report(results, sources, faces, args.au_evaluator, runs, args.update)


def report(results: dict, sources: dict, faces: int, au_evaluator: str, runs: Path, update: bool) -> None:
    """Print the tables and the goals (and write them into the README and the cards with ``update``)."""
    full = results["mpenet"]["table"]
    last = f"step {max(int(k.split()[1]) for k in full if k.startswith('step'))}"
    steps_of = {name: results[name].get("iterations") or iterations(sources[name])
                for name in results if name not in ("mpenet", "mpegan")}
    main_rows = {"Bicubic": full["bicubic"]}
    shipped_steps = shipped_iterations("mpenet")
    for name in ("recurrent_baseline", "baseline"):  # a baseline trained as long as MPENet
        if name in results and steps_of.get(name) == shipped_steps:
            main_rows["Recurrent baseline (no priors)"] = results[name]["table"][last]
            break
    main_rows["MPENet"] = full[last]
    if "mpegan" in results:
        main_rows["MPEGAN"] = results["mpegan"]["table"][last]
    main_rows["HR (AU ceiling)"] = full["HR"]
    steps = {k: v for k, v in full.items() if k.startswith("step")}
    ablation_full = results["full"]["table"] if "full" in results else full  # else the shipped mpenet
    ablation = {label: (ablation_full[last] if variant == "full" else results[variant]["table"][last])
                for label, variant in ABLATION if variant == "full" or variant in results}
    counts = {steps_of.get(v) if v in results else shipped_steps for label, v in ABLATION if label in ablation}
    if None in counts:
        trained = "every row trained alike"
    elif len(counts) == 1:
        trained = f"every row {counts.pop()} iterations"
    else:
        trained = f"rows trained for different iterations ({', '.join(map(str, sorted(counts)))})"
    ablation_title = (f"Table 4: ablation, {trained} (`{runs}`" +
                      ("; the last row is the shipped mpenet)" if "full" not in results else ")"))
    command = f"python benchmarks/mpenet_tables.py --runs {runs} --length {faces}"
    if "recurrent_baseline" in results and Path(sources["recurrent_baseline"]) != DEFAULT_BASELINE:
        command += f" --baseline {sources['recurrent_baseline']}"

    note = ("" if "Recurrent baseline (no priors)" in main_rows else
            f" The recurrent baseline without priors is in Table 4 only: neither `--baseline` nor a baseline run "
            f"in `{runs}` trained for the shipped MPENet's {shipped_steps} iterations.")
    lines = [f"FaceForge-Synth renderer {SYNTH_VERSION} test split (identity-disjoint), {faces} faces, x8 "
             f"(16x16 -> 128x128); PSNR / SSIM on Y; AU F1 / accuracy (%) by `{au_evaluator}`, a detector trained "
             f"apart from the AU supervisor; landmark error of MPENet's alignment branch "
             f"{results['mpenet']['details'].get('landmark_px', float('nan')):.2f} px (128x128). "
             f"Measured by `{command}` on the CPU.{note}", "",
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
        verdict = "no worse" if not worse else f"worse in {', '.join(worse)}"
        lines.append(f"- ablation {after} vs {before}: {verdict}")
    below = [label for label in names if ablation[label]["PSNR"] < full["bicubic"]["PSNR"]]
    if below and len(below) == len(names):
        lines.append("- ablation: every variant is still below bicubic in PSNR, too little training to separate "
                     "the priors; train them longer (`bash train/ablation_mpenet.sh 1200`)")
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

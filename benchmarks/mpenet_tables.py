"""MPENet's paper tables (Tables 1-4 of Zhang and Liu, IJCB 2022) on the FaceForge-Synth test split, every figure
with a 95% bootstrap interval and every "A beats B" claim checked on the paired interval of the difference.

    python benchmarks/mpenet_tables.py [--runs runs] [--model NAME=FOLDER ...] [--length 2000] [--val-length 500]
                                       [--au-evaluator au-evaluator-robust] [--sharp-evaluator au-evaluator]
                                       [--resamples 1000] [--json benchmarks/results/mpenet_tables.json]
                                       [--scores RUNS/table_scores] [--only NAME ...] [--update] [--from-json]

Models (a missing one is reported and left out): the shipped ``mpenet`` and ``mpegan``; the recurrent baseline
without priors and the other Table 4 variants in ``RUNS/mpenet-{baseline,landmarks,landmarks_aus,full}/model``
(``bash train/ship_mpenet.sh``; a missing ``mpenet-full`` means the shipped ``mpenet``); the paper's cheaper
comparisons SRCNN and VDSR in ``RUNS/srcnn/model`` and ``RUNS/vdsr/model``, trained on the same faces and
schedule. ``--model NAME=FOLDER`` points any of them elsewhere (e.g. ``mpenet=runs/mpenet-full/model`` before a
run is published). The baseline row of Tables 1-2 is shown only when it trained as long as MPENet.
``--model scaling=FOLDER`` adds an MPENet trained under another weighing of Eq. (13) (``options.loss_norm``,
``options.lambda_au``), compared with the shipped one in a table of its own.

Faces: the identity-disjoint test split of the renderer the shipped MPENet was trained on (``synth_version`` of
``train/configs/mpenet_cpu.yaml``), centre-aligned at 128x128, brought down to 16x16 by MATLAB bicubic (8-bit)
and restored (:func:`faceforge.evaluation.score_super_resolution`). PSNR and SSIM on the Y channel. AU columns:
the robust AU evaluator (``--au-evaluator``, trained apart from the AU supervisor on faces degraded like these)
gives mean ROC-AUC and average precision over the AUs (threshold-free), F1 at 0.5 and at per-AU thresholds chosen
on the first ``--val-length`` validation faces restored by the same model, and accuracy beside the accuracy of
answering "no AU" everywhere; the sharp evaluator (``--sharp-evaluator``, trained on sharp faces only) adds a
stricter AUC / AP pair. Intervals: percentile bootstrap over the test faces (``--resamples``), the same draws for
every model, so rows compare pairwise (``faceforge.metrics.BootstrapTable``).

Each model's per-face scores are kept in ``--scores`` (safetensors, keyed by the weights' digest, the faces and
the evaluators) and reused: ``--only NAME ...`` scores some models and stops, so that several processes can share
the work (one thread each is the fastest use of a small CPU), and the run without it makes the tables.

Prints Markdown tables and the goals of the AU-measurement work (HR AUC >= 0.95; bicubic clearly below HR; MPENet
above bicubic and the baseline in AU AP and AUC with non-overlapping intervals; a third of the bicubic-to-HR AP
gap recovered; PSNR gain >= +1.73 dB; MPENet above SRCNN and VDSR), writes every cell and comparison to ``--json``,
and with ``--update`` writes the tables into the README and the ``mpenet`` / ``mpegan`` cards between the
markers ``<!-- mpenet-tables -->`` and ``<!-- /mpenet-tables -->``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import time
from pathlib import Path

import faceforge
from faceforge.face.aus import FACEFORGE_AUS
from faceforge.metrics.bootstrap import BootstrapTable, Interval, difference_sentence

ROOT = Path(__file__).resolve().parents[1]
MARKERS = ("<!-- mpenet-tables -->", "<!-- /mpenet-tables -->")
ABLATION = [("baseline", "baseline"), ("+landmarks", "landmarks"), ("+AUs", "landmarks_aus"),
            ("+AU attention maps (MPENet)", "full")]
COLUMNS = ("PSNR", "SSIM", "AU AUC", "AU AP", "AU F1", "AU F1 (val thr.)", "AU Acc", "AU AUC (sharp)",
           "AU AP (sharp)")
SHORT_COLUMNS = ("PSNR", "SSIM", "AU AUC", "AU AP")
DIGITS = {"PSNR": 2, "SSIM": 4, "AU AUC": 3, "AU AP": 3, "AU AUC (sharp)": 3, "AU AP (sharp)": 3}
COMPARED = ("PSNR", "SSIM", "AU AUC", "AU AP")
PSNR_GOAL = 1.73  # dB over bicubic: what the renderer-1 MPENet reached
AP_GAP_GOAL = 1 / 3


def synth_version() -> int:
    """The renderer the shipped MPENet was trained on (one place: its CPU config)."""
    import yaml

    return int(yaml.safe_load((ROOT / "train" / "configs" / "mpenet_cpu.yaml").read_text())["synth_version"])


def iterations(model_folder: str) -> int | None:
    """Training iterations of a run's exported model (``train_summary.json`` beside ``model/``), if recorded."""
    summary = Path(model_folder).parent / "train_summary.json"
    return json.loads(summary.read_text()).get("step") if summary.is_file() else None


def shipped_iterations(name: str) -> int | None:
    """Training iterations a shipped model's card records (its ``| iterations | N |`` row)."""
    card = ROOT / "hub_cards" / name / "README.md"
    found = re.search(r"^\| iterations \| (\d+) \|$", card.read_text(), re.M) if card.is_file() else None
    return int(found.group(1)) if found else None


def trained_renderer(source: str) -> int | None:
    """The FaceForge-Synth renderer a model was trained on: its run's ``config.yaml`` (a run's ``model/`` folder)
    or the "FaceForge-Synth vN" of its card (a shipped model); None if neither says."""
    from faceforge.resolve import HUB_CARDS

    folder = Path(source) if Path(source).is_dir() else HUB_CARDS / source
    config = folder.parent / "config.yaml"
    if config.is_file():
        import yaml

        return int(yaml.safe_load(config.read_text()).get("synth_version", 1))
    card = folder / "README.md"
    found = re.search(r"FaceForge-Synth v(\d)", card.read_text()) if card.is_file() else None
    return int(found.group(1)) if found else None


def loss_scaling(source: str) -> str:
    """How Eq. (13) weighed its terms when ``source`` trained ("loss_norm paper, lambda_au 0.01"): from its run's
    ``config.yaml`` or the options row of its card, with the task's defaults for what neither says."""
    from faceforge.resolve import HUB_CARDS
    from faceforge.training.tasks.mpenet import MPENetOptions

    folder = Path(source) if Path(source).is_dir() else HUB_CARDS / source
    config, card = folder.parent / "config.yaml", folder / "README.md"
    options = {}
    if config.is_file():
        import yaml

        options = yaml.safe_load(config.read_text()).get("options") or {}
    elif card.is_file():
        found = re.search(r"^\| options \| (.*) \|$", card.read_text(), re.M)
        options = dict(item.split("=", 1) for item in found.group(1).split(", ") if "=" in item) if found else {}
    defaults = MPENetOptions()
    norm = options.get("loss_norm", defaults.loss_norm)
    return f"loss_norm {norm}, lambda_au {float(options.get('lambda_au', defaults.lambda_au)):g}"


def sources(runs: Path, overrides: list[str]) -> dict[str, str]:
    """Model name -> folder or shipped name (``scaling`` only when ``--model`` names it)."""
    found = {"mpenet": "mpenet", "mpegan": "mpegan", "srcnn": str(runs / "srcnn" / "model"),
             "vdsr": str(runs / "vdsr" / "model")}
    found.update({variant: str(runs / f"mpenet-{variant}" / "model") for _, variant in ABLATION})
    for item in overrides:
        name, sep, folder = item.partition("=")
        if not sep or name not in {*found, "scaling"}:
            raise SystemExit(f"--model takes NAME=FOLDER with NAME one of {sorted({*found, 'scaling'})}, "
                             f"got {item!r}")
        found[name] = folder
    return found


# --- measuring -----------------------------------------------------------------------------------------------------
def weights_digest(source: str) -> str:
    """SHA-256 (first 16 hex digits) of a model folder's or shipped model's ``model.safetensors``."""
    from faceforge.resolve import HUB_CARDS

    weights = (Path(source) if Path(source).is_dir() else HUB_CARDS / source) / "model.safetensors"
    return hashlib.sha256(weights.read_bytes()).hexdigest()[:16] if weights.is_file() else ""


def stored(path: Path, key: dict[str, str], score, evaluator, extras, *, load=None):
    """The scores kept at ``path`` when they were measured with the same ``key`` (model weights, faces,
    evaluators), else ``score()``'s, kept there for the next run: models can be scored by separate processes
    (``--only``) and a stopped measurement resumes. ``load(path)`` reads them back (default:
    ``SuperResolutionScores.load`` with the evaluators)."""
    from faceforge.evaluation import SuperResolutionScores

    if path.is_file():
        from safetensors import safe_open

        with safe_open(str(path), framework="pt") as file:
            kept = file.metadata() or {}
        if all(kept.get(k) == v for k, v in key.items()):
            print(f"  reusing {path}")
            if load is not None:
                return load(path)
            return SuperResolutionScores.load(path, evaluator=evaluator, extra_evaluators=extras)
    scores = score()
    scores.save(path, **key)
    return scores


def measure(args) -> dict:
    """Score every model on the same faces; return the JSON-ready cells and comparisons."""
    from faceforge.data.cache import cached_synth
    from faceforge.evaluation import score_super_resolution
    from faceforge.loading import load_pretrained
    from faceforge.modeling import ModelLoadError
    from faceforge.training.report import cpu_name

    version = synth_version()
    # The same faces as SynthFaces("test" / "val") (8-bit renders), rendered once into the cache: several scoring
    # processes (--only) then share one render instead of each paying 4-8 ms a face.
    test = cached_synth("test", length=args.length, version=version)
    val = cached_synth("val", length=args.val_length, version=version)
    evaluator = load_pretrained(args.au_evaluator).eval()
    extras = {"sharp": load_pretrained(args.sharp_evaluator).eval()} if args.sharp_evaluator else {}
    table = BootstrapTable(len(test), resamples=args.resamples)
    models, steps, details, scalings, digests = {}, {}, {}, {}, {}
    renderers = {name: trained_renderer(name) for name in (args.au_evaluator, args.sharp_evaluator) if name}
    for name, source in sources(args.runs, args.model).items():
        if name == "full" and Path(source).resolve() == Path(sources(args.runs, args.model)["mpenet"]).resolve():
            continue
        if (args.only and name not in args.only) or name in args.carry:
            continue
        try:
            model = faceforge.from_pretrained(source).eval()
        except ModelLoadError as err:
            print(f"[{name}] not measured: {err}")
            continue
        start = time.perf_counter()
        kwargs = {"batch_size": args.batch_size, "num_workers": 0, "device": "cpu"}
        data_aus = tuple(getattr(test, "aus", FACEFORGE_AUS))
        key = {"weights": weights_digest(source), "renderer": str(version), "au_evaluator": args.au_evaluator,
               "sharp_evaluator": args.sharp_evaluator}
        stem = key["weights"] or name  # kept by weights: a run measured as "scaling" is reused as "mpenet"
        scores = stored(args.scores / f"{stem}-test.safetensors", {**key, "faces": str(len(test))},
                        lambda: score_super_resolution(model, test, evaluator, extra_evaluators=extras, **kwargs),
                        evaluator, extras)
        val_scores = stored(args.scores / f"{stem}-val.safetensors", {**key, "faces": str(len(val))},
                            lambda: score_super_resolution(model, val, evaluator, **kwargs), evaluator, {})
        if args.only:  # kept for the run that makes the tables; its bootstrap is that run's work
            models[name] = source
            print(f"[{name}] {source}: {len(test)} + {len(val)} faces in {time.perf_counter() - start:.0f} s")
            continue
        calibration = val_scores.fit_thresholds(data_aus)
        val_cells = val_scores.table(data_aus)[0][val_scores.rows[-1]]
        for row, cells in scores.statistics(data_aus, val_thresholds=calibration).items():
            table.add_row(f"{name}:{row}", cells)
        models[name], digests[name] = source, key["weights"]
        renderers[name] = trained_renderer(source)
        steps[name] = iterations(source) if Path(source).is_dir() else shipped_iterations(source)
        if name in ("mpenet", "scaling"):
            scalings[name] = loss_scaling(source)
        details[name] = {"landmark_px": scores.table(data_aus)[1].get("landmark_px"), "rows": scores.rows,
                         "val": {column: val_cells[column] for column in ("PSNR", "AU AUC", "AU AP")}}
        print(f"[{name}] {source}: {len(test)} + {len(val)} faces in {time.perf_counter() - start:.0f} s; "
              f"validation PSNR {val_cells['PSNR']:.2f} dB, AU AUC {val_cells['AU AUC']:.3f}, "
              f"AU AP {val_cells['AU AP']:.3f}")
    if args.only:
        print(f"scored {', '.join(models) or 'nothing'} into {args.scores}; run without --only for the tables")
        return {}
    if "mpenet" not in models:
        raise SystemExit("the shipped mpenet (or --model mpenet=FOLDER) is needed for Tables 1-3")
    carried = carry(args, models, {"renderer": version, "faces": len(test), "val_faces": len(val),
                                   "resamples": args.resamples, "au_evaluator": args.au_evaluator,
                                   "sharp_evaluator": args.sharp_evaluator})
    for name, kept in carried.items():
        models[name], steps[name], details[name] = kept["source"], kept["iterations"], kept["details"]
        renderers[name] = kept["renderer"]
        if kept["scaling"]:
            scalings[name] = kept["scaling"]
    rows = display_rows(models, steps, details, scalings)
    derived = {}
    main = rows["main"]
    if all(table.has(main[r], "AU AP") for r in ("MPENet", "Bicubic", "HR (AU ceiling)")):
        cells = [(main[r], "AU AP") for r in ("MPENet", "Bicubic", "HR (AU ceiling)")]
        share = table.derived(lambda m, b, h: (m - b) / (h - b), *cells)  # of the bicubic-to-HR AP gap
        derived["ap_gap_share"] = share.as_dict()
    return {"renderer": version, "renderers": renderers, "derived": derived, "faces": len(test),
            "val_faces": len(val), "resamples": args.resamples, "au_evaluator": args.au_evaluator,
            "sharp_evaluator": args.sharp_evaluator, "overrides": list(args.model), "cpu": cpu_name(),
            "runs": str(args.runs), "models": models, "digests": digests,
            "carried": {name: kept["note"] for name, kept in carried.items()},
            "iterations": steps, "scalings": scalings, "details": details, "rows": rows,
            "cells": {**table.as_dict(), **{k: v for kept in carried.values() for k, v in kept["cells"].items()}},
            "comparisons": comparisons(table, rows, carried, models, digests)}


def carry(args, measured: dict, setting: dict) -> dict[str, dict]:
    """The ``--carry`` models' rows as an earlier run of this script saved them in ``--json``: for models whose
    weights are no longer on this disk (a run folder that did not survive), measured on the same faces, resamples
    and evaluators. Their cells keep their intervals; their comparisons are the earlier paired ones where the
    earlier run made them, else the conservative unpaired ones (``compare``)."""
    if not args.carry:
        return {}
    if not args.json.is_file():
        raise SystemExit(f"--carry needs the earlier tables in {args.json}")
    earlier = json.loads(args.json.read_text())
    changed = {k: (earlier.get(k), v) for k, v in setting.items() if earlier.get(k) != v}
    if changed:
        raise SystemExit(f"--carry: {args.json} was measured differently ({changed}); measure every model again")
    out = {}
    for name in args.carry:
        if name in measured:
            raise SystemExit(f"--carry {name}: it was measured in this run too")
        if name not in earlier.get("models", {}):
            raise SystemExit(f"--carry {name}: {args.json} has no {name} rows (it has {sorted(earlier['models'])})")
        digests = earlier.get("digests", {})
        note = earlier.get("carried", {}).get(name) or {
            "source": earlier["models"][name], "cpu": earlier["cpu"], "digest": digests.get(name, ""),
            "against": {other: digests.get(other) or source for other, source in earlier["models"].items()
                        if other != name}}
        out[name] = {"source": earlier["models"][name], "iterations": earlier["iterations"].get(name),
                     "details": earlier["details"][name], "renderer": earlier["renderers"].get(name),
                     "scaling": earlier.get("scalings", {}).get(name),
                     "cells": {k: v for k, v in earlier["cells"].items() if k.startswith(f"{name}:")},
                     "comparisons": earlier["comparisons"], "note": note}
    return out


def last_row(details: dict, name: str) -> str:
    return f"{name}:{details[name]['rows'][-1]}"


def display_rows(models: dict, steps: dict, details: dict,
                 scalings: dict | None = None) -> dict[str, dict[str, str]]:
    """Table name -> {shown row name: cell row key}; ``scalings``: model name -> its loss scaling."""
    main = {"Bicubic": "mpenet:bicubic"}
    for name, label in (("srcnn", "SRCNN"), ("vdsr", "VDSR")):
        if name in models:
            main[label] = last_row(details, name)
    if "baseline" in models and steps.get("baseline") is not None and steps.get("baseline") == steps.get("mpenet"):
        main["Recurrent baseline (no priors)"] = last_row(details, "baseline")
    main["MPENet"] = last_row(details, "mpenet")
    if "mpegan" in models:
        main["MPEGAN"] = last_row(details, "mpegan")
    main["HR (AU ceiling)"] = "mpenet:HR"
    recurrent = {row: f"mpenet:{row}" for row in details["mpenet"]["rows"][1:]}
    ablation = {label: (last_row(details, variant) if variant in models else last_row(details, "mpenet"))
                for label, variant in ABLATION if variant in models or variant == "full"}
    tables = {"main": main, "steps": recurrent, "ablation": ablation}
    if "scaling" in models:
        scalings = scalings or {}
        tables["scaling"] = {f"MPENet ({scalings.get('mpenet', 'shipped')}; shipped)": last_row(details, "mpenet"),
                             f"MPENet ({scalings.get('scaling', 'other scaling')})": last_row(details, "scaling")}
    return tables


def compare(table: BootstrapTable, carried: dict, models: dict, digests: dict, where: str, row: str, other: str,
            a: str, b: str, column: str) -> dict | None:
    """Interval of cell ``a`` minus cell ``b`` (shown as ``row`` and ``other`` of table ``where``): paired over the
    same bootstrap draws when both were measured now; for a carried row, the earlier paired interval (against the
    weights the other model had then: ``same_weights`` says whether they are the ones measured now), else the
    conservative unpaired one, [low(a) - high(b), high(a) - low(b)], which excludes 0 only where the two
    intervals do not overlap."""
    if table.has(a, column) and table.has(b, column):
        return table.compare(a, b, column).as_dict()
    names = {key.split(":")[0] for key in (a, b)}
    for name in names & set(carried):
        for item in carried[name]["comparisons"]:
            if (item["table"], item["row"], item["other"], item["column"]) == (where, row, other, column):
                against = {o: carried[name]["note"]["against"].get(o) for o in names - {name}}
                same = all(o in carried or against[o] in (digests.get(o), models.get(o)) for o in against)
                return {k: item[k] for k in ("value", "low", "high")} | {"earlier": True, "same_weights": same}
    cells = []
    for key in (a, b):
        found = table.as_dict()[key].get(column) if table.has(key, column) else None
        for name in names & set(carried):
            found = found or carried[name]["cells"].get(key, {}).get(column)
        if found is None:
            return None
        cells.append(found)
    x, y = cells
    return {"value": x["value"] - y["value"], "low": x["low"] - y["high"], "high": x["high"] - y["low"],
            "unpaired": True}


def comparisons(table: BootstrapTable, rows: dict, carried: dict | None = None, models: dict | None = None,
                digests: dict | None = None) -> list[dict]:
    """The differences the goals and bullets read: (row, other, column, interval of row - other), paired except
    where a carried row makes that impossible (``compare``)."""
    carried = carried or {}
    main, ablation = rows["main"], rows["ablation"]
    pairs = [("HR (AU ceiling)", "Bicubic"), ("MPENet", "Bicubic")]
    pairs += [("MPENet", other) for other in ("Recurrent baseline (no priors)", "SRCNN", "VDSR") if other in main]
    pairs += [(other, "Bicubic") for other in ("SRCNN", "VDSR") if other in main]  # did the baseline learn?
    if "MPEGAN" in main:
        pairs.append(("MPEGAN", "MPENet"))
    wanted = [("main", a, b, main) for a, b in pairs]
    if "scaling" in rows:
        shipped, other = rows["scaling"]
        wanted.append(("scaling", other, shipped, rows["scaling"]))
    labels = list(ablation)
    wanted += [("ablation", after, before, ablation) for before, after in zip(labels, labels[1:])]
    out = []
    for where, a, b, shown in wanted:
        for column in COMPARED:
            found = compare(table, carried, models or {}, digests or {}, where, a, b, shown[a], shown[b], column)
            if found:
                out.append({"table": where, "row": a, "other": b, "column": column, **found})
    return out


# --- reporting -----------------------------------------------------------------------------------------------------
def cell(saved: dict, key: str, column: str) -> Interval | None:
    found = saved["cells"].get(key, {}).get(column)
    return Interval(found["value"], found["low"], found["high"]) if found else None


def markdown(saved: dict, title: str, rows: dict[str, str], columns: tuple[str, ...]) -> str:
    present = [c for c in columns if any(cell(saved, key, c) for key in rows.values())]
    lines = [f"**{title}**", "", "| | " + " | ".join(present) + " |", "|---|" + "---|" * len(present)]
    for name, key in rows.items():
        values = []
        for column in present:
            found = cell(saved, key, column)
            values.append(found.format(DIGITS.get(column, 1)) if found else "-")
        lines.append(f"| {name} | " + " | ".join(values) + " |")
    return "\n".join(lines)


def difference(saved: dict, row: str, other: str, column: str, table: str = "main") -> Interval | None:
    for item in saved["comparisons"]:
        if (item["table"], item["row"], item["other"], item["column"]) == (table, row, other, column):
            return Interval(item["value"], item["low"], item["high"])
    return None


def sentence(row: str, other: str, column: str, diff: Interval) -> str:
    return difference_sentence(row, other, column, diff, digits=DIGITS.get(column, 2))


def against(goal: float, interval: Interval, digits: int, unit: str = "") -> str:
    """Whether a point goal is met: on the whole interval, by the point estimate only, or missed by how much."""
    if interval.low >= goal:
        return "met"
    if interval.value >= goal:
        return f"met by the point estimate, not by the interval's lower end {interval.low:.{digits}f}{unit}"
    return f"missed by {goal - interval.value:.{digits}f}{unit}"


def goals(saved: dict) -> list[str]:
    main = saved["rows"]["main"]

    def get(row: str, column: str) -> Interval | None:
        return cell(saved, main[row], column) if row in main else None

    lines = []
    hr_auc = get("HR (AU ceiling)", "AU AUC")
    if hr_auc:
        lines.append(f"- goal HR faces mean AU AUC >= 0.95: {hr_auc.format(3)} ({against(0.95, hr_auc, 3)})")
    for column in ("AU AUC", "AU AP"):
        diff = difference(saved, "HR (AU ceiling)", "Bicubic", column)
        if diff:
            verdict = "met" if diff.excludes(0.0) and diff.value > 0 else "not met"
            lines.append(f"- goal bicubic clearly below HR in {column}: HR - bicubic {diff.format(3)} ({verdict})")
    mpenet = get("MPENet", "AU AP")
    for other in ("Bicubic", "Recurrent baseline (no priors)"):
        for column in ("AU AP", "AU AUC"):
            a, b = get("MPENet", column), get(other, column)
            if a and b:
                separate = a.low > b.high
                lines.append(f"- goal MPENet above {other} in {column} with non-overlapping intervals: "
                             f"{a.format(3)} vs {b.format(3)} ({'met' if separate else 'not met'})")
    if "Recurrent baseline (no priors)" not in main:
        lines.append("- goal MPENet above the baseline in AU AP / AUC: not measured (no baseline trained as long "
                     "as MPENet)")
    share = saved.get("derived", {}).get("ap_gap_share")
    if mpenet and share:
        share = Interval(share["value"], share["low"], share["high"])
        lines.append(f"- goal MPENet recovers >= 1/3 of the bicubic-to-HR gap in AU AP: {share.format(2)} "
                     f"({against(AP_GAP_GOAL, share, 2)})")
    gain = difference(saved, "MPENet", "Bicubic", "PSNR")
    if gain:
        lines.append(f"- goal MPENet >= bicubic + {PSNR_GOAL} dB PSNR: {gain.format(2)} dB "
                     f"({against(PSNR_GOAL, gain, 2, ' dB')})")
    for other in ("SRCNN", "VDSR"):
        diff = difference(saved, "MPENet", other, "PSNR")
        if diff:
            met = diff.excludes(0.0) and diff.value > 0
            lines.append(f"- goal MPENet above {other} in PSNR: {diff.format(2)} dB ({'met' if met else 'not met'})")
        else:
            lines.append(f"- goal MPENet above {other}: not measured (no `{saved['runs']}/{other.lower()}/model`)")
    return lines


def scaling_verdict(saved: dict) -> str | None:
    """Whether the shipped loss scaling is the one to ship by the rule "the better AU AUC (robust evaluator) at no
    worse PSNR", read from the paired intervals of the other scaling minus the shipped one."""
    if "scaling" not in saved["rows"]:
        return None
    shipped, other = saved["rows"]["scaling"]
    auc = difference(saved, other, shipped, "AU AUC", "scaling")
    psnr = difference(saved, other, shipped, "PSNR", "scaling")
    higher_auc = auc.excludes(0.0) and auc.value > 0
    lower_psnr = psnr.excludes(0.0) and psnr.value < 0
    rule = "- loss scaling to ship (the better AU AUC at no worse PSNR): "
    val = {name: saved["details"].get(name, {}).get("val") for name in ("mpenet", "scaling")}
    if all(val.values()):
        rule = (f"- loss scaling (chosen on {saved['val_faces']} validation faces: PSNR {val['mpenet']['PSNR']:.2f} "
                f"dB shipped vs {val['scaling']['PSNR']:.2f}, AU AUC {val['mpenet']['AU AUC']:.3f} vs "
                f"{val['scaling']['AU AUC']:.3f}); on the test faces, the one to ship (the better AU AUC at no "
                f"worse PSNR): ")
    if higher_auc and not lower_psnr:
        return rule + f"{other}, not the shipped one (AU AUC {auc.format(3)}, PSNR {psnr.format(2)} dB)"
    reasons = []
    if lower_psnr:
        reasons.append(f"costs {-psnr.value:.2f} dB PSNR {psnr.format(2)}")
    if not higher_auc:
        reasons.append(f"does not raise AU AUC measurably ({auc.format(3)})" if not auc.excludes(0.0)
                       else f"lowers AU AUC ({auc.format(3)})")
    return rule + f"the shipped one; {other} " + " and ".join(reasons)


def report(saved: dict, update: bool) -> str:
    """Print the tables, goals and paired comparisons (and write them into the README and cards)."""
    if "rows" not in saved:
        raise SystemExit("this JSON holds tables of an earlier version of this script (no intervals); measure "
                         "again without --from-json")
    rows, main = saved["rows"], saved["rows"]["main"]
    all_absent = cell(saved, main["HR (AU ceiling)"], "AU Acc, all absent")
    steps = saved["iterations"]
    counts = {steps.get(variant if variant in saved["models"] else "mpenet") for _, variant in ABLATION
              if _ in rows["ablation"]}
    if None in counts:
        trained = "some rows without a recorded iteration count"
    elif len(counts) == 1:
        trained = f"every row {counts.pop()} iterations"
    else:
        trained = f"rows trained for different iterations ({', '.join(map(str, sorted(counts)))})"
    overrides = saved.get("overrides") or []
    model_args = " --model " + " ".join(overrides) if overrides else ""
    model_args += " --carry " + " ".join(saved["carried"]) if saved.get("carried") else ""
    note = ("" if "Recurrent baseline (no priors)" in main else
            " The recurrent baseline without priors is in Table 4 only: no baseline run trained as long as MPENet.")
    lines = [f"FaceForge-Synth renderer {saved['renderer']} test split (identity-disjoint), {saved['faces']} faces, "
             f"x8 (16x16 -> 128x128); PSNR / SSIM on Y. AU columns by `{saved['au_evaluator']}` (trained apart from "
             f"the AU supervisor, on faces degraded like these): mean ROC-AUC and average precision over the 18 AUs, "
             f"F1 (%) at 0.5 and at per-AU thresholds chosen on {saved['val_faces']} validation faces restored by "
             f"the same model, accuracy (%; answering \"no AU\" everywhere scores "
             f"{all_absent.format(1) if all_absent else '-'}); `(sharp)`: AUC / AP by `{saved['sharp_evaluator']}`, "
             f"trained on sharp faces only. Every cell: value [95% bootstrap interval over the test faces, "
             f"{saved['resamples']} resamples]. Landmark error of MPENet's alignment branch "
             f"{saved['details']['mpenet']['landmark_px'] or float('nan'):.2f} px (128x128). Measured by "
             f"`python benchmarks/mpenet_tables.py --runs {saved['runs']} --length {saved['faces']}{model_args}` on "
             f"{saved['cpu']}.{note}", "",
             markdown(saved, "Tables 1-2: image quality and AU restoration", main, COLUMNS), "",
             markdown(saved, "Table 3: outputs of the recurrent steps (MPENet)", rows["steps"], SHORT_COLUMNS), "",
             markdown(saved, f"Table 4: ablation, {trained} (`{saved['runs']}`)", rows["ablation"],
                      SHORT_COLUMNS), ""]
    if "scaling" in rows:
        lines += [markdown(saved, "Loss scaling of Eq. (13), the same schedule and data (`loss_norm`: \"paper\" "
                                  "weighs the squared norms as the paper writes them, \"mean\" makes every term a "
                                  "per-element mean)", rows["scaling"], ("PSNR", "SSIM", "AU AUC", "AU AP",
                                                                        "AU F1 (val thr.)")), ""]
    lines += goals(saved)
    verdict = scaling_verdict(saved)
    if verdict:
        lines.append(verdict)
    for item in saved["comparisons"]:
        if item["table"] in ("ablation", "scaling") or item["row"] in ("MPEGAN", "SRCNN", "VDSR"):
            diff = Interval(item["value"], item["low"], item["high"])
            prefix = {"ablation": "ablation ", "scaling": "loss scaling: "}.get(item["table"], "")
            how = (" (unpaired: the two rows' intervals, one of them carried)" if item.get("unpaired") else
                   " (paired, from the carried row's measurement)" if item.get("same_weights") else
                   " (paired, from the carried row's measurement against the other row's weights of then)"
                   if item.get("earlier") else "")
            lines.append(f"- {prefix}{sentence(item['row'], item['other'], item['column'], diff)}{how}")
    other_data = {name: r for name, r in saved.get("renderers", {}).items() if r not in (None, saved["renderer"])}
    if other_data:
        lines.append("- measured out of its training data (another renderer): " + ", ".join(
            f"{name} (renderer {r})" for name, r in other_data.items()))
    for name, note in saved.get("carried", {}).items():
        against = ", ".join(f"{other} `{what}`" for other, what in note["against"].items())
        lines.append(f"- {name} rows carried from an earlier measurement of `{note['source']}` (on {note['cpu']}; "
                     f"same faces, resamples and evaluators, beside {against}; its weights are not on the disk of "
                     f"this run)")
    missing = [label for label, variant in ABLATION if label not in rows["ablation"]]
    if missing:
        lines.append(f"- ablation rows not trained: {', '.join(missing)}")
    text = "\n".join(lines)
    print("\n" + text)
    if update:
        for path in (ROOT / "README.md", ROOT / "hub_cards" / "mpenet" / "README.md",
                     ROOT / "hub_cards" / "mpegan" / "README.md"):
            write_section(path, text, saved["renderer"])
            print(f"updated {path.relative_to(ROOT)}")
    return text


def write_section(path: Path, text: str, renderer: int, *, markers: tuple[str, str] = MARKERS,
                  title: str = "Paper tables") -> None:
    """Put ``text`` between the ``markers`` of ``path`` (appended under a ``title`` heading, with its markers, when
    they are missing; a missing file is created)."""
    start, end = markers
    doc = path.read_text() if path.is_file() else ""
    block = f"{start}\n{text.strip()}\n{end}"
    if start in doc and end in doc:
        doc = doc[:doc.index(start)] + block + doc[doc.index(end) + len(end):]
    else:
        doc = doc.rstrip() + f"\n\n## {title} (FaceForge-Synth v{renderer})\n\n" + block + "\n"
    path.write_text(doc)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=Path, default=Path("runs"), help="folder of the ablation and baseline runs")
    parser.add_argument("--model", nargs="+", default=[], metavar="NAME=FOLDER", help="measure NAME from FOLDER")
    parser.add_argument("--length", type=int, default=2000, help="test faces (the split has 2000)")
    parser.add_argument("--val-length", type=int, default=500, help="validation faces for the F1 thresholds")
    parser.add_argument("--batch-size", type=int, default=8, help="faces per forward pass (larger is slower on a CPU)")
    parser.add_argument("--au-evaluator", default="au-evaluator-robust")
    parser.add_argument("--sharp-evaluator", default="au-evaluator", help="'' leaves the sharp columns out")
    parser.add_argument("--resamples", type=int, default=1000)
    parser.add_argument("--json", type=Path, default=Path("benchmarks/results/mpenet_tables.json"))
    parser.add_argument("--scores", type=Path, default=None,
                        help="where each model's per-face scores are kept and reused (default RUNS/table_scores)")
    parser.add_argument("--only", nargs="+", default=[], metavar="NAME",
                        help="score only these models into --scores (run several processes at once), no tables")
    parser.add_argument("--carry", nargs="+", default=[], metavar="NAME",
                        help="keep these models' rows from the earlier --json instead of measuring them (for runs "
                             "whose weights are gone; the same faces, resamples and evaluators)")
    parser.add_argument("--update", action="store_true", help="write the tables into the README and the cards")
    parser.add_argument("--from-json", action="store_true", help="report the figures saved in --json")
    args = parser.parse_args()
    if args.from_json:
        report(json.loads(args.json.read_text()), args.update)
        return
    args.scores = args.scores or args.runs / "table_scores"
    saved = measure(args)
    if not saved:  # --only: scores kept, no tables
        return
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(saved, indent=1) + "\n")
    print(f"wrote {args.json}")
    report(saved, args.update)


if __name__ == "__main__":
    main()

"""``faceforge eval``: a model's paper-style table on a dataset split, printed and written as JSON."""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("eval", help="evaluate a model on a dataset split (paper-style table + JSON)")
    p.add_argument("--model", required=True,
                   help="model folder, Hub repo id, or a shipped name (au-detector, au-evaluator, ...)")
    p.add_argument("--dataset", default="synth", help="synth, synth-peak, synth-weak, or a prepared dataset name")
    p.add_argument("--root", default=None, help="prepared dataset folder (real datasets)")
    p.add_argument("--synth-version", type=int, choices=(1, 2), default=None,
                   help="FaceForge-Synth renderer of the synthetic sets: 2 (shaded 3-D, the default) or 1 (2-D, what "
                        "the shipped MPENet and MPEGAN were trained on)")
    p.add_argument("--split", default="test")
    p.add_argument("--length", type=int, default=None, help="number of synthetic samples (default: the split's)")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--workers", type=int, default=0)
    p.add_argument("--device", default="cpu")
    p.add_argument("--au-evaluator", default=None,
                   help="AU network that scores restored faces (default: the shipped au-evaluator-robust; "
                        "'none': skip)")
    p.add_argument("--resamples", type=int, default=0,
                   help="bootstrap resamples of the test faces: print every cell with its 95%% interval "
                        "(models whose outputs are faces)")
    p.add_argument("--out", type=Path, default=None, help="JSON file to write (default: eval-<dataset>-<split>.json)")
    p.set_defaults(func=run)


def _clean(value):
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    return value


def run(args: argparse.Namespace) -> int:
    import faceforge
    from faceforge.errors import FaceForgeError
    from faceforge.evaluation import (
        SYNTH_SETS,
        build_eval_dataset,
        evaluate,
        evaluator_takes_au_evaluator,
        evaluator_takes_resamples,
    )
    from faceforge.metrics.classification import format_table

    model = faceforge.from_pretrained(args.model)
    if args.synth_version is not None and args.dataset not in SYNTH_SETS:
        raise FaceForgeError(f"--synth-version applies to the synthetic sets ({', '.join(SYNTH_SETS)}), not "
                             f"{args.dataset}")
    dataset = build_eval_dataset(args.dataset, split=args.split, root=args.root, length=args.length,
                                 synth_version=args.synth_version)
    kwargs = {}
    if args.au_evaluator is not None:
        if not evaluator_takes_au_evaluator(model.config.model_type):
            raise FaceForgeError(f"--au-evaluator applies to models whose outputs are faces (mpenet ...), not "
                                 f"{model.config.model_type}")
        kwargs["au_evaluator"] = None if args.au_evaluator.lower() == "none" else args.au_evaluator
    if args.resamples:
        if args.resamples < 0 or not evaluator_takes_resamples(model.config.model_type):
            raise FaceForgeError(f"--resamples takes a positive count and applies to models whose outputs are "
                                 f"faces (mpenet ...), not {model.config.model_type}")
        kwargs["resamples"] = args.resamples
    result = evaluate(model, dataset, batch_size=args.batch_size, num_workers=args.workers, device=args.device,
                      **kwargs)
    percent, digits = result.pop("percent", True), result.pop("digits", 2)
    renderer = f" (renderer {dataset.version})" if args.dataset in SYNTH_SETS else ""
    print(f"{model.config.model_type} {args.model} on {args.dataset}{renderer}/{args.split} "
          f"({result['details']['samples']} samples){', %' if percent else ''}:")
    print(format_table(result["table"], percent=percent, digits=digits, corner=args.dataset))
    boot = result.pop("bootstrap", None)
    if boot is not None:
        print(f"95% bootstrap intervals over the {boot.n} faces ({len(boot.draws)} resamples):")
        for row, cells in boot.rows().items():
            places = digits if isinstance(digits, dict) else {}
            print(f"  {row}: " + "; ".join(f"{column} {cell.format(places.get(column, 2))}"
                                           for column, cell in cells.items()))
    out = args.out or Path(f"eval-{args.dataset}-{args.split}.json")
    payload = {"model": str(args.model), "model_type": model.config.model_type, "dataset": args.dataset,
               "split": args.split, **result}
    if args.dataset in SYNTH_SETS:
        payload["synth_version"] = dataset.version
    out.write_text(json.dumps(_clean(payload), indent=2) + "\n")
    print(f"wrote {out}")
    return 0

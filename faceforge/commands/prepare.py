"""``faceforge prepare NAME --root RAW --out DIR``: align a real dataset's faces and cache them."""

from __future__ import annotations

import argparse
import logging
import sys
from typing import Any

# Dataset-specific flags: (flag, dest, argparse keywords, datasets that take it).
_DATASET_FLAGS: tuple[tuple[str, str, dict[str, Any], str], ...] = (
    (
        "--realign",
        "realign",
        {
            "action": "store_true",
            "default": None,
            "help": "find and align faces with dlib instead of resizing RAF-DB's aligned crops",
        },
        "rafdb",
    ),
    (
        "--camera",
        "camera",
        {"help": "DISFA camera: left (default) or right; RaFD camera angle: 90 (default)"},
        "disfa, rafd",
    ),
    (
        "--frame-base",
        "frame_base",
        {
            "type": int,
            "choices": (0, 1),
            "help": "number of the first extracted frame file (default 1, as the labels)",
        },
        "disfa",
    ),
    ("--illumination", "illumination", {"help": "strong (= normal, default), weak or dark"}, "oulu"),
    (
        "--openface",
        "openface",
        {
            "metavar": "PATH",
            "help": "OpenFace output (folder of per-image CSVs, or one CSV) for AU intensities",
        },
        "rafd, folder",
    ),
    ("--labels", "labels", {"metavar": "CSV", "help": "the labels CSV (default RAW/labels.csv)"}, "folder"),
    (
        "--aligned",
        "aligned",
        {
            "action": "store_true",
            "default": None,
            "help": "the images are already aligned faces: resize only",
        },
        "folder",
    ),
)


DATASET_NAMES: tuple[str, ...] = ("bp4d", "disfa", "rafdb", "ckplus", "oulu", "rafd", "folder")
"""The names of ``faceforge.data.datasets.DATASETS`` (listed here: the CLI starts without importing torch)."""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "prepare",
        help="align a real dataset's faces onto faceforge's template and cache them",
        description=(
            "Align every face of a raw dataset onto faceforge's canonical template and cache the crops and "
            "labels in --out, for faceforge.data.datasets.build_dataset(NAME, root=OUT). Resumable: run the "
            "same command again after an interruption and it continues where it stopped."
        ),
        epilog="Each dataset's raw layout, labels and splits: faceforge/data/datasets/<NAME>.py.",
    )
    parser.add_argument(
        "name", choices=DATASET_NAMES, metavar="NAME", help="dataset: " + ", ".join(DATASET_NAMES)
    )
    parser.add_argument("--root", required=True, help="the raw dataset folder")
    parser.add_argument("--out", required=True, help="the cache folder to write (or resume)")
    parser.add_argument(
        "--size", type=int, default=128, help="side of the aligned face in pixels (default 128)"
    )
    parser.add_argument("--margin", type=int, default=0, help="extra border pixels on every side (default 0)")
    parser.add_argument(
        "--landmarks",
        metavar="DIR",
        help="folder of 68-point landmark files mirroring RAW (DIR/<image path>.txt), used before dlib",
    )
    parser.add_argument(
        "--workers", type=int, default=0, help="processes aligning faces (default 0: this one)"
    )
    parser.add_argument("--shard-size", type=int, default=1024, help="faces per cache shard (default 1024)")
    parser.add_argument("--retry-skipped", action="store_true", help="retry the items an earlier run skipped")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    group = parser.add_argument_group("dataset options")
    for flag, dest, kwargs, datasets in _DATASET_FLAGS:
        kwargs = dict(kwargs)
        kwargs["help"] = f"[{datasets}] {kwargs['help']}"
        group.add_argument(flag, dest=dest, **kwargs)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from faceforge.data.datasets import prepare_dataset

    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.WARNING, format="%(name)s: %(message)s")
    options = {
        dest: getattr(args, dest) for _, dest, _, _ in _DATASET_FLAGS if getattr(args, dest) is not None
    }
    try:
        report = prepare_dataset(
            args.name,
            args.root,
            args.out,
            size=args.size,
            margin=args.margin,
            landmarks=args.landmarks,
            workers=args.workers,
            shard_size=args.shard_size,
            retry_skipped=args.retry_skipped,
            progress=not args.quiet,
            options=options,
        )
    except ValueError as err:  # an option that does not apply to this dataset, a bad value
        print(f"faceforge prepare: error: {err}", file=sys.stderr)
        return 2
    print(report.summary(args.name))
    return 0

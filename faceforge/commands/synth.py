"""``faceforge synth``: look at the synthetic face set."""

from __future__ import annotations

import argparse
from pathlib import Path

COMPARE_POSES = ((0.0, 0.0, 0.0), (-12.0, 4.0, -3.0), (10.0, -6.0, 4.0), (0.0, 8.0, 0.0))


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("synth", help="render FaceForge-Synth faces (contact sheet)",
                              description="Render a contact sheet of FaceForge-Synth faces: rows of the eight "
                                          "expressions x columns of identities.")
    p.add_argument("--grid", type=Path, required=True, metavar="OUT.png", help="where to write the contact sheet")
    p.add_argument("--identities", type=int, default=6, help="number of identities (columns)")
    p.add_argument("--size", type=int, default=128, help="face size in pixels")
    p.add_argument("--intensity", type=float, default=1.0, help="expression intensity in [0, 1]")
    p.add_argument("--split", default="test", choices=("train", "val", "test"), help="identities from this split")
    p.add_argument("--seed", type=int, default=0, help="face-set seed")
    p.add_argument("--version", type=int, default=None, choices=(1, 2),
                   help="renderer: 2 = shaded 3-D faces with skin texture and a camera (the default), "
                        "1 = the first renderer, 2-D polygons")
    p.add_argument("--compare", action="store_true",
                   help="instead: renderer 1 and 2 side by side (rows of test identities, a v1 | v2 pair per "
                        "expression, some heads turned)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from faceforge.data.synth.faces import check_version
    from faceforge.data.synth.sheet import comparison_sheet, contact_sheet

    if args.identities < 1:
        raise SystemExit("faceforge synth: error: --identities must be >= 1")
    if not 0 <= args.intensity <= 1:
        raise SystemExit("faceforge synth: error: --intensity must be in [0, 1]")
    if args.compare:
        sheet = comparison_sheet(size=args.size, seed=args.seed, poses=COMPARE_POSES)
    else:
        sheet = contact_sheet(identities=args.identities, size=args.size, intensity=args.intensity,
                              split=args.split, seed=args.seed, version=check_version(args.version))
    args.grid.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(args.grid)
    print(f"wrote {args.grid} ({sheet.width}x{sheet.height})")
    return 0

"""``faceforge magnify``: every face of a photo or a video magnified from its weak expression towards its peak and
recognised, with GroupGAN (:mod:`faceforge.magnification`).

INPUT is a photo, or a video (by its suffix: .mp4, .mov, .avi, .mkv, .webm, .m4v, .mpg; every frame, faces tracked
by position). The folder ``--out`` receives:

* ``magnified.png`` (photo) or ``magnified.mp4`` (video, H.264): the input with every magnified face pasted back;
* for a photo, ``face_<i>.png`` per face (0: the largest): the face as the model saw it, its magnification and the
  heat map of the change (Eq. (22) of the paper), side by side;
* ``magnify.json``: the model, the input and per face (per frame for a video, with its track) its box, the
  expression probabilities before and after magnification, the expressions read and the mean change::

    {"model": "groupgan", "input": "face.jpg", "photo_size": [640, 480],
     "faces": [{"box": [x0, y0, x1, y1], "expression_before": "neutral", "expression_after": "happiness",
                "before": {"neutral": 0.41, ...}, "after": {...}, "change": 0.0031}]}
    {"model": "groupgan", "input": "clip.mp4", "fps": 25.0, "frame_count": 120, "truncated": false,
     "frames": [{"frame": 0, "faces": [{"track": 0, "box": [...], ...}]}, ...]}

An input that cannot be read, a video longer than ``--max-frames`` or no face anywhere is reported and nothing is
written; the exit code is then 1. A model that is not a GroupGAN or an output folder that cannot be written stop the
command with exit code 2 before the input is read.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from faceforge.modeling import FaceForgeModel

DEFAULT_MAX_FRAMES = 300  # faceforge.face.video.DEFAULT_MAX_FRAMES (not imported here: the parser stays cheap)


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}")
    return value


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "magnify",
        help="magnify weak expressions in a photo or a video and recognise them (GroupGAN)",
        description="Find every face (in every frame of a video), magnify its expression towards the peak, paste it "
                    "back and recognise it; write the result, per-face pictures with heat maps (photos) and a JSON "
                    "of the expression probabilities before and after.",
    )
    p.add_argument("input", type=Path, metavar="INPUT", help="a photo, or a video (.mp4, .mov, .avi, .mkv, .webm, ...)")
    p.add_argument("--out", type=Path, required=True, metavar="DIR", help="folder for the results")
    p.add_argument("--model", default="groupgan", help="shipped name (groupgan), folder or Hub id of a GroupGAN")
    p.add_argument("--aligned", action="store_true", help="the photo is an aligned face crop: no detection")
    p.add_argument("--max-faces", type=_positive, default=None, metavar="N", help="magnify only the N largest faces")
    p.add_argument("--max-frames", type=_positive, default=DEFAULT_MAX_FRAMES, metavar="N",
                   help=f"the longest video accepted, in frames (default {DEFAULT_MAX_FRAMES})")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import numpy as np
    from PIL import Image

    from faceforge.commands._paths import output_folder, photo_message, write_json
    from faceforge.errors import FaceForgeError
    from faceforge.face.video import is_video
    from faceforge.magnification import magnify_photo, magnify_video

    model = magnifying_model(args.model)
    out = output_folder(args.out)
    video = is_video(args.input) and not args.aligned
    try:
        if video:
            result = magnify_video(args.input, model, out=out / "magnified.mp4", max_frames=args.max_frames,
                                   max_faces=args.max_faces)
        else:
            result = magnify_photo(args.input, model, aligned=args.aligned, max_faces=args.max_faces)
    except FaceForgeError as err:
        print(f"faceforge magnify: error: {photo_message(args.input, err)}", file=sys.stderr)
        return 1
    report = {"model": args.model, "input": str(args.input), **result.to_dict()}
    if video:
        write_json(out / "magnify.json", report)
        faces = sum(len(fs) for fs in result.faces)
        print(f"{args.input}: {faces} face(s) magnified in {len(result.faces)} frames -> {out}")
        return 0
    Image.fromarray(result.photo).save(out / "magnified.png")
    for i, face in enumerate(result.faces):
        Image.fromarray(np.concatenate([face.weak, face.magnified, face.heat_picture()], 1)).save(out / f"face_{i}.png")
    write_json(out / "magnify.json", report)
    summary = ", ".join(f"{f.expression_before} -> {f.expression_after}" for f in result.faces)
    print(f"{args.input}: {len(result.faces)} face(s) magnified ({summary}) -> {out}")
    return 0


def magnifying_model(name: str) -> FaceForgeModel:
    """The :class:`~faceforge.models.groupgan.GroupGAN` a shipped name, folder or Hub id holds.

    Raises:
        ModelLoadError: it cannot be loaded, or it holds another kind of model.
    """
    import faceforge
    from faceforge.errors import ModelLoadError
    from faceforge.models.groupgan import GroupGAN

    model = faceforge.from_pretrained(name)
    if isinstance(model, GroupGAN):
        return model.eval()
    raise ModelLoadError(f"{name} is not an expression magnifier (model_type {model.config.model_type!r}); faceforge "
                         f"magnify takes groupgan, or a folder or Hub repo holding a 'groupgan' model")

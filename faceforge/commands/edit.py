"""``faceforge edit``: every face of a photo edited to a target expression or target AU intensities with Cascade
EF-GAN (:func:`faceforge.pipelines.edit_photo`).

The target is an expression (``--expression surprise``, at ``--intensity`` 0-1, default 1) or AU intensities on the
FACS scale 0-5 (``--aus 12:4,6:3``; the AUs not given keep the face's own, as the AU detector estimates them). The
folder ``--out`` receives:

* ``edited.png``: the photo with every edited face pasted back (the edited crop with ``--aligned``);
* ``face_<i>_stages.png`` per face (0: the largest): the aligned input and each stage's edit, side by side;
* ``face_<i>_attention.png`` per face: a row per stage, its edit, then where its global branch repaints the face
  (its attention map M_A) and where its eye, nose and mouth branches do, as heat maps (black: kept; no local map
  for an EF-GAN without local branches);
* ``face_<i>.gif`` per face: the continuous edit, the face edited to its own AUs moved step by step to the target
  (``--frames``, default 8; 0: none);
* ``edit.json``: the model, the photo, the target and per face its box and its own, the target and each stage's AUs
  (FACS intensity / 5, in [0, 1])::

    {"model": "cascade-efgan", "photo": "photo.jpg", "target": {"expression": "surprise", "intensity": 1.0},
     "photo_size": [640, 480], "faces": [{"box": [x0, y0, x1, y1], "score": 1.2, "stages": 3, "frames": 8,
                                          "source_aus": {"AU1 Inner brow raiser": 0.05, ...}, "target_aus": {...},
                                          "stage_aus": [{...}, {...}, {...}]}, ...]}

A photo that cannot be read or has no face is reported and nothing is written; the exit code is then 1. Both or
neither of ``--expression`` and ``--aus``, an unknown expression or AU, an intensity out of range, a model that is not
an expression editor or an output folder that cannot be written stop the command with exit code 2 before the photo
is read.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from faceforge.modeling import FaceForgeModel

DEFAULT_FRAMES = 8  # faceforge.pipelines.DEFAULT_EDIT_FRAMES (not imported here: the parser stays cheap)
MAX_FRAMES = 64  # faceforge.pipelines.MAX_EDIT_FRAMES


def _argument(parse):
    """An argparse ``type`` that turns faceforge's EditTargetError into argparse's error (exit code 2)."""
    def convert(text: str):
        from faceforge.errors import EditTargetError

        try:
            return parse(text)
        except EditTargetError as err:
            raise argparse.ArgumentTypeError(str(err)) from None
    return convert


def _expression(text: str) -> str:
    from faceforge.pipelines import EditTarget

    return EditTarget(expression=text).expression


def _aus(text: str) -> dict[int, float]:
    from faceforge.pipelines import parse_au_intensities

    return parse_au_intensities(text)


def _fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number from 0 to 1, got {text!r}") from None
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"the expression intensity must be from 0 to 1, got {text!r}")
    return value


def _frames(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number from 0 to {MAX_FRAMES}, got {text!r}") from None
    if not 0 <= value <= MAX_FRAMES:
        raise argparse.ArgumentTypeError(f"frames must be from 0 to {MAX_FRAMES}, got {text!r}")
    return value


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "edit",
        help="edit the expression of every face in a photo (Cascade EF-GAN)",
        description="Find every face, edit it to a target expression or target AU intensities and paste it back; "
                    "write the photo, each face's stages, attention maps and continuous edit (a GIF), and a JSON "
                    "summary.",
    )
    p.add_argument("photo", type=Path, metavar="PHOTO", help="a photo (or an aligned crop with --aligned)")
    p.add_argument("--out", type=Path, required=True, metavar="DIR", help="folder for the results")
    target = p.add_mutually_exclusive_group(required=True)
    target.add_argument("--expression", type=_argument(_expression), metavar="NAME",
                        help="the target expression: neutral, anger, disgust, fear, happiness, sadness, surprise or "
                             "contempt")
    target.add_argument("--aus", type=_argument(_aus), metavar="AU:I,...",
                        help="target AU intensities on the FACS scale 0-5, e.g. 12:4,6:3 (the other AUs keep the "
                             "face's own)")
    p.add_argument("--intensity", type=_fraction, default=None, metavar="0-1",
                   help="the expression's intensity (with --expression; default 1, its peak)")
    p.add_argument("--model", default="cascade-efgan", help="shipped name (cascade-efgan), folder or Hub id of an "
                                                            "EF-GAN or Cascade EF-GAN")
    p.add_argument("--au-model", default=None, metavar="ID",
                   help="the AU detector that estimates each face's own AUs (default: the app's, au-detector)")
    p.add_argument("--frames", type=_frames, default=DEFAULT_FRAMES, metavar="N",
                   help=f"frames of the continuous edit per face (0-{MAX_FRAMES}, default {DEFAULT_FRAMES}; 0: no GIF)")
    p.add_argument("--aligned", action="store_true", help="the input is an aligned face crop: no detection")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:

    from PIL import Image

    from faceforge.commands._paths import output_folder, photo_message, write_json
    from faceforge.errors import EditTargetError, FaceForgeError, ModelLoadError
    from faceforge.loading import load_pretrained
    from faceforge.models.au_detector import AUDetector
    from faceforge.pipelines import EditTarget, edit_photo, write_animation
    from faceforge.registry import default_model

    if args.aus is not None and args.intensity is not None:
        raise EditTargetError("--intensity goes with --expression; give AU intensities in --aus (FACS 0-5)")
    if args.aus is not None:
        target = EditTarget(aus=args.aus)
    else:
        target = EditTarget(expression=args.expression, intensity=1.0 if args.intensity is None else args.intensity)
    model = editing_model(args.model)
    target.vector(model.config.aus)  # an AU the editor does not take
    au_name = args.au_model or default_model("app.au")
    au_model = load_pretrained(au_name)
    if not isinstance(au_model, AUDetector):
        raise ModelLoadError(f"--au-model {au_name} is not an AU detector (model_type "
                             f"{au_model.config.model_type!r}); give {default_model('app.au')} or a folder or Hub repo "
                             f"holding an 'au_detector' model")
    out = output_folder(args.out)
    try:
        result = edit_photo(args.photo, model, target, frames=args.frames, aligned=args.aligned,
                            au_detector=au_model)
    except FaceForgeError as err:
        print(f"faceforge edit: error: {photo_message(args.photo, err)}", file=sys.stderr)
        return 1
    Image.fromarray(result.photo).save(out / "edited.png")
    for i, face in enumerate(result.faces):
        Image.fromarray(face.strip).save(out / f"face_{i}_stages.png")
        Image.fromarray(face.attention_picture).save(out / f"face_{i}_attention.png")
        if face.frames:
            write_animation(face.frames, out / f"face_{i}.gif")
    report = {"model": args.model, "photo": str(args.photo), **result.to_dict()}
    write_json(out / "edit.json", report)
    print(f"{args.photo}: {len(result.faces)} face(s) edited to {target.describe()} -> {out}")
    return 0


def editing_model(name: str) -> FaceForgeModel:
    """The expression editor (:class:`~faceforge.models.efgan.CascadeEFGAN` or :class:`~faceforge.models.efgan.EFGAN`)
    a shipped name, folder or Hub id holds.

    Raises:
        ModelLoadError: it cannot be loaded, or it holds another kind of model (the message names the models that
            edit).
    """
    import faceforge
    from faceforge.errors import ModelLoadError
    from faceforge.models.efgan import EFGAN, CascadeEFGAN
    from faceforge.registry import default_model, family_of

    model = faceforge.from_pretrained(name)
    if isinstance(model, CascadeEFGAN | EFGAN):
        return model
    model_type = model.config.model_type
    try:
        family = f" of the {family_of(model_type).name} family"
    except KeyError:
        family = ""
    kinds = " or ".join(repr(cls.config_class.model_type_default()) for cls in (CascadeEFGAN, EFGAN))
    raise ModelLoadError(f"{name} is not an expression editor (model_type {model_type!r}{family}); faceforge edit "
                         f"takes {default_model('app.editor')}, or a folder or Hub repo holding a {kinds} model")

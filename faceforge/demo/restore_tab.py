"""The Restoration tab: x8 face super-resolution of every face in a photo with MPENet, MPEGAN or IGCN, optionally of
faces with part of their input occluded (a random square, a rectangle, or a region painted over the aligned face).
IGCN's restoration is shown beside its SRGAN baseline's (IGCN 1x1 alone) on the very same input.

All the work is :func:`faceforge.pipelines.restore_photo`; this module turns its result into components.
"""

from __future__ import annotations

from pathlib import Path

import gradio as gr
import numpy as np
import pandas as pd

from faceforge.data.synth.sheet import draw_landmarks
from faceforge.demo.examples import example_path
from faceforge.demo.files import cache_file, pixelated, png_in_cache, write_png
from faceforge.demo.inputs import boolean, choice, drawn_mask, number, public_message, uploaded_file
from faceforge.demo.models import get_model, model_id, read_face
from faceforge.errors import FaceForgeError
from faceforge.face.aus import au_label
from faceforge.pipelines import FaceRestoration, PhotoRestoration, restore_input, restore_photo

MODELS = [("MPENet (PSNR-oriented)", "mpenet"), ("MPEGAN (perceptual: + perceptual and adversarial losses)", "mpegan"),
          ("IGCN (occluded faces: graph convolutions over face patches)", "igcn")]
# the app role of the baseline each model is shown beside, on the same input
BASELINES = {"igcn": ("igcn_baseline", "SRGAN baseline (IGCN 1x1 alone), same input")}
MODES = [("Treat as low-resolution: degrade each face to 16x16 first (the papers' protocol)", "degrade"),
         ("Restore as given: the faces are already small; enlarge the photo", "as_given")]
OCCLUSIONS = [("None", "none"),
              ("Random square: a quarter of the 16x16 input, as IGCN is trained (one per face)", "random"),
              ("Rectangle x, y, w, h on the aligned 128x128 face", "rectangle"),
              ("Painted: the region drawn over the aligned face below", "drawn")]
AU_COLUMNS = ["AU", "MPENet AU branch (step 2)", "AU detector: restored", "AU detector: model input (bicubic)"]


def _au_views(result, detector_restored: dict[str, float], detector_input: dict[str, float]):
    branch = {au_label(au): p for au, p in (result.au_probability or {}).items()}
    labels = list(branch) or list(detector_restored)
    plot = pd.DataFrame({"AU": labels, "probability": [branch.get(a, detector_restored.get(a, 0.0)) for a in labels]})
    rows = [[a, round(branch[a], 3) if a in branch else None, round(detector_restored.get(a, float("nan")), 3),
             round(detector_input.get(a, float("nan")), 3)] for a in labels]
    return plot, pd.DataFrame(rows, columns=AU_COLUMNS)


def _outputs(model_name: str, face: FaceRestoration) -> list[tuple[str, str]]:
    """The gallery's restorations: MPENet's recurrent steps, or IGCN's face after its baseline's on the same input."""
    if len(face.steps) > 1:
        return [(png_in_cache(step, f"step{t}.png"), f"step {t}") for t, step in enumerate(face.steps, start=1)]
    shown = []
    if model_name in BASELINES:
        role, caption = BASELINES[model_name]
        try:
            shown.append((png_in_cache(restore_input(get_model(role), face.lr), "baseline.png"), caption))
        except FaceForgeError as err:
            gr.Warning(f"the baseline could not be loaded: {err}")
    return [*shown, (png_in_cache(face.restored, "restored.png"), f"{model_name}: restored")]


def occlusion_input(kind, rectangle, drawing, size: int):
    """The ``occlusion`` of :func:`~faceforge.pipelines.restore_photo` the occlusion controls describe.

    Raises:
        InputError: an unknown kind, a rectangle that is not four numbers, an empty drawing.
    """
    from faceforge.demo.inputs import InputError

    kind = choice(kind if kind is not None else "none", OCCLUSIONS, what="occlusion")
    if kind == "none":
        return None
    if kind == "random":
        return "random"
    if kind == "drawn":
        return drawn_mask(drawing, size)
    try:
        values = tuple(float(v) for v in str(rectangle).replace(" ", "").split(","))
    except ValueError:
        values = ()
    if len(values) != 4:
        raise InputError(f"the occluded rectangle must be x,y,w,h (four numbers), got {rectangle!r}")
    return values


def restore(image, model_name, mode, aligned, face_number, occlusion="none", rectangle="", drawing=None, seed=0):
    """Restore every face of the photo; show the chosen one in detail.

    The inputs arrive as sent (``preprocess=False``) and are checked by :mod:`faceforge.demo.inputs`: the photo
    is read by faceforge itself, at its own bit depth and with its alpha, exactly as ``faceforge restore``
    reads it. Every refusal is faceforge's own message, naming the upload by the name it was sent with.

    Returns: (before, after) pair, the step gallery, the landmarks picture, the AU bar-chart data, the AU
    table, the photo with every face pasted back, and a status line.
    """
    path = shown = None
    try:
        path, shown = uploaded_file(image)
        model_name = choice(model_name, MODELS, what="model")
        mode = choice(mode, MODES, what="input")
        aligned = boolean(aligned, what="aligned face crop")
        face_number = number(face_number, what="face to show", minimum=1, maximum=10_000, integer=True, default=1)
        seed = number(seed, what="seed", minimum=0, maximum=2**31 - 1, integer=True, default=0)
        model = get_model(model_name)
        occluded = occlusion_input(occlusion, rectangle, drawing, model.config.image_size)
        result: PhotoRestoration = restore_photo(path, model, mode=mode, aligned=aligned, occlusion=occluded,
                                                 seed=seed)
    except FaceForgeError as err:
        raise gr.Error(public_message(err, path=path, shown=shown)) from err
    except ValueError as err:  # an occlusion outside the face (faceforge.pipelines.occlusion_masks)
        raise gr.Error(str(err)) from err
    except MemoryError as err:
        raise gr.Error("the server ran out of memory on this photo; try a smaller one") from err
    n = len(result.faces)
    index = int(min(face_number, n)) - 1
    face = result.faces[index]
    size = face.restored.shape[0]
    gallery = [(png_in_cache(pixelated(face.lr, size), "input.png"),
                f"model input {face.lr.shape[0]}x{face.lr.shape[1]}")]
    gallery += _outputs(model_name, face)
    gallery.append((png_in_cache(face.original, "aligned.png"),
                    "aligned face (reference)" if mode == "degrade" else "aligned face as given"))
    landmarks = (np.asarray(draw_landmarks(face.restored, face.landmarks, zoom=3)) if face.landmarks is not None
                 else face.restored)
    try:
        detected_restored, _ = read_face(face.restored)
        detected_input, _ = read_face(face.upsampled)
    except FaceForgeError as err:
        gr.Warning(f"the AU detector could not be loaded: {err}")
        detected_restored = detected_input = {}
    plot, table = _au_views(face, detected_restored, detected_input)
    where = "the aligned crop" if aligned else f"{n} face{'s' if n > 1 else ''} found"
    status = (f"{where}; showing face {index + 1} (largest first). Model: {model_id(model_name)}; "
              f"x{model.config.scale}, {face.lr.shape[0]}x{face.lr.shape[1]} -> {size}x{size}.")
    if face.mask is not None:
        status += (f" Occluded: {int(face.mask.sum())} of {face.mask.size} input pixels (black in the model "
                   f"input).")
    if result.scale > 1:
        status += f" The photo is enlarged x{result.scale:.2f} so the restored faces keep their resolution."
    # The photo can be 48 megapixels: written here strip by strip, not encoded whole in memory by Gradio.
    pasted = write_png(result.photo, cache_file(f"{Path(shown).stem}_restored.png"))
    slider = (png_in_cache(face.upsampled, "bicubic.png"), png_in_cache(face.restored, "restored.png"))
    landmarks = png_in_cache(landmarks, "landmarks.png")
    return slider, gallery, landmarks, plot, table, str(pasted), status


def build_restore_tab() -> None:
    gr.Markdown(
        "x8 face super-resolution guided by facial landmarks and action units (MPENet / MPEGAN, Zhang and Liu), "
        "and of occluded faces with graph convolutions over face patches and an AU-classifier loss (IGCN, Liu et "
        "al.). Every face is found (dlib), aligned onto faceforge's 128x128 template, restored from 16x16 and "
        "pasted back. The shipped weights are trained on FaceForge-Synth only (renderer 2, the shaded 3-D faces; "
        "see the model cards): real photos are outside their training data. An occlusion paints part of each "
        "face's 16x16 input black, as IGCN's training does: IGCN is trained for it and is shown beside its SRGAN "
        "baseline on the same input; MPENet and MPEGAN were trained on unoccluded faces, so with them this shows "
        "what they make of a face with a part missing."
    )
    with gr.Row():
        with gr.Column(scale=1):
            image = gr.Image(label="Photo", type="filepath", image_mode=None, sources=["upload", "clipboard"],
                             height=320, elem_id="restore-input")
            model_name = gr.Radio(MODELS, value="mpenet", label="Model", elem_id="restore-model")
            mode = gr.Radio(MODES, value="degrade", label="Input")
            with gr.Row():
                aligned = gr.Checkbox(value=False, label="The picture is one aligned face crop (skip detection)")
                face_number = gr.Number(value=1, precision=0, minimum=1, label="Face to show (1 = largest)")
            with gr.Accordion("Occlusion", open=False):
                occlusion = gr.Radio(OCCLUSIONS, value="none", label="Occlude part of every face's input",
                                     elem_id="restore-occlusion")
                with gr.Row():
                    rectangle = gr.Textbox(value="32,72,64,40", label="Rectangle x,y,w,h (aligned 128x128 face; "
                                                                      "this one covers the mouth)")
                    seed = gr.Number(value=0, precision=0, minimum=0, label="Seed of the random squares")
                drawing = gr.ImageEditor(value=example_path("synthetic-aligned.png"), type="numpy", height=300,
                                         label="Paint the region to occlude (an aligned face: eyes, nose and "
                                               "mouth sit here on every aligned face)",
                                         brush=gr.Brush(default_size=12, colors=["#ff3b30"], color_mode="fixed"),
                                         sources=[], transforms=[], layers=False)
            run = gr.Button("Restore", variant="primary", elem_id="restore-button")
            gr.Examples(
                examples=[[example_path("synthetic-group.png"), "mpenet", "degrade", False, 1, "none"],
                          [example_path("synthetic-aligned.png"), "mpegan", "degrade", True, 1, "none"],
                          [example_path("synthetic-aligned.png"), "igcn", "degrade", True, 1, "random"],
                          [example_path("astronaut.png"), "mpenet", "degrade", False, 1, "none"]],
                inputs=[image, model_name, mode, aligned, face_number, occlusion],
                label="Examples: synthetic faces (one occluded, for IGCN) and a real photo (scikit-image's "
                      "astronaut, NASA)",
            )
        with gr.Column(scale=1):
            status = gr.Markdown(elem_id="restore-status")
            slider = gr.ImageSlider(label="Before (bicubic from the model input) / after (restored)",
                                    type="numpy", format="png", max_height=420, elem_id="restore-slider")
            steps = gr.Gallery(label="Model input, the restorations (MPENet / MPEGAN: the three recurrent steps; "
                                     "IGCN: its SRGAN baseline, then IGCN), and the aligned face", columns=5,
                               height=170, object_fit="contain", format="png")
    with gr.Row():
        landmarks = gr.Image(label="Landmarks of the alignment branch (on the restored face)", type="numpy",
                             format="png", height=300)
        with gr.Column():
            au_plot = gr.BarPlot(x="AU", y="probability", y_lim=[0, 1], x_label_angle=-45, sort=None, height=300,
                                 label="AUs the AU branch detects on step 2 (the texture prior of step 3)")
            au_table = gr.Dataframe(headers=AU_COLUMNS, label="AU probabilities", interactive=False)
    pasted = gr.Image(label="The photo with the restored faces pasted back", type="numpy", format="png",
                      buttons=["download", "fullscreen"], elem_id="restore-pasted")
    run.click(restore, [image, model_name, mode, aligned, face_number, occlusion, rectangle, drawing, seed],
              [slider, steps, landmarks, au_plot, au_table, pasted, status], api_name="restore",
              preprocess=False)  # faceforge reads the upload itself (faceforge.demo.inputs)

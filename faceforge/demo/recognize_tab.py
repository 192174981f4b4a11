"""The Low-res recognition tab: the expression of every face in a photo, read at low resolution by CovPoolFER alone
(bicubic) and by FSR-FER, which super-resolves CovPoolFER's features (Jing et al., 2020).

All the work is :func:`faceforge.pipelines.recognize_photo`; this module turns its result into components: the
photo with a label per face, and for every face the LR face the model saw beside a bar chart of each route's
expression probabilities. The accuracy-against-scale plot of the model card is shown when the card has one.
"""

from __future__ import annotations

import time
from pathlib import Path

import gradio as gr
import numpy as np
import pandas as pd
from PIL import Image, ImageDraw, ImageFont

from faceforge import resolve
from faceforge.demo.examples import example_path
from faceforge.demo.files import cache_file, pixelated, png_in_cache, write_png
from faceforge.demo.inputs import boolean, number, public_message, uploaded_file
from faceforge.demo.models import get_model, model_id
from faceforge.errors import FaceForgeError
from faceforge.pipelines import (
    DEFAULT_RECOGNITION_SCALE,
    MAX_RECOGNITION_SCALE,
    ROUTE_TITLES,
    PhotoRecognition,
    recognize_photo,
)

MAX_FACES = 8  # the largest faces of a photo the tab recognises (every face is a row of three bar charts)
ANNOTATED_MAX_SIDE = 1600  # the labelled photo is shown at most this large
LR_SHOWN = 128  # the LR faces are shown enlarged by pixel repetition to about this side
ACCURACY_PLOT = "accuracy_vs_scale.png"  # in the model's folder, written with its card
BOX_COLOUR = (255, 214, 10)


def accuracy_plot_path() -> str | None:
    """The accuracy-against-scale plot beside the FSR-FER model the app loads (a local folder or the shipped
    model's ``hub_cards/`` folder), or None when there is none."""
    identifier = model_id("fsrfer")
    folder = Path(identifier).expanduser()
    if not folder.is_dir():
        shipped = resolve.shipped_location(identifier)
        if shipped is None or not Path(shipped).is_dir():
            return None
        folder = Path(shipped)
    plot = folder / ACCURACY_PLOT
    return str(plot) if plot.is_file() else None


def annotate(result: PhotoRecognition, *, max_side: int = ANNOTATED_MAX_SIDE) -> np.ndarray:
    """The photo (shrunk to at most ``max_side``) with every face's box and number and FSR-FER's label.

    Returns:
        (h, w, 3) uint8.
    """
    photo = Image.fromarray(result.photo)
    shrink = min(1.0, max_side / max(photo.size))
    if shrink < 1.0:
        photo = photo.resize((max(1, round(photo.width * shrink)), max(1, round(photo.height * shrink))),
                             Image.Resampling.BILINEAR, reducing_gap=2.0)
    else:
        photo = photo.copy()  # never draw into the caller's pixels
    draw = ImageDraw.Draw(photo)
    font = ImageFont.load_default(size=max(11, round(max(photo.size) / 45)))
    line = max(2, round(max(photo.size) / 400))
    for number_, face in enumerate(result.faces, start=1):
        box = face.face.box if face.face is not None else (0, 0, result.photo.shape[1], result.photo.shape[0])
        x0, y0, x1, y1 = (v * shrink for v in box)
        draw.rectangle((x0, y0, x1 - 1, y1 - 1), outline=BOX_COLOUR, width=line)
        text = f"{number_} {face.label}"
        left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
        width, height = right - left + 4, bottom - top + 4
        tx = min(max(0.0, x0), max(0.0, photo.width - width))
        ty = y0 - height if y0 - height >= 0 else min(y1, photo.height - height)
        draw.rectangle((tx, ty, tx + width, ty + height), fill=BOX_COLOUR)
        draw.text((tx + 2 - left, ty + 2 - top), text, fill=(0, 0, 0), font=font)
    return np.asarray(photo)


def _probability_frame(probabilities: dict[str, float]) -> pd.DataFrame:
    return pd.DataFrame({"expression": list(probabilities), "probability": list(probabilities.values())})


def recognize(image, scale=DEFAULT_RECOGNITION_SCALE, as_given=False, aligned=False):
    """Recognise the expression of every face of the photo (the largest ``MAX_FACES``).

    The inputs arrive as sent (``preprocess=False``) and are checked by :mod:`faceforge.demo.inputs`: the photo
    is read by faceforge itself, exactly as ``faceforge recognize`` reads it. Every refusal is faceforge's own
    message, naming the upload by the name it was sent with.

    Returns: the photo with a label per face, the gallery of LR faces the model saw, the result as JSON
    (:meth:`~faceforge.pipelines.PhotoRecognition.to_dict`), a status line, and the per-face views' state.
    """
    path = shown = None
    started = time.perf_counter()
    try:
        path, shown = uploaded_file(image)
        scale = number(scale, what="down-sampling factor", minimum=1, maximum=MAX_RECOGNITION_SCALE, integer=True,
                       default=DEFAULT_RECOGNITION_SCALE)
        as_given = boolean(as_given, what="faces already small")
        aligned = boolean(aligned, what="aligned face crop")
        model = get_model("fsrfer")
        result = recognize_photo(path, model, scale=None if as_given else scale, aligned=aligned,
                                 max_faces=MAX_FACES)
    except FaceForgeError as err:
        raise gr.Error(public_message(err, path=path, shown=shown)) from err
    except TypeError as err:  # FACEFORGE_FSRFER_MODEL names a model that is not an FSR-FER recogniser
        raise gr.Error(str(err)) from err
    except MemoryError as err:
        raise gr.Error("the server ran out of memory on this photo; try a smaller one") from err
    gallery, views = [], []
    for number_, face in enumerate(result.faces, start=1):
        side = face.lr.shape[0]
        seen = f"x{result.scale}: seen at {side}x{side}" if result.scale is not None else f"as given ({side}x{side})"
        caption = f"face {number_}, {seen}; FSR-FER: {face.label}"
        picture = png_in_cache(pixelated(face.lr, LR_SHOWN), f"face{number_}_lr.png")
        gallery.append((picture, caption))
        views.append({"picture": picture, "caption": caption, "labels": face.labels,
                      "probabilities": {route: dict(p) for route, p in face.probabilities.items()}})
    n = len(result.faces)
    if aligned:
        where = "the aligned crop"
    else:
        where = f"{n} face{'s' if n > 1 else ''} found"
        if n == MAX_FACES:
            where += f" (the tab recognises the {MAX_FACES} largest; `faceforge recognize` takes every face)"
    if result.scale is None:
        how = "faces as given (aligned, brought to 100x100, not degraded)"
    else:
        lr_side = result.faces[0].lr.shape[0]
        how = f"x{result.scale}: each aligned 100x100 face brought down to {lr_side}x{lr_side} and back up by bicubic"
    labels = ", ".join(f"{i} {face.label}" for i, face in enumerate(result.faces, start=1))
    status = (f"{where}. Model: {model_id('fsrfer')}; {how}. FSR-FER reads: {labels}. "
              f"{time.perf_counter() - started:.1f} s.")
    annotated = write_png(annotate(result), cache_file(f"{Path(shown).stem}_recognized.png"))
    return str(annotated), gallery, result.to_dict(), status, views


def build_recognize_tab() -> None:
    gr.Markdown(
        "Expression recognition of low-resolution faces (FSR-FER, Jing et al.): a GAN maps the second-order "
        "features CovPoolFER draws from a low-resolution face to those of the high-resolution face, and "
        "CovPoolFER's classifier reads them. Every face is found (dlib), aligned as in the Restoration tab, brought "
        "to 100x100 and either degraded by the chosen factor (MATLAB bicubic down and back up, as the paper "
        "tests) or read as given when the photo's faces are small already. Each face is read three ways: by "
        "CovPoolFER on the face before degradation (HR), by CovPoolFER alone on the low-resolution face "
        "(bicubic) and by FSR-FER. The shipped weights are trained on FaceForge-Synth only (see the model "
        "cards): real photos are outside their training data."
    )
    with gr.Row():
        with gr.Column(scale=1):
            image = gr.Image(label="Photo", type="filepath", image_mode=None, sources=["upload", "clipboard"],
                             height=320, elem_id="recognize-input")
            scale = gr.Slider(1, MAX_RECOGNITION_SCALE, value=DEFAULT_RECOGNITION_SCALE, step=1,
                              label="Down-sampling factor (x1 = as given): every 100x100 face is brought down by "
                                    "it and back up", elem_id="recognize-scale")
            as_given = gr.Checkbox(value=False, label="The faces are already small: read them as the photo holds "
                                                      "them (the factor is not applied)", elem_id="recognize-as-given")
            aligned = gr.Checkbox(value=False, label="The picture is one aligned face crop (skip detection)")
            run = gr.Button("Recognise", variant="primary", elem_id="recognize-button")
            gr.Examples(
                examples=[[example_path("synthetic-group.png"), 8, False, False],
                          [example_path("synthetic-small-faces.png"), 1, True, False],
                          [example_path("synthetic-aligned.png"), 4, False, True],
                          [example_path("astronaut.png"), 6, False, False]],
                inputs=[image, scale, as_given, aligned],
                example_labels=["Synthetic: two faces, x8", "Synthetic: six small faces, read as given",
                                "Synthetic: one aligned face, x4", "Real: the astronaut, x6"],
                label="Examples: synthetic faces (FaceForge-Synth, not real people) and a real photo "
                      "(scikit-image's astronaut, NASA)",
            )
        with gr.Column(scale=1):
            status = gr.Markdown(elem_id="recognize-status")
            annotated = gr.Image(label="The photo with FSR-FER's label on every face", type="numpy", format="png",
                                 buttons=["download", "fullscreen"], elem_id="recognize-annotated")
            faces = gr.Gallery(label="The low-resolution faces the model saw (pixels enlarged)", columns=4,
                               height=190, object_fit="contain", format="png", elem_id="recognize-faces")
    views = gr.State([])

    @gr.render(inputs=views)
    def face_views(shown_faces):
        for face in shown_faces or []:
            with gr.Row(equal_height=True, elem_classes=["recognize-face"]):
                gr.Image(face["picture"], label=face["caption"], type="filepath", height=220, interactive=False,
                         buttons=[], scale=1, min_width=150)
                for route, probabilities in face["probabilities"].items():
                    gr.BarPlot(_probability_frame(probabilities), x="expression", y="probability", y_lim=[0, 1],
                               sort=list(probabilities), x_label_angle=-45, height=240, scale=2,
                               label=f"{ROUTE_TITLES[route]}: {face['labels'][route]}")

    plot = accuracy_plot_path()
    if plot is not None:
        gr.Image(plot, label="Accuracy against the down-sampling factor (from the model card)", type="filepath",
                 interactive=False, buttons=["fullscreen"], height=460, elem_id="recognize-accuracy")
    with gr.Accordion("Result as JSON (what `faceforge recognize` writes per photo)", open=False):
        result = gr.JSON(label="Boxes, labels and probabilities", elem_id="recognize-json")
    run.click(recognize, [image, scale, as_given, aligned], [annotated, faces, result, status, views],
              api_name="recognize", preprocess=False)  # faceforge reads the upload itself (faceforge.demo.inputs)

"""The Editing tab: every face of a photo edited to a target expression or target AU intensities by Cascade EF-GAN
(Wu et al., 2020), progressively in three stages.

All the work is :func:`faceforge.pipelines.edit_photo`; this module turns its result into components: the photo with
the edited faces pasted back, each face's stages side by side, the first face's attention maps per stage, the
continuous edit as an animation and the first face's own and target AUs as a bar chart. A new photo sets the AU
sliders to its first face's own AUs, as the AU detector estimates them (:func:`detect_aus`).
"""

from __future__ import annotations

import time
from pathlib import Path

import gradio as gr
import numpy as np
import pandas as pd

from faceforge.demo.examples import example_path
from faceforge.demo.files import cache_file, png_in_cache, write_png
from faceforge.demo.inputs import InputError, choice, number, public_message, uploaded_file
from faceforge.demo.models import get_model, model_id, read_face
from faceforge.errors import FaceForgeError
from faceforge.face.aus import FACEFORGE_AUS, au_label
from faceforge.face.expressions import EXPRESSIONS
from faceforge.face.pipeline import find_faces
from faceforge.pipelines import MAX_AU_INTENSITY, EditTarget, PhotoEdit, edit_photo, estimate_aus, write_animation

MAX_FACES = 4  # the largest faces of a photo the tab edits
FRAMES = 8  # frames of the continuous edit
MODES = [("Expression", "expression"), ("AUs (the sliders below)", "aus")]
AU_BARS = [f"AU{au} {kind}" for au in FACEFORGE_AUS for kind in ("face", "target")]  # the bar chart's order


def _au_frame(result: PhotoEdit) -> pd.DataFrame:
    """The first face's own (estimated) and target AUs, as bars side by side per AU."""
    face = result.faces[0]
    rows = [(f"AU{au} {kind}", kind, float(values[i]) * MAX_AU_INTENSITY)
            for i, au in enumerate(face.aus) for kind, values in (("face", face.source), ("target", face.target))]
    return pd.DataFrame(rows, columns=["AU", "AUs", "intensity (FACS 0-5)"])


def _target(mode, expression, intensity, au_values) -> EditTarget:
    """The :class:`~faceforge.pipelines.EditTarget` the controls describe: the expression at its intensity, or exactly
    the AU sliders' values (every AU the editor takes)."""
    if choice(mode, MODES, what="target") == "expression":
        expression = choice(expression, list(EXPRESSIONS), what="expression")
        return EditTarget(expression=expression, intensity=number(intensity, what="intensity", minimum=0, maximum=1,
                                                                  default=1.0))
    if len(au_values) != len(FACEFORGE_AUS):
        raise InputError(f"expected {len(FACEFORGE_AUS)} AU values, got {len(au_values)}")
    values = {au: number(v, what=au_label(au), minimum=0, maximum=MAX_AU_INTENSITY, default=0)
              for au, v in zip(FACEFORGE_AUS, au_values, strict=True)}
    model_aus = set(get_model("editor").config.aus)
    # An AU the editor does not take is left out at 0 and refused above 0 (EditTarget.vector says which it takes).
    return EditTarget(aus={au: v for au, v in values.items() if au in model_aus or v > 0})


def detect_aus(image):
    """The AU sliders' values for a new photo: its first (largest) face's own AUs as the AU detector estimates them
    (the pipeline's estimate x 5, FACS 0-5, to the sliders' step 0.1), and a status line.

    A photo that cannot be read or has no face leaves the sliders as they are and says so in the status; no photo
    (cleared) changes nothing.
    """
    if image is None:
        return *[gr.skip()] * len(FACEFORGE_AUS), gr.skip()
    path = shown = None
    try:
        path, shown = uploaded_file(image)
        (face,) = find_faces(path, size=get_model("editor").config.image_size, max_faces=1, require=True)
        source = estimate_aus(get_model("au"), face.crop[None], FACEFORGE_AUS)[0]
    except FaceForgeError as err:
        message = public_message(err, path=path, shown=shown).rstrip(".")
        return *[gr.skip()] * len(FACEFORGE_AUS), f"{message}. The AU sliders are left as they were."
    return *[round(float(v) * MAX_AU_INTENSITY, 1) for v in source], (
        f"The AU sliders are set to face 1's own AUs (the largest face), as the AU detector ({model_id('au')}) "
        f"estimates them. Move some and press Edit with Target: AUs.")


def edit(image, mode="expression", expression="happiness", intensity=1.0, *au_values):
    """Edit every face of the photo (the largest ``MAX_FACES``) to the target.

    The inputs arrive as sent (``preprocess=False``) and are checked by :mod:`faceforge.demo.inputs`: the photo is
    read by faceforge itself, exactly as ``faceforge edit`` reads it. Every refusal is faceforge's own message.

    Returns: the photo with the edited faces, the gallery of every face's input and stages (a row per face), the
    first face's attention maps per stage (:attr:`~faceforge.pipelines.FaceEdit.attention_picture`), the continuous
    edit (a GIF, every face side by side), the first face's AUs as bar-chart data, the result as JSON
    (:meth:`~faceforge.pipelines.PhotoEdit.to_dict`) and a status line.
    """
    path = shown = None
    started = time.perf_counter()
    try:
        path, shown = uploaded_file(image)
        target = _target(mode, expression, intensity, au_values)
        result = edit_photo(path, get_model("editor"), target, frames=FRAMES, max_faces=MAX_FACES,
                            au_detector=get_model("au"))
    except FaceForgeError as err:
        raise gr.Error(public_message(err, path=path, shown=shown)) from err
    except TypeError as err:  # FACEFORGE_EDITOR_MODEL names a model that is not an expression editor
        raise gr.Error(str(err)) from err
    except MemoryError as err:
        raise gr.Error("the server ran out of memory on this photo; try a smaller one") from err
    stages = len(result.faces[0].stages)
    gallery = [(png_in_cache(picture, f"face{i}_{k}.png"), f"face {i}: " + (f"stage {k}" if k else "input"))
               for i, face in enumerate(result.faces, start=1)
               for k, picture in enumerate((face.aligned, *face.stages))]
    attention = png_in_cache(result.faces[0].attention_picture, "face1_attention.png")
    frames = [np.concatenate(step, axis=1) for step in zip(*(face.frames for face in result.faces))]
    animation = str(write_animation(frames, cache_file(f"{Path(shown).stem}_edit.gif")))
    n = len(result.faces)
    where = f"{n} face{'s' if n > 1 else ''} found"
    if n == MAX_FACES:
        where += f" (the tab edits the {MAX_FACES} largest; `faceforge edit` edits every face)"
    status = (f"{where}. Model: {model_id('editor')}, {stages} stage{'s' if stages > 1 else ''}; target: "
              f"{target.describe()}.")
    try:
        read = [max(p, key=p.get) for _, p in (read_face(result.faces[0].aligned), read_face(result.faces[0].edited))]
        status += f" The expression classifier reads {read[0]} on face 1 and {read[1]} on its edit."
    except FaceForgeError as err:
        gr.Warning(f"the expression classifier could not be loaded: {err}")
    status += f" {time.perf_counter() - started:.1f} s."
    edited = write_png(result.photo, cache_file(f"{Path(shown).stem}_edited.png"))
    return str(edited), gallery, attention, animation, _au_frame(result), result.to_dict(), status


def build_edit_tab() -> None:
    gr.Markdown(
        "Facial expression editing (Cascade EF-GAN, Wu et al.): every face is found (dlib), aligned as in the "
        "Restoration tab, edited to the target in three progressive stages, each with a global branch and local "
        "branches on the eyes, nose and mouth, and pasted back. The target is an expression at an intensity (its "
        "AUs are the FaceForge-Synth prototype, the other AUs absent) or exactly the AU intensities (FACS 0-5) of "
        "the sliders, which a new photo sets to its largest face's own AUs: move one to edit from where the face "
        "is. A face's own AUs are estimated by the AU detector, whose occurrence probabilities stand in for "
        "intensities. The attention maps show, per stage, where its global branch and its eye, nose and mouth "
        "branches repaint the face (bright) and where they keep it (black). The animation is the continuous edit: "
        "the face edited to its own AUs moved step by step to the target. The shipped weights are trained on "
        "FaceForge-Synth only (see the model card): real photos are outside their training data."
    )
    with gr.Row():
        with gr.Column(scale=1):
            image = gr.Image(label="Photo", type="filepath", image_mode=None, sources=["upload", "clipboard"],
                             height=320, elem_id="edit-input")
            mode = gr.Radio(MODES, value="expression", label="Target", elem_id="edit-mode")
            with gr.Row():
                expression = gr.Dropdown(list(EXPRESSIONS), value="happiness", label="Expression",
                                         elem_id="edit-expression")
                intensity = gr.Slider(0, 1, value=1.0, step=0.05, label="Intensity", elem_id="edit-intensity")
            with gr.Accordion("Action units (FACS 0-5; with Target: AUs, the target is exactly these)",
                              open=False):
                sliders = []
                for row in range(0, len(FACEFORGE_AUS), 3):
                    with gr.Row():
                        for au in FACEFORGE_AUS[row:row + 3]:
                            sliders.append(gr.Slider(0, 5, value=0, step=0.1, label=au_label(au),
                                                     elem_id=f"edit-au{au}"))
            run = gr.Button("Edit", variant="primary", elem_id="edit-button")
            gr.Examples(  # the photo's change sets the AU sliders (detect_aus)
                examples=[[example_path("synthetic-group.png"), "expression", "surprise", 1.0],
                          [example_path("synthetic-aligned.png"), "expression", "sadness", 0.8],
                          [example_path("astronaut.png"), "aus", "happiness", 1.0]],
                inputs=[image, mode, expression, intensity],
                example_labels=["Synthetic: two faces, to surprise", "Synthetic: one face, to sadness at 0.8",
                                "Real: the astronaut, her own AUs on the sliders (move one)"],
                label="Examples: synthetic faces (FaceForge-Synth, not real people) and a real photo "
                      "(scikit-image's astronaut, NASA)",
            )
        with gr.Column(scale=1):
            status = gr.Markdown(elem_id="edit-status")
            edited = gr.Image(label="The photo with the edited faces pasted back", type="numpy", format="png",
                              buttons=["download", "fullscreen"], elem_id="edit-edited")
            strips = gr.Gallery(label="Every face: the input and each stage's edit", columns=4,
                                height=300, object_fit="contain", format="png", elem_id="edit-stages")
            attention = gr.Image(label="Face 1 per stage: the edit, where the global branch repaints (M_A) and where "
                                       "the eye, nose and mouth branches do", type="filepath", height=320,
                                 buttons=["download", "fullscreen"], elem_id="edit-attention")
    with gr.Row():
        animation = gr.Image(label="The continuous edit: the face's own AUs to the target", type="filepath",
                             height=260, buttons=["download"], elem_id="edit-animation")
        au_plot = gr.BarPlot(x="AU", y="intensity (FACS 0-5)", color="AUs", colors_in_legend=[], y_lim=[0, 5],
                             sort=AU_BARS, x_label_angle=-60, height=360, elem_id="edit-aus",
                             label="Face 1: its own AUs (estimated, blue) and the target (orange)")
    with gr.Accordion("Result as JSON (what `faceforge edit` writes)", open=False):
        result = gr.JSON(label="Boxes and AUs", elem_id="edit-json")
    # faceforge reads the uploads itself (faceforge.demo.inputs)
    image.change(detect_aus, [image], [*sliders, status], api_name="detect_aus", preprocess=False)
    run.click(edit, [image, mode, expression, intensity, *sliders],
              [edited, strips, attention, animation, au_plot, result, status], api_name="edit", preprocess=False)

"""The "Synthetic faces" tab: the renderer, every AU, the expression, its intensity, identity and pose as
controls."""

from __future__ import annotations

import gradio as gr
import numpy as np

from faceforge.data.synth.faces import DEFAULT_RENDERER, render_face
from faceforge.data.synth.sheet import draw_landmarks
from faceforge.demo.files import png_in_cache
from faceforge.demo.inputs import boolean, choice, number
from faceforge.demo.models import model_id, read_face
from faceforge.errors import FaceForgeError
from faceforge.face.aus import FACEFORGE_AUS, au_label
from faceforge.face.expressions import EXPRESSIONS

# The renderer radio's (label, value) pairs, the default first: value "vN" renders with render_face(version=N).
RENDERER_CHOICES = [("v2: shaded 3-D", "v2"), ("v1: 2-D polygons", "v1")]


def render_synthetic(
    renderer: str, expression: str, intensity: float, identity: int, yaw: float, pitch: float, roll: float,
    show_landmarks: bool, *au_values: float,
) -> tuple[str, dict[str, float], dict[str, float], dict[str, float]]:
    """Render a face; the AU sliders add AUs on top of the expression.

    ``renderer`` is ``"v2"`` (shaded 3-D, the default) or ``"v1"`` (2-D polygons). The inputs arrive as sent
    (``preprocess=False``) and are checked by :mod:`faceforge.demo.inputs`.

    Returns the image (a PNG in the app's cache), its true AU intensities (as fractions of level E), and what
    the shipped AU detector and expression classifier read from it.
    """
    try:
        if len(au_values) != len(FACEFORGE_AUS):
            raise FaceForgeError(f"expected {len(FACEFORGE_AUS)} AU values, got {len(au_values)}")
        version = int(choice(renderer, RENDERER_CHOICES, what="renderer")[1:])
        expression = choice(expression, list(EXPRESSIONS), what="expression")
        intensity = number(intensity, what="intensity", minimum=0, maximum=1)
        identity = number(identity, what="identity", minimum=0, maximum=2**31 - 1, integer=True)
        pose = tuple(number(v, what=name, minimum=-limit, maximum=limit)
                     for v, name, limit in ((yaw, "yaw", 20), (pitch, "pitch", 15), (roll, "roll", 15)))
        show_landmarks = boolean(show_landmarks, what="show landmarks")
        values = [number(v, what=au_label(au), minimum=0, maximum=5, default=0)
                  for au, v in zip(FACEFORGE_AUS, au_values, strict=True)]
    except FaceForgeError as err:
        raise gr.Error(str(err)) from err
    extra = {au: v for au, v in zip(FACEFORGE_AUS, values, strict=True) if v > 0}
    face = render_face(identity=identity, expression=expression, intensity=intensity, aus=extra, pose=pose,
                       version=version)
    image = np.asarray(draw_landmarks(face.image, face.landmarks, zoom=3)) if show_landmarks else face.image
    active = {au_label(au): round(float(v), 2) / 5.0 for au, v in zip(FACEFORGE_AUS, face.au_intensity) if v > 0}
    try:
        detected, recognised = read_face(face.image)
    except FaceForgeError as err:
        gr.Warning(f"the AU and expression models could not be loaded: {err}")
        detected, recognised = {}, {}
    return png_in_cache(image, "face.png"), active, detected, recognised


def build_synth_tab() -> None:
    """Add the tab's components and events to the current ``gr.Blocks``."""
    gr.Markdown(
        "**FaceForge-Synth** is faceforge's procedural face set: every face comes with its true facial action "
        "units (AUs, FACS intensity 0-5), 68 landmarks, expression, intensity, identity and head pose. All "
        "shipped models are trained and tested on it. Pick an expression, then add any AU with the sliders. "
        "Two renderers draw the same faces with the same labels: **v2** (the default) shades a 3-D face with "
        "skin texture and a camera; **v1** draws flat 2-D polygons, the faces the shipped MPENet and MPEGAN "
        "were trained on."
    )
    with gr.Row():
        with gr.Column(scale=1):
            renderer = gr.Radio(RENDERER_CHOICES, value=f"v{DEFAULT_RENDERER}", label="Renderer")
            expression = gr.Dropdown(list(EXPRESSIONS), value="happiness", label="Expression")
            intensity = gr.Slider(0, 1, value=1.0, step=0.05, label="Expression intensity")
            identity = gr.Number(value=1800, precision=0, minimum=0, label="Identity (seed; test split is 1800-1999)")
            with gr.Row():
                yaw = gr.Slider(-20, 20, value=0, step=1, label="Yaw")
                pitch = gr.Slider(-15, 15, value=0, step=1, label="Pitch")
                roll = gr.Slider(-15, 15, value=0, step=1, label="Roll")
            show_landmarks = gr.Checkbox(value=True, label="Show the 68 landmarks")
        with gr.Column(scale=1):
            image = gr.Image(label="Rendered face", type="numpy", format="png", height=400)
            aus_out = gr.Label(label="True AU intensities (fraction of level E)", num_top_classes=18)
    with gr.Row():
        detected = gr.Label(label=f"AUs the AU detector ({model_id('au')}) finds", num_top_classes=6)
        recognised = gr.Label(label=f"Expression the classifier ({model_id('expression')}) reads",
                              num_top_classes=3)
    with gr.Accordion("Action units (added on top of the expression, 0-5)", open=False):
        sliders = []
        for row in range(0, len(FACEFORGE_AUS), 6):
            with gr.Row():
                for au in FACEFORGE_AUS[row : row + 6]:
                    sliders.append(gr.Slider(0, 5, value=0, step=0.5, label=au_label(au)))
    inputs = [renderer, expression, intensity, identity, yaw, pitch, roll, show_landmarks, *sliders]
    render_btn = gr.Button("Render", variant="primary")
    outputs = [image, aus_out, detected, recognised]
    render_btn.click(render_synthetic, inputs, outputs, api_name="render_synthetic", preprocess=False)
    for component in inputs:  # live updates; sliders fire on release so dragging stays smooth
        event = component.release if isinstance(component, gr.Slider) else component.change
        event(render_synthetic, inputs, outputs, api_name=False, preprocess=False)

"""The Weak-expression magnification tab: every face of a photo or a short video magnified from its weak expression
towards its peak by GroupGAN (Niu et al., 2022) and recognised before and after.

All the work is :mod:`faceforge.magnification`; this module turns its results into components: for a photo, face
1's input against its magnification (a slider), the heat map of what changed (Eq. (22)), every face's expression
probabilities before and after, and the photo with the magnified faces pasted back; for a video, the magnified clip
and face 1's expression probabilities frame by frame.
"""

from __future__ import annotations

import time
from pathlib import Path

import gradio as gr
import numpy as np
import pandas as pd

from faceforge.demo.examples import example_path
from faceforge.demo.files import cache_file, png_in_cache, write_png
from faceforge.demo.inputs import public_message, uploaded_file
from faceforge.demo.models import get_model, model_id
from faceforge.errors import FaceForgeError
from faceforge.magnification import FaceMagnification, magnify_photo, magnify_video

MAX_FACES = 4  # the largest faces of a photo (or a frame) the tab magnifies
MAX_VIDEO_FRAMES = 150  # the tab magnifies at most this many frames of a clip; `faceforge magnify` takes more
PANEL_SIDE = 256  # the slider and heat map are shown at this side (the model works at its own, smaller one)


def _enlarged(image: np.ndarray, side: int = PANEL_SIDE) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.fromarray(image).resize((side, side), Image.Resampling.BICUBIC))


def _probabilities(faces: tuple[FaceMagnification, ...]) -> pd.DataFrame:
    """Each face's expression probabilities before and after magnification, as bars side by side."""
    rows = [(f"face {i} {name}", f"face {i}", when, float(p))
            for i, face in enumerate(faces, start=1)
            for when, probs in (("before", face.before), ("after", face.after)) for name, p in probs.items()]
    frame = pd.DataFrame(rows, columns=["bar", "face", "magnification", "probability"])
    frame["expression"] = [bar.split(" ", 2)[2] for bar in frame["bar"]]
    return frame


def _failure(err: Exception, path: str | None, shown: str | None) -> gr.Error:
    if isinstance(err, MemoryError):
        return gr.Error("the server ran out of memory on this input; try a smaller one")
    return gr.Error(public_message(err, path=path, shown=shown))


def magnify(image):
    """Magnify every face of the photo (the largest ``MAX_FACES``).

    Returns: (face 1 as the model saw it, its magnification) for the slider, face 1's heat map of the change, the
    probabilities as bar-chart data, the photo with the magnified faces pasted back, the result as JSON
    (:meth:`~faceforge.magnification.PhotoMagnification.to_dict`) and a status line.
    """
    path = shown = None
    started = time.perf_counter()
    try:
        path, shown = uploaded_file(image)
        result = magnify_photo(path, get_model("magnifier"), max_faces=MAX_FACES)
    except (FaceForgeError, TypeError, MemoryError) as err:
        raise _failure(err, path, shown) from err
    first = result.faces[0]
    pair = (png_in_cache(_enlarged(first.weak), "magnify_weak.png"),
            png_in_cache(_enlarged(first.magnified), "magnify_magnified.png"))
    heat = png_in_cache(_enlarged(first.heat_picture()), "magnify_heat.png")
    n = len(result.faces)
    readings = "; ".join(f"face {i}: {f.expression_before} ({100 * f.before[f.expression_before]:.0f}%) -> "
                         f"{f.expression_after} ({100 * f.after[f.expression_after]:.0f}%)"
                         for i, f in enumerate(result.faces, start=1))
    status = (f"{n} face{'s' if n > 1 else ''} magnified by {model_id('magnifier')}. Read before -> after "
              f"magnification: {readings}. {time.perf_counter() - started:.1f} s.")
    photo = write_png(result.photo, cache_file(f"{Path(shown).stem}_magnified.png"))
    return pair, heat, _probabilities(result.faces), str(photo), result.to_dict(), status


def magnify_clip(video):
    """Magnify every face of every frame of the clip (its first ``MAX_VIDEO_FRAMES`` frames).

    Returns: the magnified clip (MP4), face 1's (track 0's) expression probabilities per frame as line-plot data,
    the result as JSON and a status line.
    """
    path = shown = None
    started = time.perf_counter()
    try:
        path, shown = uploaded_file(video, what="video")
        clip = cache_file(f"{Path(shown).stem}_magnified.mp4")
        result = magnify_video(path, get_model("magnifier"), out=clip, max_frames=MAX_VIDEO_FRAMES, truncate=True,
                               max_faces=MAX_FACES)
    except (FaceForgeError, TypeError, MemoryError) as err:
        raise _failure(err, path, shown) from err
    rows = [(i, name, p) for name, values in result.track_series(0).items()
            for i, p in enumerate(values) if p is not None]
    plot = pd.DataFrame(rows, columns=["frame", "expression", "probability after magnification"])
    seen = sum(1 for fs in result.faces if fs)
    status = (f"{len(result.faces)} frames at {result.fps:g} fps, a face in {seen}; magnified by "
              f"{model_id('magnifier')}.")
    if result.truncated:
        status += f" Only the first {MAX_VIDEO_FRAMES} frames are magnified here (`faceforge magnify` takes more)."
    status += f" {time.perf_counter() - started:.1f} s."
    return str(clip), plot, result.to_dict(), status


def build_magnify_tab() -> None:
    gr.Markdown(
        "Weak-expression magnification (GroupGAN, Niu et al.): every face is found (dlib), aligned as in the other "
        "tabs, and its subtle expression is magnified towards its peak by a generator conditioned on the "
        "expression features of its own classifier, which then recognises the magnified face. The slider compares "
        "face 1 as the model saw it with its magnification; the heat map shows where it changed (the paper's "
        "Eq. (22): squared change summed over colour, brightest where it changed most). A video is magnified frame "
        "by frame, each face tracked by its position. The shipped weights are trained on FaceForge-Synth's "
        "neutral-to-peak sequences only, at 64x64 (see the model card): real faces are outside their training "
        "data."
    )
    with gr.Tabs():
        with gr.Tab("Photo"):
            with gr.Row():
                with gr.Column(scale=1):
                    image = gr.Image(label="Photo", type="filepath", image_mode=None,
                                     sources=["upload", "clipboard"], height=320, elem_id="magnify-input")
                    run = gr.Button("Magnify", variant="primary", elem_id="magnify-button")
                    gr.Examples(
                        examples=[[example_path("synthetic-weak.png")], [example_path("synthetic-group.png")],
                                  [example_path("astronaut.png")]],
                        inputs=[image],
                        example_labels=["Synthetic: a weak smile", "Synthetic: two faces at their peak",
                                        "Real: the astronaut"],
                        label="Examples: synthetic faces (FaceForge-Synth, not real people) and a real photo "
                              "(scikit-image's astronaut, NASA)",
                    )
                with gr.Column(scale=1):
                    status = gr.Markdown(elem_id="magnify-status")
                    with gr.Row():
                        slider = gr.ImageSlider(label="Face 1: as the model saw it | magnified", type="filepath",
                                                elem_id="magnify-slider")
                        heat = gr.Image(label="Face 1: where it changed (Eq. 22)", type="filepath",
                                        elem_id="magnify-heat")
                    bars = gr.BarPlot(x="expression", y="probability", color="magnification", x_label_angle=-45,
                                      y_lim=[0, 1], height=300, elem_id="magnify-probabilities",
                                      label="Expression probabilities before and after magnification (every face)")
            photo = gr.Image(label="The photo with the magnified faces pasted back", type="filepath",
                             buttons=["download", "fullscreen"], elem_id="magnify-photo")
            with gr.Accordion("Result as JSON (what `faceforge magnify` writes)", open=False):
                result = gr.JSON(label="Boxes and probabilities", elem_id="magnify-json")
            run.click(magnify, [image], [slider, heat, bars, photo, result, status], api_name="magnify",
                      preprocess=False)
        with gr.Tab("Video"):
            with gr.Row():
                with gr.Column(scale=1):
                    video = gr.Video(label=f"A short clip (the first {MAX_VIDEO_FRAMES} frames are magnified)",
                                     sources=["upload"], height=320, elem_id="magnify-video-input")
                    run_video = gr.Button("Magnify the clip", variant="primary", elem_id="magnify-video-button")
                    gr.Examples(examples=[[example_path("synthetic-sequence.mp4")]], inputs=[video],
                                example_labels=["Synthetic: neutral to surprise in 16 frames"],
                                label="Example: a FaceForge-Synth sequence (not a real person)")
                with gr.Column(scale=1):
                    video_status = gr.Markdown(elem_id="magnify-video-status")
                    clip = gr.Video(label="The magnified clip", elem_id="magnify-video-output")
            series = gr.LinePlot(x="frame", y="probability after magnification", color="expression", y_lim=[0, 1],
                                 height=300, elem_id="magnify-video-plot",
                                 label="Face 1: expression probabilities after magnification, frame by frame")
            with gr.Accordion("Result as JSON (what `faceforge magnify` writes)", open=False):
                video_result = gr.JSON(label="Per frame: faces, tracks and probabilities", elem_id="magnify-video-json")
            run_video.click(magnify_clip, [video], [clip, series, video_result, video_status],
                            api_name="magnify_video", preprocess=False)


"""The faceforge Gradio app: one tab per model family that declares one, then the Synthetic faces tab."""

from __future__ import annotations

import gradio as gr

from faceforge.demo.synth_tab import build_synth_tab
from faceforge.family import load_reference
from faceforge.registry import app_tabs

TITLE = "faceforge: facial-expression-aware face restoration, recognition and editing"


def build_app() -> gr.Blocks:
    """The tabbed app. Inference lives in faceforge; this only wires components to it."""
    with gr.Blocks(title="faceforge") as app:
        gr.Markdown(f"# {TITLE}")
        for tab in app_tabs():
            with gr.Tab(tab.title):
                load_reference(tab.build)()
        with gr.Tab("Synthetic faces"):
            build_synth_tab()
    app.queue(default_concurrency_limit=2, max_size=32)
    return app

"""The faceforge Gradio app: one tab builder per task."""

from __future__ import annotations

import gradio as gr

from faceforge.demo.restore_tab import build_restore_tab
from faceforge.demo.synth_tab import build_synth_tab

TITLE = "faceforge: facial-expression-aware face restoration, recognition and editing"


def build_app() -> gr.Blocks:
    """The tabbed app. Inference lives in faceforge; this only wires components to it."""
    with gr.Blocks(title="faceforge") as app:
        gr.Markdown(f"# {TITLE}")
        with gr.Tab("Restoration"):
            build_restore_tab()
        with gr.Tab("Synthetic faces"):
            build_synth_tab()
    app.queue(default_concurrency_limit=2, max_size=32)
    return app

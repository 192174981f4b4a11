"""The faceforge Gradio app: one tab per model family that declares one, then the Synthetic faces tab.

:func:`launch_app` is what ``python app.py`` and the Space run: it builds the app with Gradio's analytics off
(no connection leaves the machine unless a model is fetched from the Hub), caps uploads
(``FACEFORGE_MAX_UPLOAD_MB``, default 50) and deletes uploaded and generated files an hour after they were
written (``FACEFORGE_CACHE_MINUTES``).
"""

from __future__ import annotations

import os

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # before gradio is imported: no telemetry, no version check

import gradio as gr  # noqa: E402

from faceforge.demo.inputs import max_upload_mb, positive_setting  # noqa: E402
from faceforge.demo.synth_tab import build_synth_tab  # noqa: E402
from faceforge.family import load_reference  # noqa: E402
from faceforge.registry import app_tabs  # noqa: E402

TITLE = "faceforge: facial-expression-aware face restoration, recognition and editing"
# System fonts: the default theme would have every browser fetch its fonts from Google's servers.
THEME = gr.themes.Default(font=["ui-sans-serif", "system-ui", "sans-serif"],
                          font_mono=["ui-monospace", "Consolas", "monospace"])


def cache_minutes() -> float:
    """How long uploads and generated files are kept (``FACEFORGE_CACHE_MINUTES``, default 60)."""
    return positive_setting("FACEFORGE_CACHE_MINUTES", 60, "minutes")


def build_app() -> gr.Blocks:
    """The tabbed app. Inference lives in faceforge; this only wires components to it."""
    age = int(cache_minutes() * 60)
    # Every age / 4 seconds, the files this app stored (uploads, outputs) that are older than age are deleted.
    with gr.Blocks(title="faceforge", analytics_enabled=False, delete_cache=(max(1, age // 4), age)) as app:
        gr.Markdown(f"# {TITLE}")
        for tab in app_tabs():
            with gr.Tab(tab.title):
                load_reference(tab.build)()
        with gr.Tab("Synthetic faces"):
            build_synth_tab()
    app.queue(default_concurrency_limit=2, max_size=32)
    return app


def launch_app(app: gr.Blocks | None = None, **kwargs) -> gr.Blocks:
    """Launch the app (built by :func:`build_app` when not given) with faceforge's limits: the upload cap, the
    theme with local fonts, and no outside connection. ``kwargs`` go to ``gr.Blocks.launch``."""
    app = app or build_app()
    kwargs.setdefault("max_file_size", f"{max_upload_mb():g}mb")
    kwargs.setdefault("theme", THEME)
    kwargs.setdefault("show_error", True)
    app.launch(**kwargs)
    return app

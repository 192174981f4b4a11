"""The project as a user meets it: README commands, CI, the console script and the web app."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from faceforge.cli import main

ROOT = Path(__file__).resolve().parents[1]


def readme_commands() -> list[str]:
    blocks = re.findall(r"```bash\n(.*?)```", (ROOT / "README.md").read_text(), flags=re.S)
    return [b.strip() for b in blocks[:2]]


def test_readme_starts_with_the_app_and_the_test_command_and_ci_runs_the_latter():
    app_cmd, test_cmd = readme_commands()
    assert app_cmd.endswith("python app.py") and app_cmd.startswith("pip install -e .")
    ci = (ROOT / ".ci" / "run").read_text()
    assert test_cmd in ci.splitlines(), "CI must run exactly the README's test command"


def test_synth_grid_command_writes_a_contact_sheet(tmp_path, capsys):
    out = tmp_path / "sheet.png"
    assert main(["synth", "--grid", str(out), "--identities", "2", "--size", "64"]) == 0
    sheet = np.asarray(Image.open(out))
    assert sheet.shape == (8 * 64, 78 + 2 * 64, 3)
    faces = sheet[:, 78:]
    assert faces.std() > 20  # real pictures, not a blank canvas
    assert "wrote" in capsys.readouterr().out


@pytest.mark.slow
def test_console_script_is_installed_and_reports_its_version():
    result = subprocess.run(
        [sys.executable, "-m", "faceforge.cli", "--version"], capture_output=True, text=True
    )
    assert result.returncode == 0 and result.stdout.startswith("faceforge ")


def trained_on(name: str) -> str:
    """The renderer ("v1" or "v2") the shipped model ``name`` was trained on, as its card's data row says (cards
    written before renderer 2 became the default name no renderer: they were trained on renderer 1)."""
    from faceforge import resolve

    return "v2" if "FaceForge-Synth v2 (" in (resolve.HUB_CARDS / name / "README.md").read_text() else "v1"


@pytest.mark.slow
def test_synthetic_tab_renders_and_reads_the_face_through_the_api():
    gradio_client = pytest.importorskip("gradio_client")
    from faceforge.demo import build_app
    from faceforge.demo.models import model_id

    app = build_app()
    radio = [c["props"] for c in app.config["components"] if c["props"].get("label") == "Renderer"]
    assert [r["value"] for r in radio] == ["v2"]  # the default renderer
    app.launch(prevent_thread_lock=True, server_name="127.0.0.1", server_port=None, quiet=True)
    try:
        client = gradio_client.Client(app.local_url, verbose=False)
        aus = [0.0] * 18
        aus[-1] = 5.0  # AU43 on top of happiness
        results = {renderer: client.predict(renderer, "happiness", 1.0, 1803, 0, 0, 0, False, *aus,
                                            api_name="/render_synthetic")
                   for renderer in ("v2", "v1")}
        images = {renderer: np.asarray(Image.open(result[0])).astype(int) for renderer, result in results.items()}
        assert images["v1"].shape == images["v2"].shape == (128, 128, 3)
        assert np.abs(images["v1"] - images["v2"]).mean() > 10  # two renderers ...
        truth = results["v2"][1]
        assert results["v1"][1] == truth  # ... one set of labels
        names = {c["label"] for c in truth["confidences"]}
        assert {"AU6 Cheek raiser", "AU12 Lip corner puller", "AU43 Eyes closed"} <= names
        # The shipped models read a face of the renderer they were trained on: a smile with closed eyes.
        recognised = results[trained_on(model_id("expression"))][3]
        assert recognised["label"] == "happiness"
        detected = results[trained_on(model_id("au"))][2]
        found = {c["label"] for c in detected["confidences"] if c["confidence"] >= 0.5}
        assert {"AU12 Lip corner puller", "AU43 Eyes closed"} <= found
        with pytest.raises(gradio_client.exceptions.AppError, match="renderer must be one of v2, v1, got 'v3'"):
            client.predict("v3", "happiness", 1.0, 1803, 0, 0, 0, False, *aus, api_name="/render_synthetic")
    finally:
        app.close()

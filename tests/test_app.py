"""The web app as its users meet it: the Restoration tab through its API (``gradio_client``) and in a real
browser (Debian's Chromium driven headless by Playwright), on the shipped weights."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from PIL import Image

from faceforge import shipped

gradio_client = pytest.importorskip("gradio_client")


def example_path(name: str) -> str:
    """The app's example picture ``name``. Imported here, not at the top: faceforge.demo imports gradio (3-4 s of
    CPU), which collecting the fast test loop (``-m "not slow"``) should not pay in every worker."""
    from faceforge.demo.examples import example_path as path

    return path(name)


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
# The flags a sandboxed, offline machine needs (no background connections to Google's hosts).
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]

pytestmark = [
    pytest.mark.slow,  # a live Gradio server on the shipped models, and a headless Chromium
    pytest.mark.skipif(
        not all((shipped.HUB_CARDS / n / "config.json").is_file() for n in ("mpenet", "mpegan", "au-detector")),
        reason="the shipped restoration and AU models are not in hub_cards/",
    ),
]


@pytest.fixture(scope="module")
def app():
    from faceforge.demo import build_app

    demo = build_app()
    demo.launch(prevent_thread_lock=True, server_name="127.0.0.1")
    yield demo
    demo.close()


@pytest.fixture(scope="module")
def client(app):
    return gradio_client.Client(app.local_url, verbose=False)


def test_restore_endpoint_returns_every_view_of_the_restored_faces(client):
    photo = example_path("synthetic-group.png")
    slider, steps, landmarks, plot, table, pasted, status = client.predict(
        gradio_client.handle_file(photo), "mpenet", "degrade", False, 1, api_name="/restore")
    before, after = (np.asarray(Image.open(p)) for p in slider)
    assert before.shape == after.shape == (128, 128, 3)
    assert np.abs(before.astype(int) - after).mean() > 2  # the model changed the bicubic input
    assert [s["caption"] for s in steps] == ["model input 16x16", "step 1", "step 2", "step 3",
                                             "aligned face (reference)"]
    assert np.asarray(Image.open(landmarks)).shape == (384, 384, 3)
    assert len(plot["data"]) == 18 and all(0 <= p <= 1 for _, p in plot["data"])
    assert table["headers"][0] == "AU" and len(table["data"]) == 18
    assert np.asarray(Image.open(pasted)).shape == np.asarray(Image.open(photo)).shape
    assert status.startswith("2 faces found")


def test_restore_endpoint_with_mpegan_on_an_aligned_crop(client):
    _, _, _, _, _, pasted, status = client.predict(
        gradio_client.handle_file(example_path("synthetic-aligned.png")), "mpegan", "as_given", True, 1,
        api_name="/restore")
    assert np.asarray(Image.open(pasted)).shape == (128, 128, 3)
    assert status.startswith("the aligned crop") and "mpegan" in status


def test_restore_endpoint_occludes_a_rectangle_or_a_painted_region(client, tmp_path):
    crop = example_path("synthetic-aligned.png")
    slider, steps, _, _, _, _, status = client.predict(
        gradio_client.handle_file(crop), "mpenet", "degrade", True, 1, "rectangle", "32,72,64,40", None, 0,
        api_name="/restore")
    assert "Occluded: 40 of 256 input pixels" in status  # x 32-96, y 72-112: 8 x 5 input pixels
    model_input = np.asarray(Image.open(steps[0]["image"]))  # the 16x16 input shown x8
    assert (model_input[72:112, 32:96] == 0).all() and model_input[:64].mean() > 20
    layer = np.zeros((128, 128, 4), np.uint8)
    layer[40:56, 24:104] = 255  # paint over the eyes
    Image.fromarray(layer).save(tmp_path / "layer.png")
    drawing = {"background": gradio_client.handle_file(crop), "layers": [gradio_client.handle_file(
        str(tmp_path / "layer.png"))], "composite": None}
    *_, status = client.predict(gradio_client.handle_file(crop), "mpegan", "degrade", True, 1, "drawn", "",
                                drawing, 0, api_name="/restore")
    assert "Occluded: 20 of 256 input pixels" in status  # rows 5-6, columns 3-12
    with pytest.raises(Exception, match="inside the 128x128 aligned face"):
        client.predict(gradio_client.handle_file(crop), "mpenet", "degrade", True, 1, "rectangle", "100,100,64,64",
                       None, 0, api_name="/restore")


def test_no_face_is_a_clear_message(client, tmp_path):
    blank = tmp_path / "wall.png"
    Image.fromarray(np.full((240, 320, 3), 180, np.uint8)).save(blank)
    with pytest.raises(Exception, match="(?i)no face"):
        client.predict(gradio_client.handle_file(str(blank)), "mpenet", "degrade", False, 1, api_name="/restore")


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (bash tests/install-browser.sh)")
def test_restoration_tab_in_a_real_browser(app):
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page()
            page.goto(app.local_url)
            page.get_by_role("tab", name="Restoration").click()
            page.locator("#restore-input input[type=file]").set_input_files(example_path("astronaut.png"))
            page.locator("#restore-input img").first.wait_for(state="visible", timeout=30_000)
            page.locator("#restore-button").click()
            pasted = page.locator("#restore-pasted img").first
            pasted.wait_for(state="visible", timeout=120_000)
            page.wait_for_function("el => el.complete && el.naturalWidth > 0", arg=pasted.element_handle(),
                                   timeout=30_000)
            width = pasted.evaluate("el => el.naturalWidth")
            assert width == 512  # the astronaut photo, with her face restored in place
            assert "1 face found" in page.locator("#restore-status").inner_text()
            page.locator("#restore-slider img").first.wait_for(state="visible", timeout=30_000)
            # The same face with a random quarter of its input occluded.
            page.get_by_text("Occlusion", exact=True).click()
            page.locator("#restore-occlusion").get_by_text("Random square", exact=False).click()
            page.locator("#restore-button").click()
            page.wait_for_function("() => document.querySelector('#restore-status').innerText.includes('Occluded')",
                                   timeout=120_000)
            assert "Occluded: 64 of 256 input pixels" in page.locator("#restore-status").inner_text()
        finally:
            browser.close()

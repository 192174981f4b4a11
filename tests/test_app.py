"""The web app as its users meet it: the Restoration, Low-res recognition, Editing and Weak-expression magnification
tabs through their API
(``gradio_client``) and in a real browser (Debian's Chromium driven headless by Playwright), on the shipped
weights."""

from __future__ import annotations

import math
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
needs_fsrfer = pytest.mark.skipif(not (shipped.HUB_CARDS / "fsrfer" / "config.json").is_file(),
                                  reason="the shipped FSR-FER model is not in hub_cards/")
needs_editor = pytest.mark.skipif(not (shipped.HUB_CARDS / "cascade-efgan" / "config.json").is_file(),
                                  reason="the shipped Cascade EF-GAN model is not in hub_cards/")
needs_igcn = pytest.mark.skipif(
    not all((shipped.HUB_CARDS / n / "config.json").is_file() for n in ("igcn", "igcn-srgan")),
    reason="the shipped IGCN and its SRGAN baseline are not in hub_cards/")
needs_magnifier = pytest.mark.skipif(not (shipped.HUB_CARDS / "groupgan" / "config.json").is_file(),
                                     reason="the shipped GroupGAN model is not in hub_cards/")


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


@needs_igcn
def test_restore_endpoint_shows_igcn_beside_its_srgan_baseline_on_the_same_occluded_input(client):
    crop = example_path("synthetic-aligned.png")
    slider, steps, _, plot, _, _, status = client.predict(
        gradio_client.handle_file(crop), "igcn", "degrade", True, 1, "random", "", None, 3, api_name="/restore")
    assert [s["caption"] for s in steps] == ["model input 16x16", "SRGAN baseline (IGCN 1x1 alone), same input",
                                             "igcn: restored", "aligned face (reference)"]
    assert "Occluded: 64 of 256 input pixels" in status and "igcn" in status  # an 8x8 square: a quarter
    model_input, baseline, restored = (np.asarray(Image.open(s["image"])).astype(int) for s in steps[:3])
    after = np.asarray(Image.open(slider[1])).astype(int)
    assert (restored == after).all()  # the gallery's IGCN face is the slider's
    hidden = (model_input == 0).all(-1)  # the black square, x8
    assert hidden.sum() == 64 * 64
    # both restorers fill the hole with a face, not black, and they are different networks
    assert restored[hidden].mean() > 40 and baseline[hidden].mean() > 40
    assert np.abs(restored - baseline).mean() > 1
    assert len(plot["data"]) == 18  # IGCN has no AU branch: the AU detector's reading of the restored face


def test_no_face_is_a_clear_message(client, tmp_path):
    blank = tmp_path / "wall.png"
    Image.fromarray(np.full((240, 320, 3), 180, np.uint8)).save(blank)
    with pytest.raises(Exception, match="(?i)no face"):
        client.predict(gradio_client.handle_file(str(blank)), "mpenet", "degrade", False, 1, api_name="/restore")


@needs_igcn
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
            pasted.wait_for(state="attached", timeout=120_000)
            page.locator("#restore-pasted").scroll_into_view_if_needed()  # a lazy image loads in view
            pasted.wait_for(state="visible", timeout=30_000)
            page.wait_for_function("el => el.complete && el.naturalWidth > 0", arg=pasted.element_handle(),
                                   timeout=30_000)
            width = pasted.evaluate("el => el.naturalWidth")
            assert width == 512  # the astronaut photo, with her face restored in place
            assert "1 face found" in page.locator("#restore-status").inner_text()
            page.locator("#restore-slider img").first.wait_for(state="visible", timeout=30_000)
            # The same face with a random quarter of its input occluded, restored by IGCN (trained for it).
            page.locator("#restore-model").get_by_text("IGCN (occluded faces", exact=False).click()
            page.get_by_text("Occlusion", exact=True).click()
            page.locator("#restore-occlusion").get_by_text("Random square", exact=False).click()
            page.locator("#restore-button").click()
            page.wait_for_function("() => document.querySelector('#restore-status').innerText.includes('Occluded')",
                                   timeout=120_000)
            status = page.locator("#restore-status").inner_text()
            assert "Occluded: 64 of 256 input pixels" in status and "Model: igcn;" in status
        finally:
            browser.close()


# --- Low-res recognition ---------------------------------------------------------------------------------------------
EXPRESSIONS = ["neutral", "anger", "disgust", "fear", "happiness", "sadness", "surprise", "contempt"]


def recognize(client, photo, *args):
    return client.predict(gradio_client.handle_file(photo), *args, api_name="/recognize")


@needs_fsrfer
def test_recognize_endpoint_reads_every_face_at_the_chosen_scale(client):
    photo = example_path("synthetic-group.png")
    annotated, faces, result, status = recognize(client, photo, 8, False, False)
    assert np.asarray(Image.open(annotated)).shape == np.asarray(Image.open(photo)).shape
    assert result["scale"] == 8 and result["as_given"] is False and result["classes"] == EXPRESSIONS
    assert result["routes"] == ["hr", "bicubic", "fsrfer"] and len(result["faces"]) == 2
    boxes = [face["box"] for face in result["faces"]]
    assert boxes[0][0] < 200 < boxes[1][0]  # largest first: the left portrait is drawn at 208 px, the right at 176
    for face in result["faces"]:
        assert face["lr_size"] == 13
        for route, probabilities in face["probabilities"].items():
            assert list(probabilities) == EXPRESSIONS
            assert math.isclose(sum(probabilities.values()), 1.0, abs_tol=1e-4)
            assert face["labels"][route] == max(probabilities, key=probabilities.get)
    assert [f["caption"] for f in faces] == [f"face {i}, x8: seen at 13x13; FSR-FER: {face['labels']['fsrfer']}"
                                             for i, face in enumerate(result["faces"], start=1)]
    lr = np.asarray(Image.open(faces[0]["image"]))
    assert lr.shape == (117, 117, 3)  # the 13x13 LR face, each pixel shown 9x9
    assert (lr[::9, ::9] == lr[8::9, 8::9]).all()
    labels = ", ".join(f"{i} {f['labels']['fsrfer']}" for i, f in enumerate(result["faces"], start=1))
    assert status.startswith("2 faces found. Model: fsrfer; x8") and f"FSR-FER reads: {labels}." in status


@needs_fsrfer
def test_recognize_endpoint_reads_small_faces_as_given(client):
    photo = example_path("synthetic-small-faces.png")
    annotated, faces, result, status = recognize(client, photo, 8, True, False)
    assert result["scale"] is None and result["as_given"] is True and result["routes"] == ["bicubic", "fsrfer"]
    assert len(result["faces"]) == len(faces) == 6 and status.startswith("6 faces found")
    assert all(set(face["probabilities"]) == {"bicubic", "fsrfer"} for face in result["faces"])
    assert all(face["lr_size"] == 100 for face in result["faces"])
    assert np.asarray(Image.open(faces[0]["image"])).shape == (100, 100, 3)
    assert np.asarray(Image.open(annotated)).shape == (260, 480, 3)
    # x4 on the same photo: the LR faces are 25x25 and the faces before degradation are read too
    _, faces, result, _ = recognize(client, photo, 4, False, False)
    assert result["scale"] == 4 and {f["lr_size"] for f in result["faces"]} == {25}
    assert all(set(face["probabilities"]) == {"hr", "bicubic", "fsrfer"} for face in result["faces"])


@needs_fsrfer
def test_recognize_endpoint_refuses_bad_input_with_faceforges_message(client, tmp_path):
    photo = example_path("synthetic-aligned.png")
    with pytest.raises(gradio_client.exceptions.AppError, match="down-sampling factor must be between 1 and 8"):
        recognize(client, photo, 9, False, False)
    with pytest.raises(gradio_client.exceptions.AppError, match="down-sampling factor must be a whole number"):
        recognize(client, photo, 2.5, False, False)
    blank = tmp_path / "wall.png"
    Image.fromarray(np.full((240, 320, 3), 180, np.uint8)).save(blank)
    with pytest.raises(gradio_client.exceptions.AppError, match="no face was found"):
        recognize(client, str(blank), 8, False, False)
    fake = tmp_path / "notes.png"
    fake.write_text("not a picture")
    with pytest.raises(gradio_client.exceptions.AppError, match="notes.png") as caught:
        recognize(client, str(fake), 8, False, False)
    assert str(tmp_path) not in str(caught.value)
    _, _, result, status = recognize(client, photo, 4, False, True)  # one aligned crop: no detection
    assert result["faces"][0]["box"] is None and result["faces"][0]["lr_size"] == 25
    assert status.startswith("the aligned crop")


@needs_fsrfer
@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (bash tests/install-browser.sh)")
def test_low_res_recognition_tab_in_a_real_browser(app):
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page()
            page.goto(app.local_url)
            page.get_by_role("tab", name="Low-res recognition").click()
            page.locator("#recognize-input input[type=file]").set_input_files(
                example_path("synthetic-small-faces.png"))
            page.locator("#recognize-input img").first.wait_for(state="visible", timeout=30_000)
            page.locator("#recognize-as-given input").check()
            page.locator("#recognize-button").click()
            annotated = page.locator("#recognize-annotated img").first
            annotated.wait_for(state="visible", timeout=120_000)
            page.wait_for_function("el => el.complete && el.naturalWidth > 0", arg=annotated.element_handle(),
                                   timeout=30_000)
            assert annotated.evaluate("el => el.naturalWidth") == 480  # the photo, a label on every face
            assert "6 faces found" in page.locator("#recognize-status").inner_text()
            # Every face: its LR face and a bar chart per route (as given: bicubic and FSR-FER, no HR).
            page.wait_for_function("() => document.querySelectorAll('.recognize-face').length == 6",
                                   timeout=60_000)
            rows = page.locator(".recognize-face")
            assert rows.first.get_by_text("FSR-FER:", exact=False).count() >= 1
            assert page.get_by_text("HR (before degradation)", exact=False).count() == 0
            # The same photo degraded x4 on purpose: the faces before degradation are read too.
            page.locator("#recognize-as-given input").uncheck()
            factor = page.locator("#recognize-scale input[type=number]")
            factor.fill("4")
            factor.press("Enter")
            page.locator("#recognize-button").click()
            page.wait_for_function("() => document.querySelector('#recognize-status').innerText.includes('x4')",
                                   timeout=120_000)
            page.wait_for_function("() => document.querySelectorAll('.recognize-face').length == 6",
                                   timeout=60_000)
            page.get_by_text("HR (before degradation)", exact=False).first.wait_for(state="visible",
                                                                                   timeout=30_000)
            assert page.get_by_text("HR (before degradation)", exact=False).count() == 6
            assert "each aligned 100x100 face brought down to 25x25" in page.locator("#recognize-status").inner_text()
        finally:
            browser.close()


# --- Editing -------------------------------------------------------------------------------------------------------
AUS = [1, 2, 4, 5, 6, 7, 9, 10, 12, 14, 15, 17, 20, 23, 24, 25, 26, 43]


def edit(client, photo, mode, expression, intensity, aus=None):
    sliders = [float((aus or {}).get(au, 0)) for au in AUS]
    return client.predict(gradio_client.handle_file(photo), mode, expression, intensity, *sliders, api_name="/edit")


@needs_editor
def test_edit_endpoint_edits_every_face_to_the_expression(client):
    photo = example_path("synthetic-group.png")
    edited, strips, attention, animation, plot, result, status = edit(client, photo, "expression", "surprise", 1.0)
    before, after = np.asarray(Image.open(photo)), np.asarray(Image.open(edited))
    assert after.shape == before.shape and np.abs(after.astype(int) - before).mean() > 0.1  # faces pasted back
    assert result["target"] == {"expression": "surprise", "intensity": 1.0} and len(result["faces"]) == 2
    boxes = [face["box"] for face in result["faces"]]
    assert boxes[0][0] < 200 < boxes[1][0]  # largest first, as the other tabs find them
    for face in result["faces"]:
        assert face["stages"] == 3 and face["frames"] == 8 and len(face["stage_aus"]) == 3
        assert face["target_aus"]["AU26 Jaw drop"] == pytest.approx(4.6 / 5) and face["target_aus"]["AU12 Lip "
                                                                                             "corner puller"] == 0
        assert all(0 <= v <= 1 for v in face["source_aus"].values())
    assert [s["caption"] for s in strips] == [f"face {i}: {what}" for i in (1, 2)
                                              for what in ("input", "stage 1", "stage 2", "stage 3")]
    face, *stages = (np.asarray(Image.open(s["image"])) for s in strips[:4])
    assert face.shape == stages[-1].shape == (128, 128, 3)
    assert np.abs(stages[-1].astype(int) - face).mean() > 2  # the edit differs from the input
    # Face 1's attention maps: per stage (a row), its edit, then its global and its stitched local M_A.
    maps = np.asarray(Image.open(attention))
    assert maps.shape == (3 * 128, 3 * 128, 3)
    for k, stage in enumerate(stages):
        np.testing.assert_array_equal(maps[128 * k:128 * (k + 1), :128], stage)
    assert not maps[:20, 256:].any()  # the local map is black above the eyes' box (rows 35-74 at 128x128)
    assert maps[40:70, 256:].any()
    with Image.open(animation) as gif:
        assert gif.format == "GIF" and gif.n_frames == 8 and gif.size == (256, 128)  # both faces side by side
    assert len(plot["data"]) == 2 * len(AUS)
    assert status.startswith("2 faces found. Model: cascade-efgan, 3 stages; target: surprise at intensity 1.")
    assert "The expression classifier reads" in status


@needs_editor
def test_edit_endpoint_edits_to_exactly_the_aus_of_the_sliders(client):
    photo = example_path("astronaut.png")
    edited, strips, _, _, _, result, status = edit(client, photo, "aus", "happiness", 1.0, {12: 4, 6: 3})
    assert np.asarray(Image.open(edited)).shape == (512, 512, 3) and len(strips) == 4  # one face: input, 3 stages
    (face,) = result["faces"]
    assert result["target"] == {"aus": {label: {"AU6 Cheek raiser": 3.0, "AU12 Lip corner puller": 4.0}.get(label, 0.0)
                                        for label in face["source_aus"]}}
    assert face["target_aus"]["AU12 Lip corner puller"] == 0.8 and face["target_aus"]["AU6 Cheek raiser"] == 0.6
    assert face["target_aus"]["AU4 Brow lowerer"] == 0  # a slider at 0 is a target of 0
    assert status.startswith("1 face found") and "AU6 at 3, AU7 at 0" in status and "AU12 at 4, AU14 at 0" in status


@needs_editor
def test_detect_aus_endpoint_sets_the_edit_sliders_to_the_first_faces_own_aus(client, tmp_path):
    photo = example_path("synthetic-group.png")
    *sliders, status = client.predict(gradio_client.handle_file(photo), api_name="/detect_aus")
    assert len(sliders) == len(AUS) and all(0 <= v <= 5 for v in sliders) and any(v > 0 for v in sliders)
    assert status.startswith("The AU sliders are set to face 1's own AUs") and "au-detector" in status
    # The sliders are the edit's estimate of face 1's own AUs (x 5); sent back unmoved, they are the target.
    *_, result, _ = edit(client, photo, "aus", "happiness", 1.0, dict(zip(AUS, sliders)))
    face = result["faces"][0]
    assert [round(5 * v, 1) for v in face["source_aus"].values()] == pytest.approx(sliders, abs=1e-6)
    assert [5 * v for v in face["target_aus"].values()] == pytest.approx(sliders, abs=1e-3)
    # No face: the sliders are left as they are, and the status says so.
    blank = tmp_path / "wall.png"
    Image.fromarray(np.full((240, 320, 3), 180, np.uint8)).save(blank)
    *sliders, status = client.predict(gradio_client.handle_file(str(blank)), api_name="/detect_aus")
    assert "no face was found" in status and status.endswith(". The AU sliders are left as they were.")
    assert all(slider == {"__type__": "update"} for slider in sliders)  # an update that changes nothing
    assert str(tmp_path) not in status


@needs_editor
def test_edit_endpoint_refuses_bad_input_with_faceforges_message(client, tmp_path):
    photo = example_path("synthetic-aligned.png")
    with pytest.raises(gradio_client.exceptions.AppError, match="expression must be one of neutral"):
        edit(client, photo, "expression", "joy", 1.0)
    with pytest.raises(gradio_client.exceptions.AppError, match="intensity must be between 0 and 1"):
        edit(client, photo, "expression", "fear", 1.5)
    with pytest.raises(gradio_client.exceptions.AppError, match="AU12 Lip corner puller must be between 0 and 5"):
        edit(client, photo, "aus", "fear", 1.0, {12: 7})
    blank = tmp_path / "wall.png"
    Image.fromarray(np.full((240, 320, 3), 180, np.uint8)).save(blank)
    with pytest.raises(gradio_client.exceptions.AppError, match="no face was found"):
        edit(client, str(blank), "expression", "fear", 1.0)
    fake = tmp_path / "notes.png"
    fake.write_text("not a picture")
    with pytest.raises(gradio_client.exceptions.AppError, match="notes.png") as caught:
        edit(client, str(fake), "expression", "fear", 1.0)
    assert str(tmp_path) not in str(caught.value)


@needs_editor
@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (bash tests/install-browser.sh)")
def test_editing_tab_in_a_real_browser(app):
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page()
            page.goto(app.local_url)
            page.get_by_role("tab", name="Editing").click()
            # An example: the photo, the expression, and the AU sliders set to face 1's own AUs.
            page.get_by_text("Synthetic: two faces, to surprise", exact=True).click()
            page.locator("#edit-input img").first.wait_for(state="visible", timeout=30_000)
            sync_api.expect(page.locator("#edit-status")).to_contain_text("The AU sliders are set to face 1's own "
                                                                          "AUs", timeout=60_000)
            page.get_by_text("Action units (FACS 0-5", exact=False).click()
            page.locator("#edit-au12 input[type=range]").wait_for(state="visible", timeout=30_000)
            values = page.locator("[id^=edit-au] input[type=range]").evaluate_all("els => els.map(e => e.value)")
            assert len(values) == 18 and any(float(v) > 0 for v in values)  # not the sliders' default, all 0
            page.locator("#edit-button").click()
            edited = page.locator("#edit-edited img").first
            edited.wait_for(state="visible", timeout=120_000)
            page.wait_for_function("el => el.complete && el.naturalWidth > 0", arg=edited.element_handle(),
                                   timeout=30_000)
            assert edited.evaluate("el => el.naturalWidth") == 460  # the photo, both faces edited in place
            status = page.locator("#edit-status").inner_text()
            assert "2 faces found" in status and "target: surprise at intensity 1." in status
            attention = page.locator("#edit-attention img").first
            attention.wait_for(state="visible", timeout=30_000)
            page.wait_for_function("el => el.complete && el.naturalWidth > 0", arg=attention.element_handle(),
                                   timeout=30_000)
            assert attention.evaluate("el => el.naturalWidth") == 384  # edit | global M_A | local M_A, 128 each
            animation = page.locator("#edit-animation img").first
            animation.wait_for(state="visible", timeout=30_000)
            assert animation.get_attribute("src").endswith(".gif")
            # The same photo to the AUs of the sliders: face 1's own, with AU12 moved to 4.
            page.locator("#edit-mode").get_by_text("AUs", exact=False).click()
            sync_api.expect(page.locator("#edit-mode input:checked")).to_have_value("aus")
            slider = page.locator("#edit-au12 input[type=range]")
            slider.fill("4")  # set the slider itself, then check both of its inputs
            sync_api.expect(slider).to_have_value("4")
            sync_api.expect(page.locator("#edit-au12 input[type=number]")).to_have_value("4")
            page.locator("#edit-button").click()
            sync_api.expect(page.locator("#edit-status")).to_contain_text("AU12 at 4, AU14 at", timeout=120_000)
        finally:
            browser.close()


@needs_magnifier
def test_magnify_endpoint_shows_the_face_its_magnification_and_the_probabilities(client):
    photo = example_path("synthetic-weak.png")
    pair, heat, bars, pasted, result, status = client.predict(gradio_client.handle_file(photo), api_name="/magnify")
    weak, magnified = (np.asarray(Image.open(p)) for p in pair)
    assert weak.shape == magnified.shape == (256, 256, 3)
    assert np.asarray(Image.open(heat)).shape == (256, 256, 3)
    assert np.asarray(Image.open(pasted)).shape == np.asarray(Image.open(photo)).shape
    (face,) = result["faces"]
    assert sum(face["before"].values()) == pytest.approx(1, abs=1e-3) and face["change"] > 0
    columns = bars["columns"] if "columns" in bars else bars["headers"]
    rows = bars["data"]
    assert len(rows) == 2 * len(face["after"]) and {"before", "after"} <= {r[columns.index("magnification")]
                                                                           for r in rows}
    assert status.startswith("1 face magnified") and f"-> {face['expression_after']}" in status


@needs_magnifier
def test_magnify_video_endpoint_magnifies_every_frame_and_plots_the_track(client):
    from faceforge.face.video import read_video

    clip, plot, result, status = client.predict(
        gradio_client.handle_file(example_path("synthetic-sequence.mp4")), api_name="/magnify_video")
    path = clip["video"] if isinstance(clip, dict) else clip
    assert len(read_video(path).frames) == 16
    assert result["frame_count"] == 16 and all(f["faces"][0]["track"] == 0 for f in result["frames"])
    assert len(plot["data"]) == 16 * len(result["frames"][0]["faces"][0]["after"])
    assert status.startswith("16 frames at 8 fps, a face in 16")


@needs_magnifier
def test_magnify_endpoints_refuse_bad_input_with_faceforges_message(client, tmp_path):
    blank = tmp_path / "wall.png"
    Image.fromarray(np.full((240, 320, 3), 180, np.uint8)).save(blank)
    with pytest.raises(gradio_client.exceptions.AppError, match="no face was found"):
        client.predict(gradio_client.handle_file(str(blank)), api_name="/magnify")
    junk = tmp_path / "clip.mp4"
    junk.write_bytes(b"not a video" * 20)
    with pytest.raises(gradio_client.exceptions.AppError, match="cannot be read as a video") as caught:
        client.predict(gradio_client.handle_file(str(junk)), api_name="/magnify_video")
    assert str(tmp_path) not in str(caught.value)


@needs_magnifier
@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (bash tests/install-browser.sh)")
def test_magnification_tab_in_a_real_browser(app):
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page()
            page.goto(app.local_url)
            page.get_by_role("tab", name="Weak-expression magnification").click()
            page.get_by_text("Synthetic: a weak smile", exact=True).click()
            page.locator("#magnify-input img").first.wait_for(state="visible", timeout=30_000)
            page.locator("#magnify-button").click()
            sync_api.expect(page.locator("#magnify-status")).to_contain_text("1 face magnified", timeout=120_000)
            pasted = page.locator("#magnify-photo img").first
            pasted.wait_for(state="visible", timeout=30_000)
            page.wait_for_function("el => el.complete && el.naturalWidth > 0", arg=pasted.element_handle(),
                                   timeout=30_000)
            assert pasted.evaluate("el => el.naturalWidth") == 192  # the example, its face magnified in place
            heat = page.locator("#magnify-heat img").first
            heat.wait_for(state="visible", timeout=30_000)
            assert page.locator("#magnify-slider img").count() == 2  # input | magnified
            page.get_by_role("tab", name="Video").click()
            page.get_by_text("Synthetic: neutral to surprise in 16 frames", exact=True).click()
            page.locator("#magnify-video-button").click()
            sync_api.expect(page.locator("#magnify-video-status")).to_contain_text("16 frames at 8 fps",
                                                                                timeout=180_000)
            page.locator("#magnify-video-output video").first.wait_for(state="attached", timeout=30_000)
        finally:
            browser.close()

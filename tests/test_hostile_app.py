"""The app against hostile but fair input: every bad upload gets faceforge's own message without server paths,
uploads are capped, the cache is cleaned, the app reads pictures at their own bit depth, and nothing leaves the
machine at import or launch."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from faceforge import resolve

gradio_client = pytest.importorskip("gradio_client")

ROOT = Path(__file__).resolve().parents[1]
pytestmark = [
    pytest.mark.slow,  # a live Gradio server on the shipped models
    pytest.mark.skipif(not (resolve.HUB_CARDS / "mpenet" / "config.json").is_file(),
                       reason="the shipped mpenet is not in hub_cards/"),
]


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    import os

    from faceforge.demo import launch_app

    saved = {k: os.environ.get(k) for k in ("FACEFORGE_MAX_UPLOAD_MB", "FACEFORGE_CACHE_MINUTES")}
    os.environ["FACEFORGE_MAX_UPLOAD_MB"] = "2"
    os.environ["FACEFORGE_CACHE_MINUTES"] = "0.05"  # 3 s: the clean-up is seen within the test
    try:
        demo = launch_app(prevent_thread_lock=True, server_name="127.0.0.1")
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    yield demo
    demo.close()


@pytest.fixture(scope="module")
def client(app):
    return gradio_client.Client(app.local_url, verbose=False)


def restore(client, path, *args):
    args = args or ("mpenet", "degrade", False, 1)
    return client.predict(gradio_client.handle_file(str(path)), *args, api_name="/restore")


def refused(client, path, *args) -> str:
    with pytest.raises(gradio_client.exceptions.AppError) as caught:
        restore(client, path, *args)
    message = str(caught.value)
    assert "upstream Gradio app has raised an exception" not in message
    assert tempfile.gettempdir() + "/" not in message and "/gradio/" not in message, message
    return message


def test_a_text_file_named_png_is_refused_by_name(client, tmp_path):
    path = tmp_path / "holiday.png"
    path.write_text("not a picture at all")
    message = refused(client, path)
    assert message.startswith("holiday.png: not a recognised image format")


def test_an_empty_file_is_refused(client, tmp_path):
    path = tmp_path / "empty.jpg"
    path.write_bytes(b"")
    message = refused(client, path)
    assert "empty.jpg" in message and "empty" in message.lower()


def test_a_decompression_bomb_is_refused_before_it_is_decoded(client, tmp_path):
    path = tmp_path / "bomb.png"
    Image.new("1", (20000, 20000)).save(path)  # 400 megapixels in a file of a few kB
    assert path.stat().st_size < 200_000
    message = refused(client, path)
    assert message == "bomb.png: the image is 400.0 megapixels, more than the limit of 50.0 megapixels"


@pytest.mark.parametrize(("args", "expected"), [
    (("mpenet", "degrade", False, "abc"), "face to show must be a number, got 'abc'"),
    (("mpenet", "degrade", False, 0), "face to show must be between 1 and 10000"),
    (("mpenet", "degrade", False, 1.5), "face to show must be a whole number"),
    ((None, "degrade", False, 1), "model must be one of mpenet, mpegan, igcn, got None"),
    (("au-detector", "degrade", False, 1), "model must be one of mpenet, mpegan, igcn, got 'au-detector'"),
    (("mpenet", "sideways", False, 1), "input must be one of degrade, as_given"),
    (("mpenet", "degrade", "yes", 1), "aligned face crop must be true or false"),
])
def test_bad_controls_get_faceforges_message(client, args, expected):
    from faceforge.demo.examples import example_path

    assert expected in refused(client, example_path("synthetic-aligned.png"), *args)


def test_a_server_path_cannot_be_named(app):
    """A raw API call (no upload) that names a file on the server is refused; the file is never read."""
    import httpx

    data = [{"path": "/etc/hostname", "meta": {"_type": "gradio.FileData"}}, "mpenet", "degrade", False, 1]
    event = httpx.post(f"{app.local_url}gradio_api/call/restore", json={"data": data}, timeout=30).json()
    stream = httpx.get(f"{app.local_url}gradio_api/call/restore/{event['event_id']}", timeout=60).text
    assert "event: error" in stream and "complete" not in stream.split("event: error")[0]
    assert "not a recognised image" not in stream  # never opened


def test_a_16_bit_grayscale_photo_is_restored_as_the_command_line_restores_it(client, tmp_path):
    from skimage import data

    from faceforge.pipelines import restore_photo

    gray = (np.asarray(Image.fromarray(data.astronaut()).convert("L"), np.float64) * 257).astype(np.uint16)
    path = tmp_path / "astronaut16.png"
    Image.fromarray(gray).save(path)
    assert Image.open(path).mode.startswith("I")
    *_, status = restore(client, path)
    assert status.startswith("1 face found")
    import faceforge

    cli_result = restore_photo(path, faceforge.from_pretrained("mpenet"))
    assert len(cli_result.faces) == 1


def test_uploads_over_the_cap_are_refused_and_not_kept(app, tmp_path):
    import httpx

    big = tmp_path / "big.png"
    big.write_bytes(b"\x89PNG" + bytes(3 * 2**20))  # 3 MB, over the 2 MB cap of this app
    with big.open("rb") as f:
        response = httpx.post(f"{app.local_url}gradio_api/upload", files={"files": ("big.png", f, "image/png")},
                              timeout=30)
    assert response.status_code == 413, response.text


def test_stored_uploads_and_outputs_are_deleted_after_their_age(client, app):
    from faceforge.demo.examples import example_path

    assert app.delete_cache == (1, 3)  # every second, what is older than 3 s
    outputs = restore(client, example_path("synthetic-aligned.png"), "mpenet", "degrade", True, 1)
    pasted = Path(outputs[5])
    kept = {f for block in app.blocks.values() for f in getattr(block, "keep_in_cache", set())}  # the examples
    stored = [p for fs in app.temp_file_sets for p in fs if p not in kept]
    assert stored, "the app stored no file"
    deadline = time.time() + 30
    while time.time() < deadline and any(Path(p).exists() for p in stored):
        time.sleep(1)
    assert not any(Path(p).exists() for p in stored), "files older than the cache age were kept"
    assert pasted.exists()  # the client's own download is the client's


def test_no_connection_leaves_the_machine_at_import_or_launch(tmp_path):
    """Import faceforge's app, build and launch it, answer a request: every connection attempt and name lookup is
    recorded, and only loopback may appear."""
    script = textwrap.dedent("""
        import json, socket
        attempts = []
        real_connect, real_getaddrinfo = socket.socket.connect, socket.getaddrinfo

        def host_of(address):
            return address[0] if isinstance(address, tuple) else str(address)

        def local(host):
            return host in ("localhost", "::1", "") or str(host).startswith("127.") or str(host).startswith("/")

        def connect(self, address):
            if self.family in (socket.AF_INET, socket.AF_INET6) and not local(host_of(address)):
                attempts.append(("connect", host_of(address)))
                raise OSError("network blocked by the test")
            return real_connect(self, address)

        def getaddrinfo(host, *args, **kwargs):
            if host is not None and not local(host):
                attempts.append(("lookup", host))
                raise socket.gaierror("network blocked by the test")
            return real_getaddrinfo(host, *args, **kwargs)

        socket.socket.connect, socket.getaddrinfo = connect, getaddrinfo
        import httpx
        from faceforge.demo import launch_app
        app = launch_app(prevent_thread_lock=True, server_name="127.0.0.1")
        page = httpx.get(app.local_url, timeout=30)
        config = httpx.get(app.local_url + "config", timeout=30)
        app.close()
        print(json.dumps({"attempts": attempts, "page": page.status_code, "config": config.status_code,
                           "fonts": "fonts.googleapis" in config.text}))
    """)
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "PYTHONPATH": str(ROOT),
           "XDG_CACHE_HOME": str(Path.home() / ".cache"), "HF_HOME": str(tmp_path / "hf")}
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=240,
                          cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["attempts"] == [] and report["page"] == 200 and report["config"] == 200
    assert not report["fonts"], "the theme would have browsers fetch fonts from Google"

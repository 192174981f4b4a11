"""The Hub without the internet: a tiny Hub on 127.0.0.1, the cache offline, model cards, ``faceforge push``.

``FakeHub`` speaks just what ``snapshot_download``/``hf_hub_download`` need for a public model repo: the repo
info API (``/api/models/{repo}/revision/{rev}``: sha and siblings), the tree API
(``/api/models/{repo}/tree/{rev}``) and ``/{repo}/resolve/{rev}/{filename}`` with HEAD support and the
``X-Repo-Commit``/``ETag``/``Content-Length`` headers, and the Hub's ``X-Error-Code`` on 404s.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import socket
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

import huggingface_hub
import numpy as np
import pytest
import torch
from huggingface_hub import ModelCard
from huggingface_hub.repocard import metadata_load

import faceforge
from faceforge import hub, resolve
from faceforge.cli import main
from faceforge.modeling import ModelLoadError
from faceforge.models.expression import ExpressionClassifier

REPO = "faceforge-test/tiny-expression"


def git_blob_sha1(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


class FakeHub:
    """A thread serving model repos (repo id -> files of a folder) the way the Hub's HTTP API does."""

    def __init__(self) -> None:
        self.repos: dict[str, tuple[str, dict[str, bytes]]] = {}
        self.requests: list[tuple[str, str]] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def do_HEAD(self) -> None:
                fake.answer(self, with_body=False)

            def do_GET(self) -> None:
                fake.answer(self, with_body=True)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def add_repo(self, repo_id: str, folder: Path) -> str:
        files = {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}
        blobs = json.dumps({name: git_blob_sha1(data) for name, data in files.items()})
        commit = hashlib.sha1(blobs.encode()).hexdigest()
        self.repos[repo_id] = (commit, files)
        return commit

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def answer(self, request: BaseHTTPRequestHandler, *, with_body: bool) -> None:
        self.requests.append((request.command, request.path))
        parts = unquote(urlsplit(request.path).path).strip("/").split("/")
        if parts[:2] == ["api", "models"] and len(parts) >= 6 and parts[4] in ("revision", "tree"):
            repo_id, route, revision = "/".join(parts[2:4]), parts[4], parts[5]
        elif len(parts) >= 5 and parts[2] == "resolve":
            repo_id, route, revision, filename = "/".join(parts[:2]), "resolve", parts[3], "/".join(parts[4:])
        else:
            return self.send(request, 404, {"error": "not found"}, with_body=with_body)
        if repo_id not in self.repos:
            return self.send(request, 404, {"error": "Repository not found"}, with_body=with_body,
                             headers={"X-Error-Code": "RepoNotFound",
                                      "X-Error-Message": "Repository not found"})
        commit, files = self.repos[repo_id]
        if revision not in ("main", commit):
            return self.send(request, 404, {"error": "Invalid rev id"}, with_body=with_body,
                             headers={"X-Error-Code": "RevisionNotFound",
                                      "X-Error-Message": "Invalid rev id"})
        if route == "revision":
            info = {"id": repo_id, "modelId": repo_id, "sha": commit, "private": False,
                    "siblings": [{"rfilename": name} for name in files]}
            return self.send(request, 200, info, with_body=with_body)
        if route == "tree":
            tree = [{"type": "file", "path": name, "size": len(data), "oid": git_blob_sha1(data)}
                    for name, data in files.items()]
            return self.send(request, 200, tree, with_body=with_body)
        if filename not in files:
            return self.send(request, 404, {"error": "Entry not found"}, with_body=with_body,
                             headers={"X-Error-Code": "EntryNotFound", "X-Repo-Commit": commit})
        data = files[filename]
        return self.send(request, 200, data, with_body=with_body,
                         headers={"X-Repo-Commit": commit, "ETag": f'"{git_blob_sha1(data)}"',
                                  "Content-Type": "application/octet-stream"})

    @staticmethod
    def send(request, status: int, payload, *, with_body: bool,
             headers: dict[str, str] | None = None) -> None:
        data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        request.send_response(status)
        for key, value in {"Content-Type": "application/json", **(headers or {})}.items():
            request.send_header(key, value)
        request.send_header("Content-Length", str(len(data)))
        request.end_headers()
        if with_body:
            request.wfile.write(data)


def closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}"  # nothing listens once the socket is closed


def state_digest(model: torch.nn.Module) -> str:
    h = hashlib.sha256()
    for name, value in sorted(model.state_dict().items()):
        h.update(name.encode() + value.cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


CARD = dict(  # noqa: C408 (keyword form reads like the call it feeds)
    title="faceforge expression classifier (tiny)",
    summary="Eight-expression classifier trained on FaceForge-Synth.",
    pipeline_tag="image-classification",
    datasets=["faceforge/faceforge-synth"],
    metrics=[{"name": "test accuracy", "type": "accuracy", "value": np.float32(0.875),  # a numpy scalar
              "dataset_name": "FaceForge-Synth", "dataset_type": "faceforge/faceforge-synth",
              "dataset_split": "test"},
             {"name": "macro F1", "type": "f1", "value": 0.81, "dataset_name": "FaceForge-Synth",
              "dataset_type": "faceforge/faceforge-synth", "dataset_split": "test"}],
    training={"data": "FaceForge-Synth train split, 4,000 faces", "hardware": "1 CPU core",
              "command": "accelerate launch train/train.py --task expression", "steps": 500},
    tags=["facial-expression-recognition"],
)


@pytest.fixture(scope="module")
def model_folder(tmp_path_factory) -> tuple[ExpressionClassifier, Path]:
    torch.manual_seed(0)
    model = ExpressionClassifier(ExpressionClassifier.tiny_config()).eval()
    folder = tmp_path_factory.mktemp("published")
    model.save_pretrained(folder)
    hub.write_model_card(folder, repo_id=REPO, **CARD)
    return model, folder


@pytest.fixture(scope="module")
def fake_hub(model_folder):
    server = FakeHub()
    server.add_repo(REPO, model_folder[1])
    yield server
    server.close()


@pytest.fixture(scope="module")
def hub_cache(tmp_path_factory, fake_hub, model_folder) -> Path:
    """A Hugging Face cache holding REPO, downloaded from the fake Hub by faceforge.from_pretrained."""
    cache = tmp_path_factory.mktemp("hf_home") / "hub"
    download = functools.partial(huggingface_hub.snapshot_download, endpoint=fake_hub.url)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(resolve, "snapshot_download", download)
        loaded = faceforge.from_pretrained(REPO, cache_dir=cache)
    assert state_digest(loaded) == state_digest(model_folder[0])
    return cache


# --- download and offline cache ----------------------------------------------------------------------
def test_download_from_the_hub_api_gives_the_saved_model(hub_cache, fake_hub, model_folder, monkeypatch):
    calls = {(method, urlsplit(path).path) for method, path in fake_hub.requests}
    assert ("GET", f"/api/models/{REPO}/revision/main") in calls
    assert any(m == "GET" and p.endswith("/model.safetensors") and "/resolve/" in p for m, p in calls)
    snapshot = next((hub_cache / "models--faceforge-test--tiny-expression" / "snapshots").iterdir())
    assert {p.name for p in snapshot.iterdir()} == {"config.json", "model.safetensors", "README.md"}
    ref = hub_cache / "models--faceforge-test--tiny-expression" / "refs" / "main"
    assert ref.read_text() == snapshot.name

    monkeypatch.setattr(resolve, "snapshot_download",
                        functools.partial(huggingface_hub.snapshot_download, endpoint=fake_hub.url))
    loaded = ExpressionClassifier.from_pretrained(REPO, cache_dir=hub_cache)
    assert not loaded.training and loaded.config == model_folder[0].config
    with pytest.raises(ModelLoadError, match="faceforge-test/missing does not exist on the Hub"):
        faceforge.from_pretrained("faceforge-test/missing", cache_dir=hub_cache)
    with pytest.raises(ModelLoadError, match="has no revision 'v9'"):
        faceforge.from_pretrained(REPO, cache_dir=hub_cache, revision="v9")


def test_cached_repo_loads_with_no_request_and_uncached_fails_clearly(hub_cache, fake_hub, model_folder):
    before = len(fake_hub.requests)
    loaded = faceforge.from_pretrained(REPO, cache_dir=hub_cache, local_files_only=True)
    assert state_digest(loaded) == state_digest(model_folder[0])
    with pytest.raises(ModelLoadError, match="faceforge-test/other is not a local folder and is not in the "
                                             "local cache"):
        faceforge.from_pretrained("faceforge-test/other", cache_dir=hub_cache, local_files_only=True)
    assert len(fake_hub.requests) == before


@pytest.mark.slow
def test_hf_hub_offline_loads_from_the_cache_in_a_fresh_process(hub_cache, fake_hub, model_folder):
    """What a user sets: HF_HUB_OFFLINE=1 and HF_HUB_CACHE, read when huggingface_hub is imported."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HF_")}
    env.update(HF_HUB_OFFLINE="1", HF_HUB_CACHE=str(hub_cache), HF_HOME=str(hub_cache.parent),
               HF_ENDPOINT=fake_hub.url, HF_HUB_DISABLE_TELEMETRY="1")
    code = (
        "import hashlib, faceforge\n"
        "from faceforge.modeling import ModelLoadError\n"
        f"m = faceforge.from_pretrained({REPO!r})\n"
        "h = hashlib.sha256()\n"
        "for k, v in sorted(m.state_dict().items()):\n"
        "    h.update(k.encode() + v.contiguous().numpy().tobytes())\n"
        "print(type(m).__name__, m.training, h.hexdigest())\n"
        "try:\n"
        "    faceforge.from_pretrained('faceforge-test/other')\n"
        "except ModelLoadError as err:\n"
        "    print(err)\n"
    )
    before = len(fake_hub.requests)
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                            timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    first, second = result.stdout.splitlines()[:2]
    assert first == f"ExpressionClassifier False {state_digest(model_folder[0])}"
    assert "faceforge-test/other is not a local folder and is not in the local cache" in second
    assert "HF_HUB_OFFLINE" in second
    assert len(fake_hub.requests) == before, "offline mode must not touch the network"


# --- model cards -------------------------------------------------------------------------------------
def test_model_card_front_matter_parses_back(model_folder):
    path = model_folder[1] / "README.md"
    card = ModelCard.load(path)
    assert card.data.library_name == "faceforge"
    assert card.data.pipeline_tag == "image-classification"
    assert card.data.license == "apache-2.0"
    assert card.data.tags == ["faceforge", "facial-expression-recognition"]
    assert card.data.datasets == ["faceforge/faceforge-synth"]
    assert card.data.metrics == ["accuracy", "f1"]
    results = {r.metric_type: r for r in card.data.eval_results}
    assert results["accuracy"].metric_value == 0.875 and results["f1"].metric_value == 0.81
    assert results["accuracy"].dataset_split == "test"
    assert results["accuracy"].dataset_name == "FaceForge-Synth"
    assert results["accuracy"].task_type == "image-classification"

    meta = metadata_load(path)
    index = meta["model-index"][0]
    assert index["name"] == CARD["title"]
    assert index["results"][0]["dataset"] == {"name": "FaceForge-Synth", "type": "faceforge/faceforge-synth",
                                              "split": "test"}
    assert "base_model" not in meta

    text = card.text
    assert f'faceforge.from_pretrained("{REPO}")' in text
    assert "| data | FaceForge-Synth train split, 4,000 faces |" in text
    assert "| hardware | 1 CPU core |" in text
    assert "| test accuracy | 0.875 | FaceForge-Synth | test |" in text


def test_model_card_refuses_missing_facts():
    with pytest.raises(ValueError, match="hardware"):
        hub.render_model_card(**{**CARD, "training": {"data": "FaceForge-Synth"}})
    with pytest.raises(ValueError, match=r"missing \['dataset_type'\].*unknown \['split'\]"):
        hub.render_model_card(**{**CARD, "metrics": [{"name": "acc", "type": "accuracy", "value": 1.0,
                                                      "dataset_name": "x", "split": "test"}]})
    card = hub.render_model_card(**{**CARD, "metrics": [], "base_model": "faceforge/au-detector",
                                    "usage": "print('hi')",
                                    "sections": {"Limitations": "Synthetic faces only."}})
    assert card.data.base_model == "faceforge/au-detector" and card.data.eval_results is None
    assert "```python\nprint('hi')\n```" in card.text
    assert "## Limitations\n\nSynthetic faces only." in card.text


# --- push --------------------------------------------------------------------------------------------
def test_push_dry_run_checks_the_folder_and_lists_the_files(model_folder, capsys):
    assert main(["push", str(model_folder[1]), "--repo-id", REPO, "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "ExpressionClassifier (expression_classifier)" in out
    assert "files: README.md, config.json, model.safetensors" in out and "nothing uploaded" in out


def test_push_creates_the_repo_and_uploads_the_checked_files(model_folder, monkeypatch, capsys):
    calls = []

    class RecordingApi:
        def __init__(self, endpoint=None, token=None):
            calls.append(("init", {"token": token}))
            self.endpoint = endpoint

        def create_repo(self, repo_id, **kwargs):
            calls.append(("create_repo", {"repo_id": repo_id, **kwargs}))

        def upload_folder(self, **kwargs):
            calls.append(("upload_folder", kwargs))
            return f"https://huggingface.co/{kwargs['repo_id']}/commit/abc123"

    monkeypatch.setattr(hub, "HfApi", RecordingApi)
    assert main(["push", str(model_folder[1]), "--repo-id", REPO, "--private", "--token", "hf_test"]) == 0
    assert calls[0] == ("init", {"token": "hf_test"})
    assert calls[1] == ("create_repo",
                        {"repo_id": REPO, "repo_type": "model", "private": True, "exist_ok": True})
    upload = calls[2][1]
    assert upload["repo_id"] == REPO and Path(upload["folder_path"]) == model_folder[1]
    assert upload["allow_patterns"] == ["README.md", "config.json", "model.safetensors"]
    assert upload["commit_message"] == "Upload ExpressionClassifier (expression_classifier) with faceforge"
    assert f"https://huggingface.co/{REPO}/commit/abc123" in capsys.readouterr().out


def test_push_without_a_network_fails_with_a_clear_message(model_folder, monkeypatch, capsys):
    unreachable = closed_port_url()
    real_api = hub.HfApi
    monkeypatch.setattr(hub, "HfApi",
                        lambda endpoint=None, **kw: real_api(endpoint=endpoint or unreachable, **kw))
    assert main(["push", str(model_folder[1]), "--repo-id", REPO, "--token", "hf_test"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("faceforge push: error: cannot reach the Hugging Face Hub at " + unreachable)
    assert "nothing was uploaded" in err and "Traceback" not in err


def test_push_refuses_incomplete_folders(model_folder, tmp_path, capsys):
    folder = tmp_path / "m"
    model_folder[0].save_pretrained(folder)  # the short default card: no pipeline_tag, no results
    assert main(["push", str(folder), "--repo-id", REPO]) == 2
    assert "front matter lacks ['pipeline_tag']" in capsys.readouterr().err

    (folder / "README.md").unlink()
    with pytest.raises(hub.PushError, match="no README.md model card"):
        hub.check_model_folder(folder)

    hub.write_model_card(folder, **CARD)
    (folder / "optimizer.pt").write_bytes(b"pickle")
    with pytest.raises(hub.PushError, match=r"pickled files \['optimizer.pt'\]"):
        hub.check_model_folder(folder)
    (folder / "optimizer.pt").unlink()

    (folder / "model.safetensors").write_bytes(b"broken")
    with pytest.raises(hub.PushError, match="cannot be published: .*not a readable safetensors file"):
        hub.check_model_folder(folder)
    with pytest.raises(hub.PushError, match="ORG/NAME"):
        hub.push_model_folder(folder, "just-a-name")

"""The Hugging Face Space: ``spaces/build_space.py`` writes a folder that deploys from local files alone.

The slow test builds the Space, installs its ``requirements.txt`` into a fresh virtual environment with no index
(``--system-site-packages``: torch, gradio and the rest come from this machine instead of downloads), and builds
the app from the Space's ``app.py`` in that environment with the network blocked, checking that faceforge and the
weights are the Space's own copies and not this checkout's (installed editable here).
"""

from __future__ import annotations

import base64
import csv
import hashlib
import importlib.metadata
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from packaging.specifiers import SpecifierSet

REPO = Path(__file__).resolve().parents[1]
TEMPLATE = REPO / "spaces" / "faceforge"
BUILD_SCRIPT = REPO / "spaces" / "build_space.py"


def _build_module():
    spec = importlib.util.spec_from_file_location("build_space", BUILD_SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _requirement_lines(path: Path) -> list[str]:
    """The lines of a requirements file that ask for something (comments and blank lines dropped)."""
    lines = (line.split(" #", 1)[0].strip() for line in path.read_text().splitlines())
    return [line for line in lines if line and not line.startswith("#")]


def _front_matter(readme: Path) -> dict:
    return yaml.safe_load(readme.read_text().split("---", 2)[1])


def test_committed_space_requirements_do_not_name_faceforge():
    """A bare ``faceforge`` is not on PyPI (the build fails) and would install whoever publishes the name."""
    lines = _requirement_lines(TEMPLATE / "requirements.txt")
    assert not [line for line in lines if "faceforge" in line.lower()]
    assert "build_space.py" in (TEMPLATE / "requirements.txt").read_text()


def test_space_readme_python_meets_faceforge_floor():
    python = str(_front_matter(TEMPLATE / "README.md")["python_version"])
    requires = importlib.metadata.metadata("faceforge")["Requires-Python"]
    assert python in SpecifierSet(requires), (python, requires)


def test_build_refuses_foreign_out_folder(tmp_path):
    (tmp_path / "notes.txt").write_text("keep me")
    with pytest.raises(SystemExit, match="not an earlier Space build"):
        _build_module().main(["--out", str(tmp_path)])
    assert (tmp_path / "notes.txt").read_text() == "keep me"
    with pytest.raises(SystemExit, match="overwrite the repository"):
        _build_module().main(["--out", str(REPO / "faceforge")])


# Run in the Space's environment with the Space folder as working directory, as `python app.py` runs there.
DRIVER = r"""
import importlib.metadata, json, socket, sys
from pathlib import Path

attempts = []
_connect, _connect_ex = socket.socket.connect, socket.socket.connect_ex


def _blocked(method):
    def guarded(self, address):
        if self.family in (socket.AF_INET, socket.AF_INET6):
            attempts.append(repr(address))
            raise OSError(f"network blocked by the Space test: {address}")
        return method(self, address)
    return guarded


socket.socket.connect, socket.socket.connect_ex = _blocked(_connect), _blocked(_connect_ex)

import app  # the Space's app.py: builds the app object, launches nothing

import gradio as gr
import faceforge
from faceforge.demo.models import default_models, get_model, model_id
from faceforge.resolve import resolve_model_folder

roles = default_models()
print(json.dumps({
    "prefix": sys.prefix,
    "base_prefix": sys.base_prefix,
    "sys_path": sys.path,
    "faceforge_file": str(Path(faceforge.__file__).resolve()),
    "faceforge_version": faceforge.__version__,
    "dist_files": str(Path(importlib.metadata.distribution("faceforge").locate_file("")).resolve()),
    "dist_version": importlib.metadata.version("faceforge"),
    "demo_is_blocks": isinstance(app.demo, gr.Blocks),
    "models": {role: str(resolve_model_folder(model_id(role))) for role in roles},
    "loaded": {role: type(get_model(role)).__name__ for role in roles},
    "network_attempts": attempts,
}))
"""


def _clean_env(tmp_path: Path) -> dict[str, str]:
    """This environment without anything that points Python at the checkout or the models elsewhere; offline."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "VIRTUAL_ENV", "PIP_INDEX_URL",
                        "PIP_EXTRA_INDEX_URL", "PIP_FIND_LINKS")
           and not (k.startswith("FACEFORGE_") and k.endswith("_MODEL"))}
    env.update(HF_HUB_OFFLINE="1", GRADIO_ANALYTICS_ENABLED="False", PIP_DISABLE_PIP_VERSION_CHECK="1",
               PIP_NO_INPUT="1", HF_HOME=str(tmp_path / "hf-home"), FACEFORGE_CACHE=str(tmp_path / "cache"))
    return env


def _run(cmd: list, *, cwd: Path, env: dict, timeout: float) -> subprocess.CompletedProcess:
    done = subprocess.run([str(c) for c in cmd], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"{cmd} failed:\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}"
    return done


def _check_record(space: Path) -> None:
    """Every file the wheel's RECORD lists is in the Space with its hash, and faceforge/ holds nothing else."""
    (record,) = space.glob("faceforge-*.dist-info/RECORD")
    listed = set()
    with record.open(newline="") as f:
        for name, digest, _size in csv.reader(f):
            listed.add(name)
            if not digest:  # RECORD itself
                continue
            algorithm, expected = digest.split("=", 1)
            actual = base64.urlsafe_b64encode(hashlib.new(algorithm, (space / name).read_bytes()).digest())
            assert actual.rstrip(b"=").decode() == expected, name
    shipped = {p.relative_to(space).as_posix() for p in (space / "faceforge").rglob("*") if p.is_file()}
    assert shipped <= listed, sorted(shipped - listed)
    assert "faceforge/demo/__init__.py" in listed


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_space_builds_installs_offline_and_starts(tmp_path):
    env = _clean_env(tmp_path)
    space = tmp_path / "space"
    _run([sys.executable, BUILD_SCRIPT, "--out", space, "--allow-uncommitted"], cwd=tmp_path, env=env, timeout=300)

    # What the Space says about where faceforge and the weights come from.
    record = json.loads((space / "space_build.json").read_text())
    models = record["models"]
    assert set(models) == {"au", "expression", "mpenet", "mpegan", "igcn", "igcn_baseline", "fsrfer", "editor",
                           "magnifier"}
    requirements = _requirement_lines(space / "requirements.txt")
    assert requirements and not [line for line in requirements if "faceforge" in line.lower()]
    header = (space / "requirements.txt").read_text()
    assert record["wheel"]["sha256"] in header and (record["git_commit"] or "outside git") in header
    front = _front_matter(space / "README.md")
    assert str(front["sdk_version"]) == importlib.metadata.version("gradio")
    assert str(front["python_version"]) in SpecifierSet(record["requires_python"])
    assert set(front["models"]) == {f"faceforge/{name}" for name in models.values()}
    assert (space / "app.py").read_bytes() == (TEMPLATE / "app.py").read_bytes()
    _check_record(space)
    for name in models.values():
        for file in ("config.json", "model.safetensors"):
            assert (space / "hub_cards" / name / file).read_bytes() == (REPO / "hub_cards" / name / file).read_bytes()
    assert "*.safetensors filter=lfs" in (space / ".gitattributes").read_text()

    # A fresh environment; the Space's requirements resolve from this machine's files, with no index.
    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", "--system-site-packages", venv], cwd=tmp_path, env=env, timeout=180)
    python = venv / "bin" / "python"
    _run([python, "-m", "pip", "install", "--no-index", "--no-deps", "-r", "requirements.txt"], cwd=space,
         env=env, timeout=180)

    # The app object from the Space's app.py, in that environment, offline.
    done = _run([python, "-c", DRIVER], cwd=space, env=env, timeout=300)
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert Path(seen["prefix"]) == venv and seen["prefix"] != seen["base_prefix"]
    assert not [p for p in seen["sys_path"] if p and Path(p).resolve().is_relative_to(REPO)], seen["sys_path"]
    assert Path(seen["faceforge_file"]) == space / "faceforge" / "__init__.py"
    assert Path(seen["dist_files"]) == space and seen["dist_version"] == seen["faceforge_version"]
    assert seen["faceforge_version"] == record["faceforge_version"]
    assert seen["demo_is_blocks"]
    assert seen["models"] == {role: str(space / "hub_cards" / name) for role, name in models.items()}
    assert set(seen["loaded"]) == set(models) and all(seen["loaded"].values())
    assert seen["network_attempts"] == []

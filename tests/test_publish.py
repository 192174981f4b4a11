"""train/publish.py: a run's model becomes a checked fp16 hub_cards/ folder whose card loads by the shipped name."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest
import torch

import faceforge
from faceforge.models.au_detector import AUDetector

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture()
def publish(tmp_path, monkeypatch):
    spec = importlib.util.spec_from_file_location("publish", ROOT / "train" / "publish.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    monkeypatch.setattr(module, "HUB_CARDS", tmp_path / "hub_cards")
    return module


def run_model(folder: Path) -> AUDetector:
    torch.manual_seed(0)
    model = AUDetector(AUDetector.tiny_config()).eval()
    model.save_pretrained(folder)
    (folder / "README.md").write_text('# card\n\n```python\nmodel = faceforge.from_pretrained("path/to/this/folder")'
                                      '  # or a Hub id\n```\n')
    return model


def test_publish_writes_fp16_weights_that_match_and_a_card_naming_the_shipped_model(publish, tmp_path, monkeypatch):
    model = run_model(tmp_path / "run" / "model")
    monkeypatch.setattr(sys, "argv", ["publish.py", str(tmp_path / "run" / "model"), "au-tiny"])
    publish.main()
    out = tmp_path / "hub_cards" / "au-tiny"
    shipped = faceforge.from_pretrained(out)
    assert all(v.dtype == torch.float32 for v in shipped.state_dict().values() if v.is_floating_point())
    faces = torch.rand(2, 3, 128, 128)
    with torch.no_grad():
        assert torch.allclose(model(faces), shipped(faces), atol=1e-2)
    card = (out / "README.md").read_text()
    assert 'from_pretrained("au-tiny")  # hub_cards/au-tiny offline, else faceforge/au-tiny' in card
    assert "path/to/this/folder" not in card
    from safetensors import safe_open

    with safe_open(out / "model.safetensors", "pt") as f:
        assert {f.get_tensor(k).dtype for k in f.keys() if f.get_tensor(k).is_floating_point()} == {torch.float16}


def test_publish_refuses_when_fp16_changes_the_outputs(publish, tmp_path, monkeypatch):
    run_model(tmp_path / "run" / "model")
    monkeypatch.setattr(sys, "argv", ["publish.py", str(tmp_path / "run" / "model"), "au-tiny", "--tolerance", "0"])
    with pytest.raises(SystemExit, match="publish with --dtype float32"):
        publish.main()


def test_publish_checks_an_editor_on_faces_and_its_own_example_aus(publish, tmp_path, monkeypatch, capsys):
    from faceforge.models.efgan import CascadeEFGAN

    torch.manual_seed(0)
    model = CascadeEFGAN(CascadeEFGAN.tiny_config()).eval()
    model.save_pretrained(tmp_path / "run" / "model")
    monkeypatch.setattr(sys, "argv", ["publish.py", str(tmp_path / "run" / "model"), "editor-tiny"])
    publish.main()
    assert "largest output difference to the run's model" in capsys.readouterr().out
    shipped = faceforge.from_pretrained(tmp_path / "hub_cards" / "editor-tiny")
    inputs = model.example_inputs(2, seed=3)
    with torch.no_grad():
        assert torch.allclose(model.edit(*inputs), shipped.edit(*inputs), atol=1e-2)


def test_publish_checks_a_groupgan_on_faces_at_its_classifiers_side(publish, tmp_path, monkeypatch, capsys):
    from tests.model_helpers import trained_like

    model = trained_like("groupgan")  # its classifier takes 32x32 faces
    model.save_pretrained(tmp_path / "run" / "model")
    assert publish.test_inputs(model, count=2).shape == (2, 3, 32, 32)
    monkeypatch.setattr(sys, "argv", ["publish.py", str(tmp_path / "run" / "model"), "magnifier-tiny"])
    publish.main()
    assert "largest output difference to the run's model" in capsys.readouterr().out
    assert faceforge.from_pretrained(tmp_path / "hub_cards" / "magnifier-tiny").config.variant == "2v2"

"""Shipped models: short names resolve to hub_cards/ offline; every shipped folder loads and has a real card."""

from __future__ import annotations

import pytest
import torch
from huggingface_hub import ModelCard

import faceforge
from faceforge import resolve, shipped
from faceforge.models.au_detector import AUDetector


def test_short_names_load_the_local_hub_cards_folder(tmp_path, monkeypatch):
    model = AUDetector(AUDetector.tiny_config())
    model.save_pretrained(tmp_path / "au-detector")
    monkeypatch.setattr(resolve, "HUB_CARDS", tmp_path)
    loaded = faceforge.from_pretrained("au-detector")
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), loaded.state_dict().values()))


def test_short_names_fall_back_to_the_hub_id(tmp_path, monkeypatch):
    monkeypatch.setattr(resolve, "HUB_CARDS", tmp_path)
    assert shipped.shipped_location("au-evaluator") == "faceforge/au-evaluator"
    assert shipped.shipped_location("not-a-model") is None


SHIPPED_PRESENT = [n for n in shipped.SHIPPED_MODELS if (shipped.HUB_CARDS / n / "config.json").is_file()]


@pytest.mark.parametrize("name", SHIPPED_PRESENT)
def test_every_shipped_model_loads_and_has_a_card_with_test_results(name):
    model = faceforge.from_pretrained(name)
    assert not model.training
    size = (shipped.HUB_CARDS / name / "model.safetensors").stat().st_size
    # 25 MiB, and 30 MiB for the restoration models, whose AU branch is a full ResNet-18 (11.2 M of 15 M).
    assert size <= (30 if name in ("mpenet", "mpegan") else 25) * 2**20
    card = ModelCard.load(shipped.HUB_CARDS / name / "README.md")
    assert card.data.library_name == "faceforge" and card.data.pipeline_tag
    results = card.data.eval_results
    assert results and all(r.dataset_split.startswith("test") for r in results)
    assert "FaceForge-Synth" in card.text
    out = model(*model.example_inputs(2))
    out = (out["sr"] if "sr" in out else out["out"]) if isinstance(out, dict) else out  # restorers, editors
    assert torch.isfinite(out).all()


# The run config that trained each shipped model (its card's command) still describes the shipped network: the
# network config nested in the task's options matches config.json, but for what the data and calibration set.
TRAINED_BY = {"au-detector": "au_detector", "au-evaluator": "au_evaluator",
              "au-evaluator-robust": "au_evaluator_robust",
              "expression-classifier": "expression_classifier", "expression-evaluator": "expression_evaluator",
              "face-alignment": "face_alignment", "mpenet": "mpenet_cpu", "covpoolfer": "covpoolfer_cpu",
              "igcn": "igcn_cpu"}
FROM_DATA = {"model_type", "aus", "thresholds", "classes", "au_backbone", "au_image_size", "au_drop_rate"}


@pytest.mark.parametrize("name", [n for n in TRAINED_BY if n in SHIPPED_PRESENT])
def test_the_training_config_still_builds_the_shipped_network(name):
    import dataclasses

    from faceforge.resolve import read_config
    from faceforge.training.tasks import load_run

    shipped_config = read_config(resolve.HUB_CARDS / name)
    run = load_run(f"train/configs/{TRAINED_BY[name]}.yaml")
    assert f"--config train/configs/{TRAINED_BY[name]}.yaml" in (resolve.HUB_CARDS / name / "README.md").read_text()
    built = dataclasses.asdict(run.options.net)
    differing = {k: (built[k], shipped_config[k]) for k in built
                 if k not in FROM_DATA and k in shipped_config and built[k] != shipped_config[k]
                 and not (isinstance(built[k], tuple) and list(built[k]) == shipped_config[k])}
    assert not differing
    assert set(built) - FROM_DATA <= set(shipped_config)

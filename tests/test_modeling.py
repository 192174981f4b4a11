"""Every registered model builds, runs, saves and reloads exactly; every broken folder fails clearly."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Literal

import pytest
import torch
from model_helpers import trained_like
from safetensors.torch import load_file, save_file

import faceforge
from faceforge.modeling import FaceForgeModel, ModelConfig, ModelLoadError
from faceforge.models.au_detector import AUDetector, AUDetectorConfig
from faceforge.models.expression import ExpressionClassifier, ExpressionClassifierConfig

# The checks every registered network passes (forward shapes, backward, round trips) are in test_registry.py.






def assert_identical(a: torch.nn.Module, b: torch.nn.Module) -> None:
    for kind in ("named_parameters", "named_buffers"):
        left, right = dict(getattr(a, kind)()), dict(getattr(b, kind)())
        assert left.keys() == right.keys(), kind
        for name, value in left.items():
            assert value.dtype == right[name].dtype, name
            assert torch.equal(value, right[name]), f"{kind} {name} differs"


@pytest.fixture(scope="module")
def saved(tmp_path_factory) -> tuple[FaceForgeModel, Path]:
    """A small saved model (ExpressionClassifier) to break in the error tests."""
    model = trained_like("expression_classifier")
    folder = tmp_path_factory.mktemp("expression")
    model.save_pretrained(folder)
    return model, folder


def copy_folder(folder: Path, dest: Path) -> Path:
    dest.mkdir()
    for f in folder.iterdir():
        (dest / f.name).write_bytes(f.read_bytes())
    return dest


# --- configs ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("make, field", [
    (lambda: AUDetectorConfig(image_size=16), "image_size"),
    (lambda: AUDetectorConfig(backbone="no_such_net"), "backbone"),
    (lambda: AUDetectorConfig(aus=()), "aus"),
    (lambda: AUDetectorConfig(image_size="128"), "image_size"),
    (lambda: AUDetectorConfig(image_size=True), "image_size"),
    (lambda: AUDetectorConfig(aus=(1, "AU2")), "aus"),
    (lambda: AUDetectorConfig(threshold="high"), "threshold"),
    (lambda: ExpressionClassifierConfig(layout="vgg99"), "layout"),
    (lambda: ExpressionClassifierConfig(width=0.0), "width"),
    (lambda: ExpressionClassifierConfig(classes=("happiness",)), "classes"),
    (lambda: ExpressionClassifierConfig(classes=("a", 2)), "classes"),
])
def test_configs_refuse_bad_values_naming_the_field(make, field):
    with pytest.raises(ValueError, match=field):
        make()


def test_config_type_checks_cover_literals_optionals_and_nested_tuples():
    @dataclasses.dataclass
    class ToyConfig(ModelConfig):
        model_type: str = "toy"
        mode: Literal["a", "b"] = "a"
        scale: float = 1
        pairs: tuple[tuple[int, int], ...] = ((1, 2),)
        extra: int | None = None

    config = ToyConfig.from_dict({"model_type": "toy", "pairs": [[3, 4], [5, 6]], "scale": 2})
    assert config.pairs == ((3, 4), (5, 6)) and config.scale == 2.0 and isinstance(config.scale, float)
    assert ToyConfig(extra=3).extra == 3
    for bad in ({"mode": "c"}, {"pairs": ((1, 2, 3),)}, {"extra": "3"}, {"scale": None}):
        with pytest.raises(ValueError):
            ToyConfig(**bad)
    with pytest.raises(ModelLoadError, match="not a valid ToyConfig"):
        ToyConfig.from_dict({"mode": "c"})


def test_model_refuses_another_config_class():
    with pytest.raises(TypeError, match="AUDetectorConfig"):
        AUDetector(ExpressionClassifier.tiny_config())


# --- clear errors for broken folders -----------------------------------------------------------------
def edit_config(folder: Path, **changes) -> None:
    path = folder / "config.json"
    config = json.loads(path.read_text())
    config.update(changes)
    path.write_text(json.dumps(config))


def test_unknown_model_type(saved, tmp_path):
    folder = copy_folder(saved[1], tmp_path / "m")
    edit_config(folder, model_type="style_transfer_9000")
    with pytest.raises(ModelLoadError, match=r"unknown model_type 'style_transfer_9000'.*au_detector"):
        faceforge.from_pretrained(folder)


def test_missing_weights(saved, tmp_path):
    folder = copy_folder(saved[1], tmp_path / "m")
    (folder / "model.safetensors").unlink()
    with pytest.raises(ModelLoadError, match="no weights file model.safetensors"):
        faceforge.from_pretrained(folder)


@pytest.mark.parametrize("damage", ["garbage", "truncated", "empty"])
def test_corrupt_weights(saved, tmp_path, damage):
    folder = copy_folder(saved[1], tmp_path / "m")
    weights = folder / "model.safetensors"
    data = weights.read_bytes()
    weights.write_bytes({"garbage": b"not a tensor file" * 10, "truncated": data[: len(data) // 2],
                         "empty": b""}[damage])
    with pytest.raises(ModelLoadError, match="not a readable safetensors file"):
        faceforge.from_pretrained(folder)


def test_shape_mismatch_between_config_and_weights(saved, tmp_path):
    folder = copy_folder(saved[1], tmp_path / "m")
    edit_config(folder, width=0.125)  # twice the channels the weights were saved with
    with pytest.raises(ModelLoadError, match=r"wrong shape.*stages\.1\.0\.weight: "
                                             r"file \(8, 8, 3, 3\) vs model \(16, 8, 3, 3\)"):
        faceforge.from_pretrained(folder)


def test_missing_and_unexpected_tensors(saved, tmp_path):
    folder = copy_folder(saved[1], tmp_path / "m")
    state = load_file(str(folder / "model.safetensors"))
    state.pop("head.1.bias")
    state["head.2.weight"] = torch.zeros(1)
    save_file(state, str(folder / "model.safetensors"))
    with pytest.raises(ModelLoadError, match=r"missing tensors \['head\.1\.bias'\].*unexpected tensors "
                                             r"\['head\.2\.weight'\]"):
        faceforge.from_pretrained(folder)


def test_config_from_a_newer_faceforge(saved, tmp_path):
    folder = copy_folder(saved[1], tmp_path / "m")
    edit_config(folder, faceforge_version="99.0.0")
    with pytest.raises(ModelLoadError, match=r"written by faceforge 99\.0\.0, newer than this .*upgrade"):
        faceforge.from_pretrained(folder)
    edit_config(folder, faceforge_version=faceforge.__version__, attention_heads=4)
    with pytest.raises(ModelLoadError, match=r"does not know the config keys \['attention_heads'\].*newer"):
        faceforge.from_pretrained(folder)


@pytest.mark.parametrize("content, message", [
    (None, "has no config.json"),
    ("{not json", "not valid JSON"),
    ('{"width": 0.25}', "has no model_type"),
    ('{"model_type": "expression_classifier", "width": -1}', "not a valid ExpressionClassifierConfig.*width"),
])
def test_broken_config(saved, tmp_path, content, message):
    folder = copy_folder(saved[1], tmp_path / "m")
    if content is None:
        (folder / "config.json").unlink()
    else:
        (folder / "config.json").write_text(content)
    with pytest.raises(ModelLoadError, match=message):
        faceforge.from_pretrained(folder)


def test_class_from_pretrained_refuses_another_model(saved):
    with pytest.raises(ModelLoadError, match="holds a 'expression_classifier' model, not AUDetector"):
        AUDetector.from_pretrained(saved[1])
    with pytest.raises(ModelLoadError, match="base class.*faceforge.from_pretrained"):
        FaceForgeModel.from_pretrained(saved[1])
    with pytest.raises(ValueError, match="strictly"):
        ExpressionClassifier.from_pretrained(saved[1], strict=False)
    with pytest.raises(TypeError, match="width"):
        ExpressionClassifier.from_pretrained(saved[1], width=2.0)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_map_location_puts_the_loaded_model_on_the_gpu(saved):
    model, folder = saved
    loaded = faceforge.from_pretrained(folder, map_location="cuda")
    assert {p.device.type for p in loaded.parameters()} == {"cuda"}
    assert all(b.device.type == "cuda" for b in loaded.buffers())
    cpu = {k: v.cpu() for k, v in loaded.state_dict().items()}
    assert all(torch.equal(cpu[k], v) for k, v in model.state_dict().items())


@pytest.mark.parametrize("name, message", [
    ("./no/such/folder", "no model folder ./no/such/folder"),
    ("org/name/extra", "no model folder"),
    ("org/bad name", "neither a model folder nor a Hub repo id"),
])
def test_neither_folder_nor_repo_id(name, message):
    with pytest.raises(ModelLoadError, match=message):
        faceforge.from_pretrained(name)


def test_a_file_instead_of_a_folder(saved):
    with pytest.raises(ModelLoadError, match="is a file; pass the folder"):
        faceforge.from_pretrained(saved[1] / "model.safetensors")


def test_au_detector_decides_with_its_per_au_thresholds():
    from faceforge.models.au_detector import AUDetector, AUDetectorConfig

    config = AUDetector.tiny_config()
    with pytest.raises(ValueError, match="one value per AU"):
        AUDetectorConfig(backbone="resnet10t", image_size=32, thresholds=(0.5, 0.5))
    n = len(config.aus)
    model = AUDetector(dataclasses.replace(config, thresholds=tuple(0.01 if i % 2 else 0.99 for i in range(n))))
    with torch.no_grad():
        model.net.fc.weight.zero_()
        model.net.fc.bias.zero_()  # every probability is 0.5
    out = model.predict(torch.rand(2, 3, 32, 32))
    assert torch.equal(out["occurrence"][0], torch.tensor([float(i % 2) for i in range(n)]))

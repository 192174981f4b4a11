"""Model folders with a hostile or corrupt config.json or weights are refused with a ModelLoadError before any
memory is spent on them; every shipped model still loads."""

from __future__ import annotations

import dataclasses
import json
import math
import resource
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

import faceforge
from faceforge import shipped
from faceforge.errors import ModelLoadError
from faceforge.modeling import MAX_NETWORK_VALUES
from faceforge.models.au_detector import AUDetectorConfig
from faceforge.models.expression import ExpressionClassifierConfig
from faceforge.models.face_alignment import FaceAlignmentConfig
from faceforge.models.mpenet import MPEGANDiscriminatorConfig, MPENetConfig
from faceforge.models.toy import ToyGeneratorConfig
from faceforge.registry import get_model_class, list_models

ALL_SIZES = [t for t in list_models() if hasattr(get_model_class(t).tiny_config(), "image_size")]


@pytest.fixture(scope="module")
def saved(tmp_path_factory) -> dict[str, Path]:
    """``{model_type: folder}``: the tiny network of every registered model type, saved."""
    root = tmp_path_factory.mktemp("models")
    folders = {}
    for model_type in list_models():
        cls = get_model_class(model_type)
        cls(cls.tiny_config()).save_pretrained(root / model_type)
        folders[model_type] = root / model_type
    faceforge.from_pretrained(folders["mpenet"])  # imports and first-call allocations before any measurement
    return folders


def hostile_copy(folder: Path, dest: Path, **changes) -> Path:
    dest.mkdir()
    (dest / "model.safetensors").write_bytes((folder / "model.safetensors").read_bytes())
    config = json.loads((folder / "config.json").read_text())
    (dest / "config.json").write_text(json.dumps({**config, **changes}))
    return dest


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


# --- configs that ask for too much ------------------------------------------------------------------------------
@pytest.mark.parametrize("changes, message", [
    # Refused by MPENetConfig's bounds (28.8 GB of fusion weights otherwise).
    ({"channels": 60000}, r"not a valid MPENetConfig: MPENetConfig\.channels must be in \[1, 4096\], got 60000"),
    # Within the bounds, but 3.3 G values: refused from the network planned on the meta device.
    ({"channels": 4096}, r"builds MPENet with 3,3\d\d,\d{3},\d{3} values \(12\.\d GiB in float32\), more than "
                         r"faceforge loads \(2,147,483,648\): the config is corrupt or was edited"),
    # 57 M values against the file's 4.97 M: refused by the same plan, before anything is allocated.
    ({"channels": 512}, r"builds MPENet with \d{2,3},\d{3},\d{3} values but model\.safetensors holds 4,9\d\d,\d{3}: "
                        r"config\.json and the weights disagree"),
])
def test_a_huge_network_is_refused_quickly_without_allocating_it(saved, tmp_path, changes, message):
    folder = hostile_copy(saved["mpenet"], tmp_path / "hostile", **changes)
    before, start = peak_rss_mib(), time.perf_counter()
    with pytest.raises(ModelLoadError, match=message):
        faceforge.from_pretrained(folder)
    assert time.perf_counter() - start < 2.0
    assert peak_rss_mib() - before < 100, "the refused network was allocated"


@pytest.mark.parametrize("model_type", ALL_SIZES)
def test_an_absurd_image_size_is_refused_at_load_time(saved, tmp_path, model_type):
    folder = hostile_copy(saved[model_type], tmp_path / "hostile", image_size=2**20)
    with pytest.raises(ModelLoadError, match=r"the saved config is not a valid \w+Config: .*image_size.*1048576"):
        faceforge.from_pretrained(folder)


@pytest.mark.parametrize("make, message", [
    (lambda: MPENetConfig(image_size=2048, scale=8), r"MPENetConfig\.image_size must be in \[1, 1024\]"),
    (lambda: MPENetConfig(groups=1000), r"MPENetConfig\.groups must be in \[1, 64\]"),
    (lambda: MPENetConfig(steps=10**6), r"MPENetConfig\.steps must be in \[1, 16\]"),
    (lambda: MPENetConfig(align_channels=10**6), r"MPENetConfig\.align_channels must be in \[2, 4096\]"),
    (lambda: MPENetConfig(au_image_size=4096), r"MPENetConfig\.au_image_size must be in \[32, 1024\]"),
    (lambda: MPENetConfig(heatmap_sigma=math.nan), r"MPENetConfig\.heatmap_sigma must be in"),
    (lambda: MPENetConfig(aus=tuple(range(1, 200)), au_attention=False), r"MPENetConfig\.aus must list at most 128"),
    (lambda: MPEGANDiscriminatorConfig(channels=10**5), r"MPEGANDiscriminatorConfig\.channels must be in"),
    (lambda: MPEGANDiscriminatorConfig(channels=1024), r"channels \* 2 \*\* \(stages - 1\).*<= 4096, got 8192"),
    (lambda: MPEGANDiscriminatorConfig(hidden=10**6), r"MPEGANDiscriminatorConfig\.hidden must be in \[1, 8192\]"),
    (lambda: FaceAlignmentConfig(channels=60000), r"FaceAlignmentConfig\.channels must be in \[1, 4096\]"),
    (lambda: FaceAlignmentConfig(image_size=2048, heatmap_size=256), r"FaceAlignmentConfig\.image_size must be in"),
    (lambda: FaceAlignmentConfig(points=10**5), r"FaceAlignmentConfig\.points must be in \[1, 1024\]"),
    (lambda: AUDetectorConfig(image_size=4096), r"AUDetectorConfig\.image_size must be in \[32, 1024\]"),
    (lambda: AUDetectorConfig(drop_rate=2.0), r"AUDetectorConfig\.drop_rate must be in"),
    (lambda: AUDetectorConfig(aus=tuple(range(1, 200))), r"AUDetectorConfig\.aus must list at most 128"),
    (lambda: ExpressionClassifierConfig(image_size=16), r"ExpressionClassifierConfig\.image_size must be in \[32"),
    (lambda: ExpressionClassifierConfig(image_size=2**20), r"ExpressionClassifierConfig\.image_size must be in"),
    (lambda: ExpressionClassifierConfig(dropout=-0.5), r"ExpressionClassifierConfig\.dropout must be in"),
    (lambda: ToyGeneratorConfig(hidden=10**6), r"ToyGeneratorConfig\.hidden must be in \[1, 4096\]"),
    (lambda: ToyGeneratorConfig(image_size=4096), r"ToyGeneratorConfig\.image_size must be in \[1, 128\]"),
])
def test_configs_refuse_values_past_their_bounds_naming_the_field(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_the_largest_configs_within_the_bounds_still_build_on_the_meta_device():
    for config in (MPENetConfig(image_size=1024, scale=16, shuffle_scale=2), FaceAlignmentConfig(image_size=1024,
                   heatmap_size=128), MPEGANDiscriminatorConfig(image_size=1024, channels=512, stages=4)):
        cls = get_model_class(config.model_type)
        with torch.device("meta"):
            assert sum(v.numel() for v in cls(config).state_dict().values()) < MAX_NETWORK_VALUES


def test_a_hostile_config_of_another_class_is_refused_before_allocation(saved, tmp_path):
    folder = hostile_copy(saved["face_alignment"], tmp_path / "hostile", channels=4096, stacks=8)
    before = peak_rss_mib()
    with pytest.raises(ModelLoadError, match="builds FaceAlignment with .* values"):
        faceforge.from_pretrained(folder)
    assert peak_rss_mib() - before < 100


# --- weights ----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float16])
def test_non_finite_weights_are_refused_naming_the_tensor(saved, tmp_path, bad, dtype):
    folder = hostile_copy(saved["expression_classifier"], tmp_path / "nan")
    state = load_file(str(folder / "model.safetensors"))
    state = {k: v.to(dtype) if v.is_floating_point() else v for k, v in state.items()}
    state["stages.2.0.weight"][0, 0, 1, 1] = bad
    state["head.1.bias"][0] = bad  # a later one: the first bad tensor in the network's order is named
    save_file(state, str(folder / "model.safetensors"))
    with pytest.raises(ModelLoadError, match=r"model\.safetensors holds NaN or infinite values in "
                                             r"stages\.2\.0\.weight: the weights are corrupt"):
        faceforge.from_pretrained(folder)


def test_integer_tensors_stored_for_floating_ones_are_refused_from_the_header(saved, tmp_path):
    folder = hostile_copy(saved["expression_classifier"], tmp_path / "ints")
    state = load_file(str(folder / "model.safetensors"))
    state["head.1.bias"] = state["head.1.bias"].to(torch.int64)
    save_file(state, str(folder / "model.safetensors"))
    with pytest.raises(ModelLoadError, match=r"wrong kind: head\.1\.bias: file I64 vs model float32"):
        faceforge.from_pretrained(folder)


def test_a_config_the_constructor_refuses_is_a_model_load_error(saved, tmp_path, monkeypatch):
    cls = get_model_class("toy_generator")

    def refuse(self, config):
        raise ValueError("the toy network refuses this config")

    monkeypatch.setattr(cls, "__init__", refuse)
    with pytest.raises(ModelLoadError, match="the saved config does not build a ToyGenerator: the toy network"):
        faceforge.from_pretrained(saved["toy_generator"])


# --- what ships still loads -------------------------------------------------------------------------------------
SHIPPED = [n for n in shipped.SHIPPED_MODELS if (shipped.HUB_CARDS / n / "config.json").is_file()]


@pytest.mark.parametrize("name", SHIPPED)
def test_every_shipped_model_still_loads(name):
    model = faceforge.from_pretrained(name)
    config = type(model.config).from_dict(json.loads((shipped.HUB_CARDS / name / "config.json").read_text()))
    assert config == model.config
    assert all(torch.isfinite(v).all() for v in model.state_dict().values() if v.is_floating_point())


def test_every_tiny_config_passes_its_bounds_and_round_trips(saved):
    for model_type, folder in saved.items():
        config = get_model_class(model_type).tiny_config()
        assert dataclasses.replace(config) == config
        assert faceforge.from_pretrained(folder).config == config

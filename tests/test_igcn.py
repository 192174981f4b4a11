"""IGCN / RRMB (Liu et al., MMM 2020): the facial-structure adjacency and its picture, the IGCN layer (Eq. 6) and its
reductions, the RRMB generator and its variants, the occluded inputs, the losses of Eq. (1)-(5) per variant, the
occlusion scores, saving and loading, and the training task through the real loop."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

import faceforge
import faceforge.registry
from faceforge.data.degrade import imresize, to_low_resolution
from faceforge.evaluation import build_eval_dataset, evaluate
from faceforge.face.aus import FACEFORGE_AUS
from faceforge.metrics.image import psnr_y
from faceforge.models import igcn as igcn_module
from faceforge.models.au_detector import AUDetector
from faceforge.models.expression import ExpressionClassifier
from faceforge.models.igcn import (
    RRMB,
    IGCNConfig,
    IGCNDiscriminator,
    IGCNGenerator,
    IGCNLayer,
    face_adjacency,
    face_relations,
    normalize_adjacency,
    patches_holding,
    render_adjacency,
)
from faceforge.training.config import ConfigError
from faceforge.training.loop import train
from faceforge.training.tasks import build_task, load_run
from faceforge.training.tasks.igcn import IGCNOptions, OccludedFaces, OcclusionScores
from faceforge.training.tasks.mpenet import SuperResolutionFaces

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.usefixtures("one_thread")  # small tensors: one thread (conftest)


def mirror(grid: int) -> np.ndarray:
    """Node permutation of a horizontal flip: (row, col) -> (row, k - 1 - col)."""
    return np.arange(grid * grid).reshape(grid, grid)[:, ::-1].ravel()


# --- the adjacency ---------------------------------------------------------------------------------------------------
def test_points_on_a_patch_border_belong_to_both_sides():
    points = np.array([[63.5, 10.0], [10.0, 10.0], [63.5, 63.5], [127.0, 127.0], [-3.0, 200.0]])
    # x = 63.5 is the template's midline: the border between the two columns of a 2x2 split
    assert patches_holding(points, 2) == [(0, 1), (0,), (0, 1, 2, 3), (3,), (2,)]
    assert patches_holding(points, 8)[1] == (0,) and patches_holding(points, 1) == [(0,)] * 5


@pytest.mark.parametrize("grid", [1, 2, 4, 8, 16])
def test_the_adjacency_is_symmetric_binary_with_self_loops_and_mirror_invariant(grid):
    relations = face_relations(grid)
    n = grid * grid
    for name, links in relations.items():
        assert links.dtype == bool and links.shape == (n, n), name
        assert np.array_equal(links, links.T) and not links.diagonal().any(), name
    a = face_adjacency(grid)
    assert set(np.unique(a)) <= {0.0, 1.0} and np.array_equal(a, a.T) and (a.diagonal() == 1).all()
    # the template is left-right symmetric, and so is every relation built on it
    flip = mirror(grid)
    assert np.array_equal(a[np.ix_(flip, flip)], a)
    # every patch is linked with its mirror image
    assert a[np.arange(n), flip].all()


@pytest.mark.parametrize("grid", [1, 2, 8])
def test_the_normalised_adjacency_is_kipf_and_wellings(grid):
    a = face_adjacency(grid)
    a_hat = normalize_adjacency(a)
    degree = a.sum(1)
    assert np.allclose(a_hat, a / np.sqrt(degree[:, None] * degree[None, :]), atol=0)
    assert np.allclose(a_hat, a_hat.T) and np.linalg.eigvalsh(a_hat).max() == pytest.approx(1.0)
    # D^1/2 1 is the eigenvector of eigenvalue 1
    v = np.sqrt(degree)
    assert np.allclose(a_hat @ v, v)
    if grid == 1:
        assert a_hat.tolist() == [[1.0]]  # one patch: the graph does nothing (IGCN 1x1 = a convolution)
    else:
        if grid == 2:  # the quadrants are all related (mirror images; brows and eyes with the mouth by the AUs)
            assert np.allclose(a_hat, 0.25)
        with pytest.raises(ValueError, match="symmetric"):
            normalize_adjacency(np.triu(a))


def test_au_relations_link_the_patches_of_co_occurring_and_exclusive_aus():
    # 8x8 patches of 16 pixels: AU6's image-left centre (37.5, 81.2) lies in (5, 2), AU12's lip corner (46.5, 98.0)
    # in (6, 2); they co-occur in happiness
    au = face_relations(8)["au"]
    assert au[5 * 8 + 2, 6 * 8 + 2]
    # AU5 (upper lid, (41.2, 46.7) -> (2, 2)) and AU43 (eyes closed, (41.4, 54.0) -> (3, 2)) exclude each other
    assert face_relations(8, aus=(5, 43))["au"][18, 26]
    alone = face_relations(8, aus=(5,))["au"]
    assert not alone[18, 26] and alone[18, 21]  # AU5 alone: its own two centres only, (2, 2) and (2, 5)
    assert not face_relations(8, aus=())["au"].any()
    with pytest.raises(ValueError, match="no centre rule"):
        face_relations(8, aus=(99,))


def test_without_an_exclusion_rule_the_antagonists_are_not_linked(monkeypatch):
    monkeypatch.setattr(igcn_module, "AU_EXCLUSION", ())
    assert not face_relations(8, aus=(5, 43))["au"][18, 26]


def test_similarity_links_the_patches_that_show_the_same_face_part():
    similarity = face_relations(8)["similarity"]
    # (6, 3) and (6, 4) hold only lip points; (3, 2) only the image-left eye
    assert similarity[51, 52] and not similarity[26, 51]
    assert not similarity[0].any()  # a background corner holds no landmark: no similarity link
    assert not face_relations(8, similarity_threshold=None)["similarity"].any()
    strict = face_relations(8, similarity_threshold=1.0)["similarity"]
    assert strict[51, 52] and strict.sum() < similarity.sum()  # identical content only


def test_a_background_corner_is_linked_to_its_mirror_image_alone():
    a = face_adjacency(8)
    assert np.nonzero(a[0])[0].tolist() == [0, 7]
    assert np.nonzero(face_adjacency(8, symmetry=False)[0])[0].tolist() == [0]


def test_the_adjacency_picture_colours_each_relation():
    picture = render_adjacency((1, 8), panel=128)
    assert picture.size == (2 * (128 + 16) + 16, 2 * 128 + 72) and picture.mode == "RGB"
    pixels = np.asarray(picture)

    def cell(i: int, j: int) -> tuple[int, ...]:  # the centre of matrix cell (i, j) of the 8x8 panel
        left, top, size = 16 + 128 + 16, 2 * 24 + 128, 128 / 64
        return tuple(pixels[int(top + (i + 0.5) * size), int(left + (j + 0.5) * size)])

    relations = face_relations(8)
    assert cell(0, 7) == (255, 0, 0) and cell(0, 1) == (0, 0, 0) and cell(5, 5) == (255, 255, 255)
    assert cell(51, 52) == tuple(255 * int(relations[k][51, 52]) for k in ("symmetry", "au", "similarity"))
    i, j = map(int, np.argwhere(relations["au"] & ~relations["symmetry"] & ~relations["similarity"])[0])
    assert cell(i, j) == (0, 255, 0)


# --- the IGCN layer --------------------------------------------------------------------------------------------------
def igcn(grid: int, adjacency=None, **kwargs) -> IGCNLayer:
    torch.manual_seed(0)
    a = torch.eye(grid * grid) if adjacency is None else torch.as_tensor(adjacency, dtype=torch.float32)
    return IGCNLayer(3, 5, grid, a, **kwargs)


def per_patch(layer: IGCNLayer, x: torch.Tensor) -> torch.Tensor:
    """ReLU(W * patch + b) for every patch on its own, put back in place (the graph left out)."""
    k, (h, w) = layer.grid, x.shape[-2:]
    rows = []
    for r in range(k):
        cols = [torch.relu(layer.conv(x[..., r * h // k:(r + 1) * h // k, c * w // k:(c + 1) * w // k]))
                for c in range(k)]
        rows.append(torch.cat(cols, dim=-1))
    return torch.cat(rows, dim=-2)


def test_igcn_with_one_patch_is_a_convolution_and_a_relu():
    layer, x = igcn(1, normalize_adjacency(face_adjacency(1))), torch.randn(2, 3, 16, 16)
    assert torch.allclose(layer(x), torch.relu(layer.conv(x)), atol=1e-6, rtol=0)
    assert layer.adjacency.tolist() == [[1.0]]


def test_igcn_convolves_each_patch_alone_and_mixes_the_patches_by_the_adjacency():
    x = torch.randn(2, 3, 8, 8)
    identity = igcn(2)
    alone = per_patch(identity, x)
    assert torch.allclose(identity(x), alone, atol=1e-6, rtol=0)
    assert not torch.allclose(alone, torch.relu(identity.conv(x)), atol=1e-3)  # zero padding at every patch border
    # Eq. (6): patch i of the output is sum_j A_ij ReLU(W * F_j + b)
    # (not symmetric, so that the direction is pinned: row i of A says what node i gathers)
    a = torch.tensor([[0.5, 0.5, 0.0, 0.0], [0.5, 0.5, 0.0, 0.0], [0.0, 0.0, 1.0, 0.0], [0.0, 0.0, 0.3, 0.2]])
    mixed = igcn(2, a)(x)
    q = [alone[..., :4, :4], alone[..., :4, 4:], alone[..., 4:, :4], alone[..., 4:, 4:]]  # row-major node order
    bottom = torch.cat([q[2], 0.3 * q[2] + 0.2 * q[3]], dim=-1)
    expected = torch.cat([torch.cat([0.5 * (q[0] + q[1])] * 2, dim=-1), bottom], dim=-2)
    assert torch.allclose(mixed, expected, atol=1e-6, rtol=0)


@pytest.mark.parametrize("grid", [2, 4])
def test_with_a_1x1_kernel_and_no_links_every_grid_is_the_same_convolution(grid):
    layer, x = igcn(grid, kernel_size=1), torch.randn(2, 3, 8, 8)
    assert torch.allclose(layer(x), torch.relu(layer.conv(x)), atol=1e-6, rtol=0)


def test_the_deconvolution_igcn_enlarges_every_patch():
    x = torch.randn(2, 3, 4, 4)
    one = igcn(1, transposed=True, stride=2, kernel_size=4)
    assert isinstance(one.conv, torch.nn.ConvTranspose2d)
    assert torch.allclose(one(x), torch.relu(one.conv(x)), atol=1e-6, rtol=0) and one(x).shape == (2, 5, 8, 8)
    two = igcn(2, transposed=True, stride=2, kernel_size=4)
    assert two(x).shape == (2, 5, 8, 8)
    assert torch.allclose(two(x)[..., :4, :4], torch.relu(two.conv(x[..., :2, :2])), atol=1e-6, rtol=0)


@pytest.mark.parametrize("make, message", [
    (lambda: igcn(2, torch.eye(3)), r"a 2x2 IGCN needs a \(4, 4\) adjacency"),
    (lambda: igcn(2, kernel_size=4), "odd kernel"),
    (lambda: igcn(2, transposed=True, stride=2, kernel_size=3), "kernel_size - stride even"),
    (lambda: igcn(3)(torch.randn(1, 3, 8, 8)), "sides divisible by 3"),
])
def test_the_layer_refuses_impossible_settings(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_an_rrmb_of_igcn_1x1_alone_is_a_residual_block_and_sums_its_scales():
    torch.manual_seed(0)
    x = torch.randn(2, 4, 8, 8)
    block = RRMB(4, {1: torch.ones(1, 1)})
    conv = block.branches[0].conv
    assert torch.allclose(block(x), x + block.fuse(torch.relu(conv(x))), atol=1e-6, rtol=0)
    multi = RRMB(4, {k: torch.as_tensor(normalize_adjacency(face_adjacency(k)), dtype=torch.float32)
                     for k in (1, 2, 4)})
    branches = sum(branch(x) for branch in multi.branches)
    assert torch.allclose(multi(x), x + multi.fuse(branches), atol=1e-6, rtol=0)  # summed pixel-wise


# --- the generator and the discriminator ----------------------------------------------------------------------------
def test_the_default_generator_restores_occluded_16x16_faces_to_128x128():
    torch.manual_seed(0)
    model = IGCNGenerator(IGCNConfig()).eval()
    cfg = model.config
    sizes = (cfg.image_size, cfg.scale, cfg.lr_size, cfg.channels, cfg.blocks, cfg.grids)
    assert sizes == (128, 8, 16, 64, 16, (1, 2, 8))
    assert len(model.body) == 16 and [b.grid for b in model.body[0].branches] == [1, 2, 8]
    assert len(model.upsample) == 3 and all(isinstance(s[1], torch.nn.PixelShuffle) for s in model.upsample)
    assert model.body[0].branches[2].adjacency.shape == (64, 64)
    # the graph is rebuilt from the config, not stored with the weights
    assert not any("adjacency" in name for name in model.state_dict())
    lr = torch.rand(2, 3, 16, 16)
    with torch.no_grad():
        out = model(lr)
    assert list(out) == ["sr", "steps"] and out["sr"].shape == (2, 3, 128, 128)
    assert len(out["steps"]) == 1 and out["steps"][0] is out["sr"]
    assert torch.equal(model.restore(lr), out["sr"].clamp(0, 1))
    with pytest.raises(ValueError, match=r"takes \(B, 3, 16, 16\) faces, got \(2, 3, 32, 32\)"):
        model(torch.rand(2, 3, 32, 32))


def test_the_srgan_generator_has_residual_blocks_and_fewer_weights():
    full = IGCNGenerator(IGCNGenerator.tiny_config())
    srgan = IGCNGenerator(dataclasses.replace(IGCNGenerator.tiny_config(), grids=(1,)))
    assert [len(b.branches) for b in srgan.body] == [1, 1]
    per_igcn = sum(p.numel() for p in full.body[0].branches[0].parameters())
    assert sum(p.numel() for p in full.parameters()) - sum(p.numel() for p in srgan.parameters()) == 2 * 2 * per_igcn
    picture = srgan.adjacency_picture(panel=64)
    assert picture.size == (64 + 32, 2 * 64 + 72)


def test_the_bicubic_skip_starts_at_bicubic_and_learns_what_to_add():
    torch.manual_seed(0)
    model = IGCNGenerator(dataclasses.replace(IGCNGenerator.tiny_config(), bicubic_skip=True))
    lr = torch.rand(2, 3, 8, 8)
    assert torch.equal(model(lr)["sr"], imresize(lr, size=32))  # untrained: the MATLAB-bicubic upsampling
    target = imresize(lr, size=32).flip(-1)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(20):
        loss = F.mse_loss(model(lr)["sr"], target)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert F.mse_loss(model(lr)["sr"], target) < 0.7 * F.mse_loss(imresize(lr, size=32), target)
    # the paper's generator draws the whole face: untrained, it is no bicubic
    paper = IGCNGenerator(IGCNGenerator.tiny_config())
    assert (paper(lr)["sr"] - imresize(lr, size=32)).abs().mean() > 0.01


@pytest.mark.parametrize("fields, message", [
    ({"scale": 6, "image_size": 96}, "power of two"),
    ({"image_size": 100}, "divisible by scale 8"),
    ({"grids": (1, 3)}, r"grids \[3\] do not divide the 16-pixel input side"),
    ({"grids": (1, 1)}, "distinct"),
    ({"grids": ()}, "distinct"),
    ({"kernel_size": 4}, "odd"),
    ({"similarity_threshold": 1.5}, r"similarity_threshold must be in \[0.0, 1.0\]"),
    ({"adjacency_aus": (1, 99)}, r"adjacency_aus \[99\] have no AU centre rule"),
    ({"channels": 0}, r"IGCNConfig\.channels must be in \[1, 1024\]"),
    ({"model_type": "mpenet"}, "model_type is 'igcn'"),
])
def test_the_config_refuses_impossible_networks(fields, message):
    with pytest.raises(ValueError, match=message):
        IGCNConfig(**fields)


def test_the_discriminator_is_srgans_with_its_own_model_type():
    d = IGCNDiscriminator(IGCNDiscriminator.tiny_config())
    assert d.config.model_type == "igcn_discriminator" and d(torch.rand(3, 3, 32, 32)).shape == (3,)
    assert faceforge.registry.family_of("igcn_discriminator").name == "igcn"


@pytest.mark.parametrize("cls", [IGCNGenerator, IGCNDiscriminator])
def test_save_and_from_pretrained_give_the_same_network(cls, tmp_path):
    torch.manual_seed(0)
    model = cls(cls.tiny_config()).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.01)
    model.save_pretrained(tmp_path)
    loaded = faceforge.from_pretrained(tmp_path)
    assert type(loaded) is cls and loaded.config == model.config and not loaded.training
    for name, value in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[name], value), name
    inputs = model.example_inputs(2, seed=1)
    with torch.no_grad():
        a, b = model(*inputs), loaded(*inputs)
    a, b = (a["sr"], b["sr"]) if cls is IGCNGenerator else (a, b)
    assert torch.equal(a, b)
    if cls is IGCNGenerator:
        assert torch.equal(loaded.body[0].branches[2].adjacency, model.body[0].branches[2].adjacency)


def test_the_family_is_registered():
    assert {"igcn", "igcn_discriminator"} <= set(faceforge.list_models()) and "igcn" in faceforge.list_tasks()
    family = faceforge.registry.family_of("igcn")
    assert family.paper.year == 2020 and "Improved Graph Convolutional" in family.paper.title


# --- the occluded inputs -------------------------------------------------------------------------------------------
class Faces(torch.utils.data.Dataset):
    aus = (1, 2)

    def __len__(self) -> int:
        return 4

    def __getitem__(self, index: int) -> dict:
        image = torch.rand(3, 32, 32, generator=torch.Generator().manual_seed(index))
        return {"image": image, "landmarks": torch.zeros(68, 2), "au_occurrence": torch.tensor([1.0, 0.0])}


def test_the_ill_input_is_the_8bit_bicubic_face_with_a_square_painted_black():
    plain = SuperResolutionFaces(Faces(), size=32, scale=4, train=False)
    faces = OccludedFaces(plain, fraction=0.5, fill=0.0, seed=7)
    sample, clean = faces[1], plain[1]
    mask = sample["mask"]
    assert mask.shape == (1, 8, 8) and mask.sum() == 16  # a 4x4 square: a quarter of the 8x8 input's area
    rows, cols = torch.nonzero(mask[0], as_tuple=True)
    assert rows.max() - rows.min() == 3 and cols.max() - cols.min() == 3
    assert torch.equal(sample["lr"], clean["lr"] * (1 - mask))
    assert torch.equal(clean["lr"], to_low_resolution(clean["image"], 8, quantize=True))
    # evaluation masks are fixed per face; training masks follow torch's RNG (seeded per sample by the loop)
    assert torch.equal(faces[1]["mask"], mask) and faces.aus == (1, 2)
    training = OccludedFaces(SuperResolutionFaces(Faces(), size=32, scale=4, train=True), fraction=0.25)
    masks = set()
    for seed in range(8):
        torch.manual_seed(seed)
        masks.add(tuple(training[0]["mask"].flatten().tolist()))
    assert len(masks) > 1 and all(sum(m) == 4 for m in masks)


def test_occlusion_scores_measure_the_occluded_square_alone():
    torch.manual_seed(0)
    hr = torch.rand(2, 3, 32, 32)
    mask = torch.zeros(2, 1, 8, 8)
    mask[0, :, 0:4, 2:6] = 1  # 16x16 at HR: rows 0-15, columns 8-23
    mask[1, :, 4:8, 4:8] = 1
    region = F.interpolate(mask, size=32, mode="nearest")
    lr = to_low_resolution(hr, 8, quantize=True)
    perfect_inside = OcclusionScores(image_size=32)
    perfect_inside.add(hr, lr, {"sr": hr * region, "steps": (hr * region,)}, mask)
    table, _ = perfect_inside.table(())
    assert table["output"]["PSNR (occluded)"] == float("inf") and table["output"]["SSIM (occluded)"] == 1.0
    bicubic = float(np.mean(psnr_y(imresize(lr, size=32, clamp=True), hr)))
    assert table["output"]["PSNR"] < 15 and table["bicubic"]["PSNR"] == pytest.approx(bicubic)
    wrong_inside = OcclusionScores(image_size=32)
    wrong_inside.add(hr, lr, {"sr": hr * (1 - region), "steps": (hr * (1 - region),)}, mask)
    metrics = wrong_inside.metrics(())
    assert metrics["psnr"] > table["output"]["PSNR"] and metrics["psnr_occluded"] < 12
    assert set(metrics) == {"psnr", "ssim", "psnr_occluded", "ssim_occluded", "psnr_bicubic", "ssim_bicubic",
                            "psnr_occluded_bicubic", "ssim_occluded_bicubic"}


# --- the task ------------------------------------------------------------------------------------------------------
TINY_OPTIONS = {"net.image_size": 32, "net.scale": 4, "net.channels": 8, "net.blocks": 2, "net.grids": "[1,2,4]",
                "d_channels": 8, "train_length": 6, "eval_length": 4, "test_length": 4}


@pytest.fixture(scope="module")
def helpers(tmp_path_factory):
    """A cache for the rendered faces and tiny trained-like helper networks: supervisor, evaluator, features."""
    root = tmp_path_factory.mktemp("igcn")
    torch.manual_seed(0)
    AUDetector(AUDetector.tiny_config()).save_pretrained(root / "supervisor")
    AUDetector(AUDetector.tiny_config()).save_pretrained(root / "evaluator")
    ExpressionClassifier(ExpressionClassifier.tiny_config()).save_pretrained(root / "features")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("FACEFORGE_CACHE", str(root / "cache"))
        yield root


def tiny_run(helpers, folder, **options):
    overrides = [f"output_dir={folder}", "steps=3", "batch_size=2", "num_workers=0", "eval_every=3",
                 "checkpoint_every=3", "sample_every=3", "sample_count=2", "log_every=1", "trackers=none"]
    options = {**TINY_OPTIONS, "au_supervisor": helpers / "supervisor", "perceptual_model": helpers / "features",
               "au_evaluator": helpers / "evaluator", **options}
    overrides += [f"options.{k}={v}" for k, v in options.items()]
    return load_run("train/configs/igcn_cpu.yaml", overrides)


@pytest.mark.parametrize("variant", ["full", "no_au", "srgan"])
def test_each_variant_trains_with_its_terms_of_eq_5(helpers, variant):
    grids = {"net.grids": "[1]"} if variant == "srgan" else {}  # the tiny net's grids are not the default's
    task = build_task(tiny_run(helpers, helpers / "unused", variant=variant, **grids))
    data = task.train_dataset()
    task.nets = task.build_networks()
    full = variant == "full"
    assert ("cls" in task.nets) == full and "d" in task.nets and "perceptual" in task.nets
    assert task.nets["g"].config.grids == ((1,) if variant == "srgan" else (1, 2, 4))
    assert [(s.name, s.every) for s in task.steps()] == [("d", 3), ("g", 1)]  # one D update every three G updates
    task.optimizers = task.build_optimizers()
    assert sorted(task.optimizers) == ["d", "g"] and task.optimizers["g"].defaults["lr"] == 3e-4
    torch.manual_seed(0)
    batch = torch.utils.data.default_collate([data[0], data[1]])
    out = task.nets["g"](batch["lr"])
    loss, logs = task.generator_loss(batch, out)
    assert set(logs) == {"pix", "pix_occluded", "adv", "per"} | ({"cls"} if full else set())
    sr, hr = out["sr"], batch["image"]
    # Eq. (1), (3), (4), (2), weighed as Eq. (5) with the paper's lambdas
    assert torch.allclose(logs["pix"], F.mse_loss(sr, hr))
    assert torch.allclose(logs["adv"], F.softplus(-task.nets["d"](sr)).mean())
    features = task.nets["perceptual"].network.features
    per = sum(F.mse_loss(features(sr)[0][i], features(hr)[0][i]) for i in (1, 4))
    assert torch.allclose(logs["per"], per, rtol=1e-5)
    expected = logs["pix"] + 1e-3 * logs["adv"] + 0.5 * logs["per"]
    if full:
        supervisor = task.nets["cls"]
        assert not any(p.requires_grad for p in supervisor.parameters()) and not supervisor.training
        assert torch.allclose(logs["cls"], F.mse_loss(supervisor(sr), supervisor(hr)))  # logits, no sigmoid
        expected = expected + 1e-3 * logs["cls"]
    assert torch.allclose(loss, expected, rtol=1e-6)
    loss.backward()
    assert all(p.grad is not None for p in task.nets["g"].parameters())


def test_zero_weights_leave_the_discriminator_and_the_feature_network_out(helpers):
    task = build_task(tiny_run(helpers, helpers / "unused", lambda_adv=0, lambda_per=0, lambda_cls=0))
    task.train_dataset()
    task.nets = task.build_networks()
    assert list(task.nets) == ["g"] and [s.name for s in task.steps()] == ["g"]


@pytest.mark.parametrize("options, message", [
    ({"variant": "srgan", "net.grids": "[1,2]"}, "conflicts with variant 'srgan'"),
    ({"au_evaluator": "au-detector", "au_supervisor": "au-detector"}, "is the AU supervisor"),
    ({"mask_fraction": 0}, r"mask_fraction must be in \(0, 1\]"),
    ({"d_every": 0}, "d_every"),
])
def test_the_options_refuse_contradictions(helpers, options, message):
    with pytest.raises(ValueError, match=message):
        tiny_run(helpers, helpers / "unused", **options)


def test_the_full_variant_needs_a_loadable_au_detector(helpers):
    for supervisor, message in ((helpers / "missing", "cannot be loaded"), (helpers / "features", "not an AUDetector"),
                                ("", "needs options.au_supervisor")):
        task = build_task(tiny_run(helpers, helpers / "unused", au_supervisor=supervisor))
        task.train_dataset()
        with pytest.raises(ConfigError, match=message):
            task.build_networks()
    assert IGCNOptions(variant="no_au", au_supervisor="").uses_cls is False


def test_the_variants_are_the_rows_of_tables_1_to_3():
    srgan, ours_minus, ours = (IGCNOptions(variant=v) for v in ("srgan", "no_au", "full"))
    assert srgan.net.grids == (1,) and ours_minus.net.grids == ours.net.grids == (1, 2, 8)  # the default's, replaced
    assert (srgan.uses_cls, ours_minus.uses_cls, ours.uses_cls) == (False, False, True)
    assert IGCNOptions(variant="srgan", net=IGCNConfig(grids=(1,))).net.grids == (1,)


def test_the_familys_evaluator_scores_occluded_faces(helpers):
    torch.manual_seed(0)
    model = IGCNGenerator(IGCNGenerator.tiny_config())
    evaluator = AUDetector.from_pretrained(helpers / "evaluator")
    data = build_eval_dataset("synth", length=4, size=32)
    result = evaluate(model, data, batch_size=2, au_evaluator=evaluator)  # the family's declared evaluator
    table = result["table"]
    assert list(table) == ["bicubic", "output", "HR"] and result["details"]["samples"] == 4
    assert list(table["output"])[:4] == ["PSNR", "SSIM", "PSNR (occluded)", "SSIM (occluded)"]
    # the bicubic upsampling of a black square is far from the face there
    assert table["bicubic"]["PSNR (occluded)"] < table["bicubic"]["PSNR"] and 0 <= table["output"]["AU Acc"] <= 100
    again = evaluate(model, data, batch_size=4, au_evaluator=None)["table"]  # the same masks whatever the batches
    assert again["output"]["PSNR (occluded)"] == pytest.approx(table["output"]["PSNR (occluded)"])


@pytest.mark.slow
def test_the_task_trains_through_the_real_loop_and_exports_a_loadable_model(helpers):
    folder = helpers / "run"
    run = tiny_run(helpers, folder)
    assert run.synth_version == 2 and run.mixed_precision == "no" and run.batch_size == 2
    result = train(build_task(run))
    assert result.step == 3
    model = faceforge.from_pretrained(folder / "model")
    assert isinstance(model, IGCNGenerator) and model.config == run.options.net and model.config.grids == (1, 2, 4)
    out = model(torch.rand(2, 3, 8, 8))
    assert out["sr"].shape == (2, 3, 32, 32) and torch.isfinite(out["sr"]).all()
    log = [json.loads(line) for line in (folder / "log.jsonl").read_text().splitlines()]
    assert sum("d/loss" in row for row in log) == 1 and sum("g/loss" in row for row in log) == 3
    assert {"g/pix", "g/adv", "g/cls", "g/per", "g/pix_occluded"} <= set().union(*log)
    metrics = result.metrics
    assert {"psnr", "ssim", "psnr_occluded", "ssim_occluded", "psnr_bicubic", "au_f1", "au_f1_hr"} <= set(metrics)
    assert list((folder / "samples").glob("*.png"))
    test = json.loads((folder / "train_summary.json").read_text())["test_metrics"]
    card = (folder / "model" / "README.md").read_text()
    assert (f"| Ours (this model) | {test['psnr']:.2f} | {test['ssim']:.4f} | {test['psnr_occluded']:.2f} | "
            f"{test['ssim_occluded']:.4f} |") in card
    assert "Eq. (5): L_pix + 0.001 L_adv + 0.001 L_cls + 0.5 L_per" in card and "split: test" in card
    assert "| AU12 Lip corner puller |" in card and str(helpers / "evaluator") in card
    assert "![The normalised adjacency matrices of IGCN 1x1, 2x2, 4x4](adjacency.png)" in card
    picture = Image.open(folder / "model" / "adjacency.png")
    assert picture.size == model.adjacency_picture().size  # the card's picture is the model's graphs


def test_occlusion_scores_keep_per_face_values_for_intervals_and_subsets(helpers, tmp_path):
    from faceforge.face.aus import BP4D_AUS, DISFA_AUS
    from faceforge.metrics.bootstrap import BootstrapTable
    from faceforge.training.tasks.igcn import score_occluded_restoration

    torch.manual_seed(0)
    model = IGCNGenerator(IGCNGenerator.tiny_config()).eval()
    evaluator = AUDetector.from_pretrained(helpers / "evaluator")
    data = build_eval_dataset("synth", length=6, size=32)
    scores = score_occluded_restoration(model, data, evaluator, batch_size=4, extra_evaluators={"sharp": evaluator})
    scores.save(tmp_path / "scores.safetensors", weights="abc")
    again = OcclusionScores.load(tmp_path / "scores.safetensors", evaluator=evaluator,
                                 extra_evaluators={"sharp": evaluator})
    assert again.region == scores.region and again.whole.quality == scores.whole.quality
    cells = again.statistics(FACEFORGE_AUS, val_thresholds=scores.fit_thresholds(FACEFORGE_AUS))
    assert set(cells) == {"bicubic", "output", "HR"}
    assert {"PSNR (occluded)", "SSIM (occluded)", "AU F1 (val thr.)", "AU AUC (sharp)"} <= set(cells["output"])
    everyone = np.arange(6)
    table, _ = scores.table(FACEFORGE_AUS)
    assert cells["output"]["PSNR (occluded)"](everyone) == pytest.approx(table["output"]["PSNR (occluded)"])
    assert cells["output"]["AU F1"](everyone) == pytest.approx(table["output"]["AU F1"])
    bp4d = scores.statistics(FACEFORGE_AUS, subset=BP4D_AUS)["output"]["AU Acc"](everyone)
    disfa = scores.statistics(FACEFORGE_AUS, subset=DISFA_AUS)["output"]["AU Acc"](everyone)
    probs = torch.cat(scores.whole.probs["step 1"])
    truth = torch.cat(scores.whole.targets)
    predicted = probs > torch.as_tensor(evaluator.decision_thresholds())
    columns = [FACEFORGE_AUS.index(a) for a in BP4D_AUS]
    assert bp4d == pytest.approx(100 * float((predicted == truth.bool())[:, columns].float().mean()))
    assert bp4d != pytest.approx(disfa)
    interval = BootstrapTable(6, resamples=50).add("output", "PSNR", cells["output"]["PSNR"])
    assert interval.low <= table["output"]["PSNR"] <= interval.high


def test_the_igcn_tables_report_the_papers_layout_goals_and_paired_verdicts():
    import importlib.util

    from faceforge.metrics.bootstrap import BootstrapTable

    spec = importlib.util.spec_from_file_location("igcn_tables", ROOT / "benchmarks" / "igcn_tables.py")
    tables = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tables)
    n = 100
    noise = np.random.default_rng(0).normal(size=n)
    means = {"srgan": (24.0, 0.70, 30.0), "no_au": (26.5, 0.80, 45.0), "full": (26.6, 0.85, 47.0),
             "mpenet": (23.0, 0.72, 35.0)}
    by_subset = {subset: BootstrapTable(n, resamples=100) for subset in tables.SUBSETS}
    for table in by_subset.values():  # every face shares the noise: paired differences are the mean shifts
        for name, (psnr, ssim, f1) in means.items():
            for column, value in (("PSNR", psnr), ("SSIM", ssim), ("AU F1", f1), ("AU AUC", ssim),
                                  ("PSNR (occluded)", psnr - 6)):
                table.add(f"{name}:output", column, lambda i, v=value + noise: float(v[i].mean()))
        for row, f1 in (("bicubic", 20.0), ("HR", 60.0)):
            table.add(f"full:{row}", "AU F1", lambda i, v=f1 + noise: float(v[i].mean()))
    rows = tables.display_rows(means)
    comparisons = tables.comparisons(by_subset, rows)
    cells = {subset: table.as_dict() for subset, table in by_subset.items()}
    per_au = {name: {"output": {f"AU{a}": 40.0 for a in FACEFORGE_AUS}} for name in means}
    saved = {"renderer": 2, "faces": n, "val_faces": 50, "resamples": 100, "au_evaluator": "au-evaluator-robust",
             "sharp_evaluator": "au-evaluator", "cpu": "test CPU", "runs": "runs", "models": means,
             "rows": rows, "per_au_f1": per_au, "cells": cells, "comparisons": comparisons}
    text = tables.report(saved, update=False)
    assert list(rows) == ["Bicubic (occluded input)", "SRGAN (IGCN 1x1)", "Ours- (no AU loss)", "Ours (IGCN)",
                          "MPENet (never saw an occlusion)", "Ground truth (HR)"]
    assert "| | AU1 | AU2 | AU4 | AU6 | AU7 | AU10 | AU12 | AU14 | AU15 | AU17 | AU23 | AU24 | mean |" in text
    assert "| Ours (IGCN) | 40.0 |" in text and "| SRGAN (IGCN 1x1) | 26.00" not in text
    assert "- goal Ours above SRGAN by >= 2.1 in PSNR (BP4D AUs for F1): 2.60 [2.60, 2.60] (met)" in text
    assert "- goal Ours above SRGAN by >= 0.12 in SSIM (BP4D AUs for F1): 0.1500 [0.1500, 0.1500] (met)" in text
    assert "- goal Ours above SRGAN by >= 16 in AU F1 (BP4D AUs for F1): 17.0 [17.0, 17.0] (met)" in text
    assert "- goal Ours at or above Ours- in AU F1 (BP4D): 2.0 [2.0, 2.0] (met)" in text
    assert "- Ours (IGCN) above MPENet (never saw an occlusion) in PSNR by 3.60" in text

"""FSR-FER (Jing et al., 2020) and its CovPoolFER backbone: the SPD layers (covariance pooling, BiMap, ReEig, LogEig
and their backward), the RRDB generator and the discriminator, the LR inputs, the losses of Eq. (7)-(11), the
accuracy tables, and both training tasks through the real loop."""

from __future__ import annotations

import json
import math

import pytest
import torch
import torch.nn.functional as F

import faceforge
import faceforge.registry
from faceforge.config import ConfigError
from faceforge.data.degrade import bicubic_downsample, imresize
from faceforge.evaluation import evaluate
from faceforge.face.expressions import EXPRESSIONS
from faceforge.models.fsrfer import (
    FSRFER,
    RRDB,
    BiMap,
    CovPoolFER,
    CovPoolFERConfig,
    FeatureDiscriminator,
    FeatureGenerator,
    FeatureGeneratorConfig,
    FSRFERConfig,
    ResidualDenseBlock,
    covariance_pool,
    low_resolution_input,
    orthonormalize,
    spd_log,
    spd_rectify,
    symmetrize,
)
from faceforge.models.sr_baselines import VDSR, VDSRConfig
from faceforge.training.loop import train
from faceforge.training.tasks import build_task, load_run
from faceforge.training.tasks.fsrfer import (
    FSRFEROptions,
    LowResolutionFaces,
    recognition_accuracy,
    reweighting,
    wgan_div_penalty,
)

pytestmark = pytest.mark.usefixtures("one_thread")  # small tensors: one thread (conftest)


def rotation(seed: int, d: int = 3) -> torch.Tensor:
    """A random (d, d) orthogonal matrix in float64."""
    q, _ = torch.linalg.qr(torch.randn(d, d, generator=torch.Generator().manual_seed(seed), dtype=torch.float64))
    return q


def with_eigenvalues(values: list[float], seed: int = 0) -> torch.Tensor:
    u = rotation(seed, len(values))
    return u @ torch.diag(torch.tensor(values, dtype=torch.float64)) @ u.T


# --- the SPD layers --------------------------------------------------------------------------------------------------
def test_covariance_pooling_of_a_known_feature_map():
    # channel 0 = 1, 2, 3 and channel 1 = 2, 4, 6 over three positions: centred -1, 0, 1 and -2, 0, 2
    features = torch.tensor([[1.0, 2.0, 3.0], [2.0, 4.0, 6.0]]).reshape(1, 2, 1, 3)
    cov = covariance_pool(features, eps=0.1)
    assert cov.dtype == torch.float64 and cov.shape == (1, 2, 2)
    assert torch.allclose(cov[0], torch.tensor([[1.1, 2.0], [2.0, 4.1]], dtype=torch.float64), atol=1e-12)
    # 1 / (n - 1) sum (f - mean)(f - mean)^T + eps I, for any map
    x = torch.randn(2, 5, 4, 3)
    flat = x.reshape(2, 5, 12).double()
    expected = torch.stack([torch.cov(f) for f in flat]) + 1e-3 * torch.eye(5, dtype=torch.float64)
    assert torch.allclose(covariance_pool(x, eps=1e-3), expected, atol=1e-10)
    with pytest.raises(ValueError, match="two positions"):
        covariance_pool(torch.randn(1, 2, 1, 1))


def test_bimap_keeps_its_weight_semi_orthogonal_and_gives_a_smaller_spd_matrix():
    torch.manual_seed(0)
    bimap = BiMap(6, 4)
    w0 = bimap.weight.detach().double().clone()
    assert torch.allclose(w0.T @ w0, torch.eye(4, dtype=torch.float64), atol=1e-6)  # orthogonal at init
    assert torch.allclose(bimap.projection(), w0, atol=1e-6)  # an orthonormal matrix maps to itself
    with torch.no_grad():
        bimap.weight.add_(0.3 * torch.randn_like(bimap.weight))  # as an optimiser step would
    w = bimap.projection()
    assert torch.allclose(w.T @ w, torch.eye(4, dtype=torch.float64), atol=1e-12)
    x = with_eigenvalues([5.0, 3.0, 2.0, 1.0, 0.5, 0.1])[None].repeat(2, 1, 1)
    y = bimap(x)
    assert y.shape == (2, 4, 4) and torch.equal(y, y.transpose(-1, -2))
    assert torch.allclose(y[0], w.T @ x[0] @ w, atol=1e-12)
    eigenvalues = torch.linalg.eigvalsh(y)
    assert (eigenvalues > 0).all() and eigenvalues.max() <= 5.0 + 1e-9 and eigenvalues.min() >= 0.1 - 1e-9
    # the columns span the same space as the raw weight's: Q of its QR with positive diagonal of R
    q, r = torch.linalg.qr(bimap.weight.detach().double())
    assert torch.allclose(orthonormalize(bimap.weight.detach().double()), q * torch.sign(torch.diagonal(r)), atol=0)
    with pytest.raises(ValueError, match="reduces"):
        BiMap(3, 4)


def test_reeig_clamps_the_eigenvalues_at_eps_and_keeps_the_eigenvectors():
    u = rotation(1)
    x = u @ torch.diag(torch.tensor([3.0, 1e-6, -2.0], dtype=torch.float64)) @ u.T
    y = spd_rectify(x, 1e-3)
    assert torch.allclose(y, u @ torch.diag(torch.tensor([3.0, 1e-3, 1e-3], dtype=torch.float64)) @ u.T, atol=1e-12)
    assert torch.allclose(torch.linalg.eigvalsh(y), torch.tensor([1e-3, 1e-3, 3.0], dtype=torch.float64))
    spd = with_eigenvalues([2.0, 1.0, 0.5])
    assert torch.allclose(spd_rectify(spd, 1e-4), spd, atol=1e-12)  # nothing below eps: unchanged


def test_logeig_is_the_matrix_logarithm():
    u = rotation(2)
    x = u @ torch.diag(torch.tensor([math.e, 1.0, math.exp(-2.0)], dtype=torch.float64)) @ u.T
    log = spd_log(x, 1e-12)
    assert torch.allclose(log, u @ torch.diag(torch.tensor([1.0, 0.0, -2.0], dtype=torch.float64)) @ u.T, atol=1e-12)
    assert torch.allclose(torch.linalg.matrix_exp(log), x, atol=1e-12)
    assert torch.allclose(spd_log(torch.diag(torch.tensor([4.0, 1.0], dtype=torch.float64)), 1e-12),
                          torch.diag(torch.tensor([math.log(4.0), 0.0], dtype=torch.float64)), atol=0)


@pytest.mark.parametrize("layer", [spd_log, spd_rectify])
def test_the_spectral_layers_backward_is_the_derivative(layer):
    # distinct eigenvalues, some below ReEig's eps
    x = with_eigenvalues([3.0, 1.5, 0.02, 0.6], seed=3).requires_grad_(True)
    assert torch.autograd.gradcheck(lambda a: layer(a, 0.1), (x,), eps=1e-6, atol=1e-6)


def test_repeated_eigenvalues_have_a_finite_exact_gradient():
    # log at 2 I: d log(X)[H] = H / 2, so the gradient of <G, log X> is sym(G) / 2 (torch's eigh backward divides
    # by the zero gaps here)
    x = (2 * torch.eye(3, dtype=torch.float64)).requires_grad_(True)
    g = torch.arange(9, dtype=torch.float64).reshape(3, 3)
    (spd_log(x, 1e-12) * g).sum().backward()
    assert torch.allclose(x.grad, symmetrize(g) / 2, atol=1e-12)
    # ReEig with two eigenvalues clamped to the same eps: the clamped directions get no gradient
    y = torch.diag(torch.tensor([2.0, -1.0, -3.0], dtype=torch.float64)).requires_grad_(True)
    (spd_rectify(y, 0.5) * g).sum().backward()
    expected = torch.zeros(3, 3, dtype=torch.float64)
    expected[0, 0] = g[0, 0]
    expected[0, 1:] = expected[1:, 0] = symmetrize(g)[0, 1:] * 1.5 / torch.tensor([3.0, 5.0], dtype=torch.float64)
    assert torch.isfinite(y.grad).all() and torch.allclose(y.grad, expected, atol=1e-12)


def test_covpoolfer_splits_into_features_embedding_and_classifier():
    torch.manual_seed(0)
    model = CovPoolFER(CovPoolFER.tiny_config()).eval()
    cfg = model.config
    assert cfg.map_size == 8 and cfg.feature_size == 4 and cfg.flat_size == 10
    faces = torch.rand(3, 3, 32, 32)
    f = model.features(faces)
    assert f.shape == (3, 4, 4) and f.dtype == torch.float32 and torch.equal(f, f.transpose(-1, -2))
    e = model.embed(f)
    assert e.shape == (3, 8)
    rows, cols = torch.triu_indices(4, 4)
    assert torch.allclose(e, model.head(f[:, rows, cols]))  # C reads the upper triangle
    assert torch.allclose(model(faces), model.classify(e)) and model(faces).shape == (3, len(EXPRESSIONS))
    with torch.autocast("cpu", dtype=torch.bfloat16):  # the SPD layers ignore autocast
        assert model.features(faces).dtype == torch.float32
    with pytest.raises(ValueError, match="takes"):
        model.features(torch.rand(1, 3, 16, 16))


def test_the_default_backbone_takes_100x100_faces_and_the_synth_expressions():
    cfg = CovPoolFERConfig()
    assert cfg.image_size == 100 and cfg.map_size == 12 and cfg.classes == EXPRESSIONS and cfg.embedding == 128
    assert cfg.feature_size == 32 == FeatureGeneratorConfig().feature_size


@pytest.mark.parametrize("fields, message", [
    ({"spd_dims": (8, 12)}, "non-increasing"),
    ({"spd_dims": (200,)}, "non-increasing"),
    ({"image_size": 32, "widths": (8, 8, 8, 8, 8)}, "too small"),
    ({"classes": ("one",)}, "2 to 1024"),
])
def test_the_backbone_config_refuses_impossible_networks(fields, message):
    with pytest.raises(ValueError, match=message):
        CovPoolFERConfig(**fields)


# --- G and D ---------------------------------------------------------------------------------------------------------
def test_the_dense_block_and_the_rrdb_scale_their_residuals_by_beta():
    torch.manual_seed(0)
    x = torch.randn(2, 8, 5, 5)
    rdb = ResidualDenseBlock(8, 4)
    assert [c.in_channels for c in rdb.convs] == [8, 12, 16, 20, 24] and rdb.convs[4].out_channels == 8
    b = torch.linspace(-1, 1, 8)
    rrdb = RRDB(8, 4)
    with torch.no_grad():
        for block in (rdb, *rrdb.blocks):
            block.convs[4].weight.zero_()
            block.convs[4].bias.copy_(b)
    # each dense block adds 0.2 b; the RRDB: x + 0.2 (x + 0.6 b) = 1.2 x + 0.12 b
    assert torch.allclose(rdb(x), x + 0.2 * b[:, None, None], atol=1e-6)
    assert torch.allclose(rrdb(x), 1.2 * x + 0.12 * b[:, None, None], atol=1e-6)
    assert RRDB(8, 4)(x).shape == x.shape


def test_the_generator_is_a_symmetric_residual_on_the_features():
    torch.manual_seed(0)
    g = FeatureGenerator(FeatureGeneratorConfig(feature_size=6, channels=8, growth=4, blocks=6))
    assert len(g.trunk) == 6
    x = symmetrize(torch.randn(3, 6, 6))
    y = g(x)
    assert y.shape == (3, 6, 6) and torch.equal(y, y.transpose(-1, -2))
    skewed = g(torch.randn(2, 6, 6))  # symmetric output even for a non-symmetric input
    assert torch.equal(skewed, skewed.transpose(-1, -2))
    with torch.no_grad():
        g.tail[-1].weight.zero_()
        g.tail[-1].bias.zero_()
    assert torch.allclose(g(x), x, atol=0)  # F_sr = F_lr + G'(F_lr)
    with pytest.raises(ValueError, match="takes"):
        g(torch.randn(2, 5, 5))


def test_the_discriminator_has_no_batch_norm_and_gives_one_score_per_face():
    d = FeatureDiscriminator(FeatureDiscriminator.config_class(feature_size=16, channels=4, stages=3, hidden=8))
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in d.modules())
    strides = [m.stride[0] for m in d.features if isinstance(m, torch.nn.Conv2d)]
    assert strides == [1, 2] * 3 and d.classifier[1].in_features == 16 * 2 * 2  # 16 -> 2, channels 4, 8, 16
    assert d(torch.randn(5, 16, 16)).shape == (5,)
    with pytest.raises(ValueError, match="side >= 16"):
        FeatureDiscriminator.config_class(feature_size=8, stages=4)


def test_fsrfer_is_the_classifier_on_gs_features():
    torch.manual_seed(0)
    model = FSRFER(FSRFER.tiny_config()).eval()
    faces = torch.rand(2, 3, 32, 32)
    features = model.generator(model.backbone.features(faces))
    assert torch.allclose(model(faces), model.backbone.classify_features(features))
    probabilities = model.recognize(torch.rand(2, 3, 8, 8))  # any side: bicubic to the backbone's first
    assert probabilities.shape == (2, 8) and torch.allclose(probabilities.sum(1), torch.ones(2))
    with pytest.raises(ValueError, match="feature_size"):
        FSRFERConfig(backbone=CovPoolFER.tiny_config(), generator=FeatureGeneratorConfig(feature_size=5))


# --- the LR inputs ---------------------------------------------------------------------------------------------------
def test_the_lr_input_is_matlab_bicubic_down_and_bicubic_back_up():
    torch.manual_seed(0)
    hr = torch.rand(2, 3, 100, 100)
    small = bicubic_downsample(hr, 3, quantize=True)
    assert small.shape[-1] == 34 and torch.equal(small, (small * 255).round() / 255)  # 8-bit, ceil(100 / 3)
    lr = low_resolution_input(hr, 3)
    assert lr.shape == hr.shape and torch.equal(lr, imresize(small, size=100, clamp=True))
    assert low_resolution_input(hr, 4, size=50).shape[-1] == 50
    assert torch.equal(low_resolution_input(hr, 1), hr)
    # the more a face is shrunk, the more it loses
    errors = [F.mse_loss(low_resolution_input(hr, f), hr) for f in (2, 4, 8)]
    assert errors[0] < errors[1] < errors[2]


class Faces(torch.utils.data.Dataset):
    def __init__(self, side: int = 32, n: int = 7):
        self.side, self.n = side, n

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, index: int) -> dict:
        image = torch.rand(3, self.side, self.side, generator=torch.Generator().manual_seed(index))
        return {"image": image, "expression": index % 8}


def test_each_face_gets_one_factor_drawn_in_training_and_fixed_in_evaluation():
    factors = (2, 3, 4, 5, 6, 7, 8)
    fixed = LowResolutionFaces(Faces(), size=32, factors=factors, train=False)
    assert [fixed[i]["factor"] for i in range(7)] == list(factors)
    sample = fixed[2]
    assert torch.equal(sample["lr"], low_resolution_input(sample["image"], 4)) and sample["expression"] == 2
    drawn = LowResolutionFaces(Faces(), size=32, factors=factors, train=True)
    seen = set()
    for seed in range(40):
        torch.manual_seed(seed)
        seen.add(drawn[0]["factor"])
    assert seen == set(factors)
    resized = LowResolutionFaces(Faces(side=40), size=32, factors=(2,), train=False)[1]
    assert resized["image"].shape == (3, 32, 32)
    assert torch.equal(resized["image"], imresize(Faces(side=40)[1]["image"], size=32, clamp=True))


# --- the losses ------------------------------------------------------------------------------------------------------
class Linear(torch.nn.Module):
    def __init__(self, a: list[float]):
        super().__init__()
        self.a = torch.nn.Parameter(torch.tensor(a))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x * self.a).sum(1)


def test_the_wgan_div_penalty_by_hand():
    # D(x) = a . x: the gradient is a everywhere, ||a|| = 3, so k ||a||^p = 2 * 3^6
    critic = Linear([1.0, 2.0, 2.0])
    real, fake = torch.randn(4, 3), torch.randn(4, 3)
    penalty = wgan_div_penalty(critic, real, fake, k=2.0, p=6.0)
    assert penalty.item() == pytest.approx(1458.0)
    penalty.backward()  # differentiable in D's weights: d/da 2 ||a||^6 = 12 ||a||^4 a
    assert torch.allclose(critic.a.grad, 12 * 81 * torch.tensor([1.0, 2.0, 2.0]))

    # D(x) = ||x||^2 / 2: the gradient is the mixed point itself, u real + (1 - u) fake
    def quadratic(x):
        return 0.5 * x.square().sum(1)

    real, fake = torch.tensor([[2.0, 0.0], [3.0, 0.0]]), torch.tensor([[0.0, 0.0], [1.0, 0.0]])
    mixed = wgan_div_penalty(quadratic, real, fake, k=2.0, p=6.0, mix=torch.tensor([0.5, 0.5]))
    assert mixed.item() == pytest.approx(2.0 * (1.0**6 + 2.0**6) / 2)  # points (1, 0) and (2, 0)
    assert wgan_div_penalty(quadratic, real, fake, k=1.0, p=2.0, mix=torch.tensor([1.0, 0.0])).item() == \
        pytest.approx((4.0 + 1.0) / 2)  # the real first point, the fake second
    assert wgan_div_penalty(quadratic, torch.zeros(2, 2), torch.zeros(2, 2)).item() == 0.0


def test_the_reweighting_is_sigma_minus_p_to_the_r():
    p = torch.tensor([1.0, 0.5, 0.0, 0.25])
    assert torch.allclose(reweighting(p), torch.tensor([0.5, 1.0, 1.5, 1.25]))  # sigma 1.5, r 1
    assert torch.allclose(reweighting(p, sigma=2.0, r=2.0), torch.tensor([1.0, 2.25, 4.0, 3.0625]))


# --- the accuracy table ----------------------------------------------------------------------------------------------
def batches_of(dataset, size: int = 4):
    return list(torch.utils.data.DataLoader(dataset, batch_size=size))


def test_recognition_accuracy_counts_each_factor_and_an_identity_generator_changes_nothing():
    torch.manual_seed(0)
    backbone = CovPoolFER(CovPoolFER.tiny_config()).eval()
    faces = Faces(n=7)
    batches = batches_of(faces)
    table = recognition_accuracy(backbone, None, batches, factors=(2, 4))
    assert list(table) == ["bicubic"] and list(table["bicubic"]) == ["HR", "x2", "x4", "avg"]
    images = torch.stack([faces[i]["image"] for i in range(7)])
    target = torch.tensor([faces[i]["expression"] for i in range(7)])
    with torch.no_grad():
        hr = (backbone(images).argmax(1) == target).float().mean().item()
        x4 = (backbone(low_resolution_input(images, 4)).argmax(1) == target).float().mean().item()
    assert table["bicubic"]["HR"] == pytest.approx(hr) and table["bicubic"]["x4"] == pytest.approx(x4)
    assert table["bicubic"]["avg"] == pytest.approx((table["bicubic"]["x2"] + x4) / 2)
    g = FeatureGenerator(FeatureGeneratorConfig(feature_size=4, channels=4, growth=2, blocks=1))
    with torch.no_grad():
        g.tail[-1].weight.zero_()
        g.tail[-1].bias.zero_()
    both = recognition_accuracy(backbone, g, batches, factors=(2, 4))
    assert both["FSR-FER"] == both["bicubic"] == table["bicubic"]


# --- the tasks -------------------------------------------------------------------------------------------------------
TINY = {
    "covpoolfer": {"net.image_size": 32, "net.widths": "[4,8]", "net.cov_channels": 8, "net.spd_dims": "[6,4]",
                   "net.hidden": 16, "net.embedding": 8},
    "fsrfer": {"net.feature_size": 4, "net.channels": 8, "net.growth": 4, "net.blocks": 2, "d_channels": 4,
               "d_stages": 1, "d_hidden": 8},
    "fsrfer_isr": {"net.image_size": 32, "net.depth": 3, "net.channels": 4},
}


@pytest.fixture(scope="module")
def helpers(tmp_path_factory):
    """A cache for the rendered faces and a tiny backbone."""
    root = tmp_path_factory.mktemp("fsrfer")
    torch.manual_seed(0)
    CovPoolFER(CovPoolFER.tiny_config()).save_pretrained(root / "backbone")
    FeatureGenerator(FeatureGenerator.tiny_config()).save_pretrained(root / "not_a_backbone")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("FACEFORGE_CACHE", str(root / "cache"))
        yield root


def tiny_run(helpers, task: str, folder, **options):
    overrides = [f"output_dir={folder}", "steps=3", "batch_size=2", "eval_batch_size=2", "num_workers=0",
                 "eval_every=3", "checkpoint_every=3", "sample_every=0", "log_every=1", "trackers=none"]
    options = {**TINY[task], "train_length": 6, "eval_length": 3, "test_length": 4, "factors": "[2,4,8]",
               **({"backbone": helpers / "backbone"} if task in ("fsrfer", "fsrfer_isr") else {}), **options}
    overrides += [f"options.{k}={v}" for k, v in options.items()]
    return load_run(f"train/configs/{task}_cpu.yaml", overrides)


def fsrfer_task(helpers, **options):
    task = build_task(tiny_run(helpers, "fsrfer", helpers / "unused", **options))
    data = task.train_dataset()
    task.nets = task.build_networks()
    task.optimizers = task.build_optimizers()
    return task, torch.utils.data.default_collate([data[0], data[1], data[2]])


@pytest.mark.parametrize("reweight_on", ["sr", "lr", None])
def test_the_generator_loss_is_eq_10_reweighted_by_eq_11(helpers, reweight_on):
    options = {"reweight": "false"} if reweight_on is None else {"reweight_on": reweight_on}
    task, batch = fsrfer_task(helpers, **options)
    nets = task.nets
    backbone, g, d = nets["backbone"], nets["g"], nets["d"]
    assert not backbone.training and not any(p.requires_grad for p in backbone.parameters())
    assert [(s.name, s.every) for s in task.steps()] == [("d", 1), ("g", 1)]
    torch.manual_seed(0)
    loss, logs = task.generator_loss(batch)
    f_hr, f_lr = backbone.features(batch["image"]), backbone.features(batch["lr"])
    f_sr = g(f_lr)
    adv = d(f_sr)
    per = (backbone.embed(f_sr) - backbone.embed(f_hr)).square().sum(1)
    l2 = (f_sr - f_hr).square().sum((1, 2))
    assert torch.allclose(logs["adv"], adv.mean()) and torch.allclose(logs["per"], per.mean(), rtol=1e-5)
    assert torch.allclose(logs["l2"], l2.mean(), rtol=1e-5)
    target = batch["expression"]
    on = f_lr if reweight_on == "lr" else f_sr
    p = backbone.classify_features(on).softmax(1)[torch.arange(3), target]
    per_face = adv + per + l2
    if reweight_on is None:
        assert "weight" not in logs and torch.allclose(loss, per_face.mean(), rtol=1e-5)
    else:
        assert torch.allclose(logs["weight"], (1.5 - p).mean(), rtol=1e-5)
        assert torch.allclose(loss, ((1.5 - p) * per_face).mean(), rtol=1e-5)
    loss.backward()
    assert all(q.grad is not None for q in g.parameters())
    assert all(q.grad is None for q in backbone.parameters())


def test_the_discriminator_loss_is_eq_8(helpers):
    task, batch = fsrfer_task(helpers)
    nets = task.nets
    torch.manual_seed(1)
    loss, logs = task.d_step(batch)
    f_hr, f_lr = nets["backbone"].features(batch["image"]), nets["backbone"].features(batch["lr"])
    f_sr = nets["g"](f_lr)
    torch.manual_seed(1)  # the same mixing weights u
    penalty = wgan_div_penalty(nets["d"], f_hr, f_sr, k=2.0, p=6.0)
    assert torch.allclose(logs["penalty"], penalty, rtol=1e-5)
    expected = nets["d"](f_hr).mean() - nets["d"](f_sr).mean() + penalty
    assert torch.allclose(loss, expected, rtol=1e-5)
    # the features of a batch are computed once for both steps
    assert task.features(batch)[0] is task.features(batch)[0]


def test_the_learning_rate_halves_at_the_milestones(helpers):
    task, _ = fsrfer_task(helpers, milestones="[2,4]")
    assert task.optimizers["g"].defaults["betas"] == (0.0, 0.99) and task.optimizers["d"].defaults["lr"] == 2e-4
    schedulers = task.build_schedulers()
    rates = []
    for _ in range(5):
        rates.append(task.optimizers["g"].param_groups[0]["lr"])
        task.optimizers["g"].step()
        schedulers["g"].step()
    assert rates == pytest.approx([2e-4, 2e-4, 1e-4, 1e-4, 5e-5])


@pytest.mark.parametrize("options, message", [
    ({"sigma": 1.0}, "sigma > 1"),
    ({"factors": "[1,2]"}, "factors"),
    ({"milestones": "[5,2]"}, "milestones"),
    ({"k": -1}, "k >= 0"),
])
def test_the_options_refuse_impossible_settings(helpers, options, message):
    with pytest.raises(ValueError, match=message):
        tiny_run(helpers, "fsrfer", helpers / "unused", **options)


def test_the_generator_must_fit_the_backbone_and_the_backbone_must_be_one(helpers):
    task = build_task(tiny_run(helpers, "fsrfer", helpers / "unused", **{"net.feature_size": 6}))
    task.train_dataset()
    with pytest.raises(ConfigError, match="set options.net.feature_size=4"):
        task.build_networks()
    for backbone, message in ((helpers / "missing", "cannot be loaded"), (helpers / "not_a_backbone", "not a Cov")):
        with pytest.raises(ConfigError, match=message):
            build_task(tiny_run(helpers, "fsrfer", helpers / "unused", backbone=backbone)).train_dataset()
    assert FSRFEROptions().reweight and FSRFEROptions().factors == (2, 3, 4, 5, 6, 7, 8)


def test_the_family_is_registered_with_its_evaluators(helpers):
    assert {"covpoolfer", "fsrfer", "fsrfer_generator", "fsrfer_discriminator"} <= set(faceforge.list_models())
    assert {"covpoolfer", "fsrfer"} <= set(faceforge.list_tasks())
    family = faceforge.registry.family_of("fsrfer")
    assert family.paper.year == 2020 and "Multi-scale Low-Resolution" in family.paper.title
    torch.manual_seed(0)
    model = FSRFER(FSRFER.tiny_config())
    result = evaluate(model, Faces(side=40, n=5), batch_size=2, factors=(2, 8))
    assert list(result["table"]) == ["bicubic", "FSR-FER"] and result["details"]["samples"] == 5
    assert list(result["table"]["FSR-FER"]) == ["HR", "x2", "x8", "avg"] and result["percent"]
    alone = evaluate(model.backbone, Faces(side=40, n=5), batch_size=5, factors=(2, 8))["table"]
    assert alone == {"bicubic": result["table"]["bicubic"]}  # the backbone's own row, whatever the batches


def test_both_tasks_train_through_the_real_loop_and_export_loadable_models_with_cards(helpers):
    folder = helpers / "covpoolfer"
    run = tiny_run(helpers, "covpoolfer", folder)
    assert run.synth_version == 2 and run.options.net.image_size == 32
    result = train(build_task(run))
    assert result.step == 3 and {"accuracy_hr", "accuracy_x2", "accuracy_avg"} <= set(result.metrics)
    backbone = faceforge.from_pretrained(folder / "model")
    assert isinstance(backbone, CovPoolFER) and backbone.config == run.options.net
    test = json.loads((folder / "train_summary.json").read_text())["test_metrics"]
    card = (folder / "model" / "README.md").read_text()
    cells = " | ".join(f"{100 * test['bicubic'][c]:.2f}" for c in ("HR", "x2", "x4", "x8", "avg"))
    assert f"| CovPoolFER (this model) | {cells} |" in card and "| method | HR | x2 | x4 | x8 | avg |" in card

    folder = helpers / "fsrfer"
    run = tiny_run(helpers, "fsrfer", folder, backbone=helpers / "covpoolfer" / "model")
    result = train(build_task(run))
    assert result.step == 3
    model = faceforge.from_pretrained(folder / "model")
    assert isinstance(model, FSRFER) and model.config.generator == run.options.net
    for name, value in backbone.state_dict().items():  # the frozen backbone, exported as it was loaded
        assert torch.equal(model.backbone.state_dict()[name], value), name
    assert model(torch.rand(2, 3, 32, 32)).shape == (2, 8)
    log = [json.loads(line) for line in (folder / "log.jsonl").read_text().splitlines()]
    assert sum("d/loss" in row for row in log) == 3 and sum("g/loss" in row for row in log) == 3
    assert {"g/adv", "g/per", "g/l2", "g/weight", "d/penalty"} <= set().union(*log)
    assert {"accuracy_x8", "accuracy_bicubic_x8", "accuracy_hr"} <= set(result.metrics)
    test = json.loads((folder / "train_summary.json").read_text())["test_metrics"]
    card = (folder / "model" / "README.md").read_text()
    cells = " | ".join(f"{100 * test['FSR-FER'][c]:.2f}" for c in ("HR", "x2", "x4", "x8", "avg"))
    assert f"| FSR-FER (this model) | {cells} |" in card
    assert "Eq. (10): 1 L_gan + 1 L_p + 1 L_2, each face's weighted by Eq. (11)" in card and "split: test" in card


def test_the_isr_row_is_the_backbone_on_the_restorers_faces_and_hr_faces_as_they_are():
    torch.manual_seed(0)
    backbone = CovPoolFER(CovPoolFER.tiny_config()).eval()
    batches = batches_of(Faces(n=7))
    identity = VDSR(VDSRConfig(image_size=32, scale=1, depth=2, channels=2))
    with torch.no_grad():
        identity.body[-1].weight.zero_()
        identity.body[-1].bias.zero_()  # residual 0: the restorer gives its bicubic input back
    table = recognition_accuracy(backbone, None, batches, factors=(2, 4), restorer=identity)
    assert list(table) == ["bicubic", "ISR"] and table["ISR"] == table["bicubic"]

    class Grey(torch.nn.Module):  # a restorer that loses every face: one grey image
        def forward(self, faces):
            return {"sr": torch.full_like(faces, 0.5)}

    grey = recognition_accuracy(backbone, None, batches, factors=(2, 4), restorer=Grey())
    assert grey["ISR"]["HR"] == table["bicubic"]["HR"]  # HR faces are not restored
    with torch.no_grad():
        constant = backbone(torch.full((1, 3, 32, 32), 0.5)).argmax(1).item()
    share = sum(batch["expression"].eq(constant).sum().item() for batch in batches) / 7
    assert grey["ISR"]["x2"] == grey["ISR"]["x4"] == pytest.approx(share)


def test_the_isr_task_trains_vdsr_on_bicubic_upsampled_faces_and_reports_the_backbone_on_its_output(helpers):
    with pytest.raises(ValueError, match="scale must be 1"):
        tiny_run(helpers, "fsrfer_isr", helpers / "unused", **{"net.scale": 2})
    with pytest.raises(ConfigError, match="backbone takes 32x32"):
        build_task(tiny_run(helpers, "fsrfer_isr", helpers / "unused", **{"net.image_size": 40})).train_dataset()
    folder = helpers / "isr"
    run = tiny_run(helpers, "fsrfer_isr", folder)
    result = train(build_task(run))
    assert result.step == 3 and {"accuracy_x8", "accuracy_bicubic_x8", "accuracy_hr"} <= set(result.metrics)
    assert result.metrics["accuracy_hr"] == result.metrics["accuracy_bicubic_hr"]
    net = faceforge.from_pretrained(folder / "model")
    assert isinstance(net, VDSR) and net.config.scale == 1 and net.config.lr_size == 32
    faces = torch.rand(2, 3, 32, 32)
    assert net.restore(faces).shape == (2, 3, 32, 32)
    log = [json.loads(line) for line in (folder / "log.jsonl").read_text().splitlines()]
    assert sum("net/loss" in row for row in log) == 3 and all(row["net/psnr"] > 0 for row in log if "net/psnr" in row)
    test = json.loads((folder / "train_summary.json").read_text())["test_metrics"]
    card = (folder / "model" / "README.md").read_text()
    cells = " | ".join(f"{100 * test['ISR'][c]:.2f}" for c in ("HR", "x2", "x4", "x8", "avg"))
    assert f"| VDSR (this model), then the backbone | {cells} |" in card


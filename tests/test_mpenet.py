"""MPENet / MPEGAN: shapes of every variant, the residual design, gradients, heatmap decoding, the AU prior's
wiring, and both training tasks through the real loop."""

from __future__ import annotations

import dataclasses
import json

import pytest
import torch
import torch.nn.functional as F

import faceforge
from faceforge.face.aus import au_attention_maps
from faceforge.models.au_detector import AUDetector
from faceforge.models.expression import ExpressionClassifier
from faceforge.models.mpenet import ABLATIONS, MPEGANDiscriminator, MPENet, MPENetConfig
from faceforge.nn import FeedbackBlock, heatmap_landmarks, landmark_heatmaps
from faceforge.training.config import ConfigError
from faceforge.training.loop import train
from faceforge.training.tasks import build_task, load_run
from faceforge.training.tasks.mpenet import SuperResolutionFaces

pytestmark = pytest.mark.usefixtures("one_thread")  # small tensors: one thread (conftest)


def tiny(variant: str = "full", **fields) -> MPENetConfig:
    use_landmarks, use_aus, au_attention = ABLATIONS[variant]
    return dataclasses.replace(MPENet.tiny_config(), use_landmarks=use_landmarks, use_aus=use_aus,
                               au_attention=au_attention, **fields)


# --- the network ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("variant", list(ABLATIONS))
def test_every_output_has_its_shape_in_every_ablation_variant(variant):
    torch.manual_seed(0)
    model = MPENet(tiny(variant)).eval()
    cfg = model.config
    assert cfg.variant == variant
    s, h = cfg.image_size, cfg.feature_size
    with torch.no_grad():
        out = model(*model.example_inputs(3))
    assert list(out) == ["sr", "steps", "heatmaps", "heatmap_stacks", "landmarks", "au_logits"]
    assert out["sr"].shape == (3, 3, s, s) and len(out["steps"]) == cfg.steps == 3
    assert all(t.shape == (3, 3, s, s) for t in out["steps"]) and out["sr"] is out["steps"][-1]
    if cfg.use_landmarks:
        assert out["heatmaps"].shape == (3, 68, h, h) and len(out["heatmap_stacks"]) == cfg.align_stacks
        assert out["landmarks"].shape == (3, 68, 2) and not out["landmarks"].requires_grad
    else:
        assert out["heatmaps"] is None and out["heatmap_stacks"] is None and out["landmarks"] is None
    if cfg.use_aus:
        assert out["au_logits"].shape == (3, len(cfg.aus))
    else:
        assert out["au_logits"] is None
    assert model.fuse[0][0].in_channels == 2 * cfg.channels + 68 * cfg.use_landmarks + 18 * cfg.use_aus


def test_default_config_is_the_papers_x8_network():
    cfg = MPENetConfig()
    assert (cfg.lr_size, cfg.image_size, cfg.feature_size, cfg.steps) == (16, 128, 32, 3)
    assert (cfg.channels, cfg.groups, cfg.variant) == (48, 6, "full")
    block = FeedbackBlock(48, 6, cfg.feature_factor)
    assert len(block.up) == 6 and block.up[0][0].kernel_size == (8, 8) and block.up[0][0].stride == (4, 4)


@pytest.mark.parametrize("fields, message", [
    ({"steps": 2}, "use_aus needs steps >= 3"),
    ({"steps": 1, "use_aus": False, "au_attention": False}, "use_landmarks needs steps >= 2"),
    ({"use_landmarks": False}, "au_attention needs use_landmarks"),
    ({"scale": 3}, "divisible by scale"),
    ({"hourglass_depth": 5}, "hourglass_depth"),
    ({"au_backbone": "no_such_net"}, "au_backbone"),
    ({"aus": (1, 99)}, "no attention-map rule"),
])
def test_config_refuses_impossible_networks(fields, message):
    with pytest.raises(ValueError, match=message):
        dataclasses.replace(MPENet.tiny_config(), **fields)


def test_the_ablation_variants_are_table_4():
    assert [MPENetConfig.ablation(v).variant for v in ABLATIONS] == ["baseline", "landmarks", "landmarks_aus", "full"]
    assert MPENetConfig() == MPENetConfig.ablation("full")
    with pytest.raises(ValueError, match="unknown MPENet variant"):
        MPENetConfig.ablation("everything")


def test_a_zero_reconstruction_gives_the_bilinear_upsampling():
    """Eq. (4): I_SR^t = I_res^t + H_UP(I_LR); with the last conv of RECB at zero, every step is H_UP(I_LR)."""
    model = MPENet(tiny()).eval()
    with torch.no_grad():
        model.reconstruct[-1].weight.zero_()
        model.reconstruct[-1].bias.zero_()
        lr = model.example_inputs(2)[0]
        out = model(lr)
    expected = F.interpolate(lr, scale_factor=model.config.scale, mode="bilinear", align_corners=False)
    for step in out["steps"]:
        assert torch.equal(step, expected)


def test_a_gradient_reaches_every_parameter():
    torch.manual_seed(0)
    model = MPENet(tiny()).train()
    with torch.no_grad():  # timm starts the last BatchNorm of each residual block at 0, which blocks gradients
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.01)
    out = model(*model.example_inputs(2))
    loss = sum(t.square().mean() for t in out["steps"]) + out["au_logits"].square().mean()
    loss = loss + sum(h.square().mean() for h in out["heatmap_stacks"])
    loss.backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert not missing, missing


@pytest.mark.parametrize("detach", [True, False])
def test_the_reconstruction_reaches_the_prior_branches_only_when_the_priors_are_not_detached(detach):
    torch.manual_seed(0)
    model = MPENet(tiny(detach_priors=detach)).train()
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.01)
    out = model(*model.example_inputs(2))
    out["sr"].square().mean().backward()  # the last step's reconstruction alone
    for branch in (model.align, model.au_branch):
        reached = any(p.grad is not None and p.grad.abs().sum() > 0 for p in branch.parameters())
        assert reached != detach


def test_the_priors_reach_the_later_steps_only():
    """Step 1 sees no prior; the landmark heatmaps (shape prior) change the steps after it."""
    torch.manual_seed(0)
    model = MPENet(tiny()).eval()
    lr = model.example_inputs(2)[0]
    with torch.no_grad():
        reference = model(lr)
        model.align.hourglasses.heads[-1].bias.add_(1.0)  # other heatmaps: other shape prior
        shifted = model(lr)
    assert torch.equal(reference["steps"][0], shifted["steps"][0])
    assert not torch.allclose(reference["steps"][1], shifted["steps"][1])


# --- heatmaps ------------------------------------------------------------------------------------------------------
def test_heatmap_decoding_recovers_known_points():
    generator = torch.Generator().manual_seed(0)
    points = torch.rand(4, 68, 2, generator=generator) * 127  # HR pixels of a 128 face, borders included
    for sigma, radius in ((1.0, 3), (1.5, 5)):
        maps = landmark_heatmaps(points, size=32, image_size=128, sigma=sigma)
        assert maps.shape == (4, 68, 32, 32) and maps.amax() <= 1
        error = (heatmap_landmarks(maps, image_size=128, radius=radius) - points).abs()
        interior = (points >= 4 * (radius + 1)) & (points <= 127 - 4 * (radius + 1))  # full window inside
        assert error[interior].max() < 0.05  # HR pixels (a heatmap pixel is 4)
        assert error.max() < 2.0  # at the borders: within half a heatmap pixel
    # A single hot pixel decodes to that pixel's centre; the image pixels it covers are centred on it.
    one = torch.zeros(1, 1, 32, 32)
    one[0, 0, 10, 20] = 1.0
    assert heatmap_landmarks(one, image_size=128).tolist() == [[[81.5, 41.5]]]


def test_the_model_decodes_its_heatmaps_into_landmarks():
    model = MPENet(MPENet.tiny_config())
    points = torch.full((1, 68, 2), 16.0)
    points[0, :2] = torch.tensor([[5.0, 7.0], [20.25, 12.5]])
    maps = landmark_heatmaps(points, size=16, image_size=32, sigma=model.config.heatmap_sigma)
    assert torch.allclose(model.landmarks_from_heatmaps(maps), points, atol=0.05)


# --- the AU prior --------------------------------------------------------------------------------------------------
def test_the_texture_prior_is_au_probabilities_times_attention_maps_of_the_landmarks():
    from faceforge.face.template import canonical_landmarks

    model = MPENet(MPENet.tiny_config())
    cfg = model.config
    logits = torch.randn(2, len(cfg.aus), generator=torch.Generator().manual_seed(0))
    landmarks = torch.as_tensor(canonical_landmarks(cfg.image_size), dtype=torch.float32).expand(2, 68, 2)
    prior = model.texture_prior(logits, landmarks)
    attention = au_attention_maps(landmarks, aus=cfg.aus, map_size=cfg.feature_size, image_size=cfg.image_size)
    assert prior.shape == (2, len(cfg.aus), cfg.feature_size, cfg.feature_size)
    assert torch.allclose(prior, torch.sigmoid(logits)[:, :, None, None] * attention)
    moved = model.texture_prior(logits, landmarks + torch.tensor([4.0, -3.0]))
    assert not torch.allclose(moved, prior)  # other landmarks, other attention

    plain = MPENet(tiny("landmarks_aus"))  # Table 4's "+AUs" without attention maps ignores the landmarks
    assert torch.equal(plain.texture_prior(logits, landmarks), plain.texture_prior(logits, landmarks + 4.0))
    assert torch.equal(plain.texture_prior(logits, None)[..., 3, 5], torch.sigmoid(logits))


def test_the_estimated_landmarks_steer_step_3_through_the_attention_maps(monkeypatch):
    torch.manual_seed(0)
    model = MPENet(tiny()).eval()
    lr = model.example_inputs(2)[0]
    outputs = []
    for shift in (0.0, 5.0):
        decode = MPENet.landmarks_from_heatmaps

        def shifted(self, heatmaps, shift=shift, decode=decode):
            return decode(self, heatmaps) + shift

        monkeypatch.setattr(MPENet, "landmarks_from_heatmaps", shifted)
        with torch.no_grad():
            outputs.append(model(lr))
    first, second = outputs
    assert torch.equal(first["steps"][1], second["steps"][1]) and torch.equal(first["au_logits"], second["au_logits"])
    assert not torch.allclose(first["steps"][2], second["steps"][2])


def test_the_discriminator_returns_one_logit_per_face():
    model = MPEGANDiscriminator(MPEGANDiscriminator.tiny_config())
    assert model(torch.rand(3, 3, 32, 32)).shape == (3,)


# --- training ------------------------------------------------------------------------------------------------------
class MarkedFaces(torch.utils.data.Dataset):
    """36x36 black faces with one white pixel on the nose tip (landmark 30, its own mirror image)."""

    def __len__(self) -> int:
        return 8

    def __getitem__(self, index: int) -> dict:
        landmarks = torch.randint(3, 33, (68, 2)).float()
        image = torch.zeros(3, 36, 36)
        x, y = landmarks[30].long().tolist()
        image[:, y, x] = 1.0
        return {"image": image, "landmarks": landmarks, "au_occurrence": torch.zeros(18)}


@pytest.mark.parametrize("train", [True, False])
def test_crops_and_flips_move_the_landmarks_with_the_face(train):
    faces = SuperResolutionFaces(MarkedFaces(), size=32, scale=4, train=train)
    flips = 0
    for seed in range(16):
        torch.manual_seed(seed)
        original = MarkedFaces()[0]["landmarks"]
        torch.manual_seed(seed)
        sample = faces[0]
        lm = sample["landmarks"]
        assert sample["image"].shape == (3, 32, 32) and sample["lr"].shape == (3, 8, 8)
        assert sample["au_mask"].tolist() == [1.0] * 18
        if sample["image"].sum() > 0:  # the marked nose tip is inside the crop: it sits at landmark 30
            y, x = divmod(int(sample["image"][0].argmax()), 32)
            assert lm[30].tolist() == [x, y]
        # Heights relative to the nose tip survive any crop; a flip swaps the jaw's ends (0 <-> 16).
        rel = lm[0, 1] - lm[30, 1]
        flipped = rel == original[16, 1] - original[30, 1] and rel != original[0, 1] - original[30, 1]
        flips += bool(flipped)
        if not train:
            assert torch.equal(lm, original - 2)  # the centre crop of 36 -> 32
    assert (0 < flips < 16) if train else flips == 0


TINY_OPTIONS = {"net.image_size": 32, "net.scale": 4, "net.channels": 8, "net.groups": 2, "net.align_channels": 16,
                "net.hourglass_depth": 2, "net.au_backbone": "resnet10t", "net.au_image_size": 32, "au_init": "",
                "align_init": "", "crop_margin": 2,
                "train_length": 8, "eval_length": 4, "test_length": 4}


def tiny_run(task: str, folder, **options):
    overrides = [f"output_dir={folder}", "steps=2", "batch_size=2", "num_workers=0", "eval_every=2",
                 "checkpoint_every=2", "sample_every=2", "sample_count=2", "log_every=1", "trackers=none"]
    overrides += [f"options.{k}={v}" for k, v in {**TINY_OPTIONS, **options}.items()]
    return load_run(f"train/configs/{task}.yaml", overrides)


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    root = tmp_path_factory.mktemp("mpenet")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("FACEFORGE_CACHE", str(root / "cache"))
        yield root


@pytest.fixture(scope="module")
def mpenet_run(cache):
    result = train(build_task(tiny_run("mpenet", cache / "mpenet")))
    return result, cache / "mpenet"


@pytest.mark.slow
def test_the_mpenet_task_trains_and_exports_a_loadable_model(mpenet_run):
    result, folder = mpenet_run
    model = faceforge.from_pretrained(folder / "model")
    assert isinstance(model, MPENet) and model.config.image_size == 32 and model.config.variant == "full"
    out = model(torch.rand(2, 3, 8, 8))
    assert out["sr"].shape == (2, 3, 32, 32) and torch.isfinite(out["sr"]).all()
    metrics = result.metrics
    assert {"psnr", "ssim", "psnr_step1", "psnr_step3", "psnr_bicubic", "landmark_px"} <= set(metrics)
    assert metrics["psnr"] == metrics["psnr_step3"] and 0 < metrics["ssim"] <= 1
    log = [json.loads(line) for line in (folder / "log.jsonl").read_text().splitlines()]
    logged = set().union(*log)
    assert {"g/rec", "g/align", "g/au"} <= logged
    assert list((folder / "samples").glob("*.png"))
    card = (folder / "model" / "README.md").read_text()
    assert "PSNR" in card and "split: test" in card


@pytest.mark.slow
def test_the_mpegan_task_starts_from_an_mpenet_folder(mpenet_run, cache):
    _, mpenet_folder = mpenet_run
    torch.manual_seed(0)
    perceptual = ExpressionClassifier(ExpressionClassifier.tiny_config())
    perceptual.save_pretrained(cache / "perceptual")
    run = tiny_run("mpegan", cache / "mpegan", init=str(mpenet_folder / "model"),
                   perceptual_model=str(cache / "perceptual"))
    task = build_task(run)
    result = train(task)
    initial = faceforge.from_pretrained(mpenet_folder / "model")
    model = faceforge.from_pretrained(cache / "mpegan" / "model")
    assert isinstance(model, MPENet) and model.config == initial.config
    log = [json.loads(line) for line in (cache / "mpegan" / "log.jsonl").read_text().splitlines()]
    assert {"d/loss", "g/per", "g/adv"} <= set().union(*log)
    assert "psnr" in result.metrics
    with pytest.raises(ConfigError, match="options.init"):
        train(build_task(tiny_run("mpegan", cache / "mpegan_without_init", init="")))


def test_the_au_branch_starts_from_a_trained_au_detector(cache):
    torch.manual_seed(0)
    detector = AUDetector(AUDetector.tiny_config())
    detector.save_pretrained(cache / "detector")
    task = build_task(tiny_run("mpenet", cache / "unused", au_init=str(cache / "detector")))
    generator = task.build_generator()
    assert generator.config.au_image_size == detector.config.image_size
    for name, value in detector.state_dict().items():
        assert torch.equal(generator.au_branch.state_dict()[name], value), name
    scratch = build_task(tiny_run("mpenet", cache / "unused")).build_generator()
    assert not torch.equal(scratch.au_branch.net.fc.weight, detector.net.fc.weight)
    with pytest.raises(ConfigError, match="au_init"):
        build_task(tiny_run("mpenet", cache / "unused", au_init=str(cache / "missing"))).build_generator()


def test_without_the_shipped_au_detector_the_au_branch_trains_from_scratch(cache, monkeypatch):
    from faceforge.modeling import ModelLoadError

    def unavailable(name, **kwargs):
        raise ModelLoadError(f"{name} is not here")

    monkeypatch.setattr(faceforge, "from_pretrained", unavailable)
    task = build_task(tiny_run("mpenet", cache / "unused", au_init="au-detector"))
    assert task.build_generator().au_branch is not None and task.au_init_source == ""


def test_the_alignment_branch_starts_from_a_trained_face_alignment_network(cache):
    from faceforge.models.face_alignment import FaceAlignment, FaceAlignmentConfig

    torch.manual_seed(0)
    aligner = FaceAlignment(FaceAlignmentConfig(image_size=32, heatmap_size=16, channels=16, stacks=2, depth=2))
    aligner.save_pretrained(cache / "aligner")
    task = build_task(tiny_run("mpenet", cache / "unused", align_init=str(cache / "aligner")))
    generator = task.build_generator()
    for name, value in aligner.branch.state_dict().items():
        assert torch.equal(generator.align.state_dict()[name], value), name
    assert task.align_init_source == str(cache / "aligner")
    FaceAlignment(FaceAlignmentConfig(image_size=32, heatmap_size=16, channels=8, stacks=2, depth=2)).save_pretrained(
        cache / "narrow")
    with pytest.raises(ConfigError, match="sizes"):
        build_task(tiny_run("mpenet", cache / "unused", align_init=str(cache / "narrow"))).build_generator()


@pytest.mark.parametrize("norm", ["paper", "mean"])
def test_the_loss_terms_are_weighed_as_the_paper_writes_them(cache, norm):
    """"paper": Eq. (13) over the face's pixel count, with Eq. (5) a squared norm over the heatmaps and Eq. (6)-(7)
    sums over AUs; "mean": per-element means weighed by the lambdas directly."""
    task = build_task(tiny_run("mpenet", cache / "unused", loss_norm=norm))
    data = task.train_dataset()
    task.nets = task.build_networks()
    torch.manual_seed(0)
    batch = torch.utils.data.default_collate([data[0], data[1]])
    out = task.nets["g"](batch["lr"])
    loss, logs = task.restoration_loss(batch, out)
    hr, heatmaps = batch["image"], out["heatmaps"]
    pixels, heatmap_elements, n_aus = hr[0].numel(), heatmaps[0].numel(), len(task.au_columns)
    o = task.opts
    if norm == "paper":
        expected = logs["rec"] + (o.lambda_align * heatmap_elements * logs["align"]
                                  + o.lambda_au * n_aus * logs["au"]) / pixels
    else:
        expected = logs["rec"] + o.lambda_align * logs["align"] + o.lambda_au * logs["au"]
    assert torch.allclose(loss, expected, rtol=1e-5)
    rec_norm = torch.stack([(hr - s).square().flatten(1).sum(1).mean() for s in out["steps"]]).mean()
    assert torch.allclose(logs["rec"], rec_norm / pixels, rtol=1e-5)  # Eq. (9) over the pixel count


@pytest.mark.parametrize("variant", ["baseline", "landmarks", "landmarks_aus"])
def test_every_ablation_variant_trains_with_the_papers_loss_terms(cache, variant):
    """Table 4's rows train under ``loss_norm: paper``: a variant without a branch has no such term."""
    task = build_task(tiny_run("mpenet", cache / "unused", variant=variant, loss_norm="paper"))
    data = task.train_dataset()
    task.nets = task.build_networks()
    batch = torch.utils.data.default_collate([data[0], data[1]])
    loss, logs = task.restoration_loss(batch, task.nets["g"](batch["lr"]))
    assert torch.isfinite(loss) and loss > 0
    assert ("align" in logs) == (variant != "baseline") and ("au" in logs) == (variant == "landmarks_aus")
    loss.backward()
    assert all(p.grad is not None for p in task.nets["g"].parameters() if p.requires_grad)

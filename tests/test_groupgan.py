"""GroupGAN (Niu et al., KBS 2022): the generator and its F_exp condition, the BaseNets, the losses of Eq. (1)-(17),
the weak / peak frames and identity-disjoint folds of synthetic sequences, Sec. 4.2's crops, and both training tasks
through the real loop."""

from __future__ import annotations

import dataclasses
import json
import math

import pytest
import torch
import torch.nn.functional as F
from dataset_fixtures import write_ckplus
from torch import nn

import faceforge
from faceforge.config import ConfigError
from faceforge.data.datasets import build_dataset, prepare_dataset
from faceforge.data.synth import SynthSequences
from faceforge.evaluation import evaluate
from faceforge.face.expressions import EXPRESSIONS
from faceforge.models.groupgan import (
    BaseNet,
    BaseNetConfig,
    GroupGAN,
    GroupGANConfig,
    GroupGANDiscriminator,
    GroupGANDiscriminatorConfig,
    GroupGANGenerator,
    GroupGANGeneratorConfig,
    gaussian_init_,
)
from faceforge.training.loop import train
from faceforge.training.tasks import build_task, load_run
from faceforge.training.tasks.groupgan import (
    MagnificationPairs,
    SynthSequencePairs,
    classification_loss,
    content_loss,
    discriminator_loss,
    evaluate_weak_recognition,
    fooling_loss,
    weak_and_peak,
)

pytestmark = pytest.mark.usefixtures("one_thread")  # small tensors: one thread (conftest)

TINY_NET = {"net.image_size": 32, "net.channels": "[4,4,8,8]", "net.cond_dim": 8, "d_channels": "[4,8]",
            "d_hidden": 8, "data.sequences": 5, "data.frames": 9, "data.load_size": 40}
TINY_BASENET = {"net.arch": "vgg11", "net.image_size": 32, "net.width": 0.0625, "net.fc": "[16,8]", "net.pool": 1,
                "data.sequences": 5, "data.frames": 9, "data.load_size": 40}


def tiny_run(config: str, folder, **options):
    overrides = [f"output_dir={folder}", "steps=3", "batch_size=2", "num_workers=0", "eval_every=0",
                 "checkpoint_every=3", "sample_every=3", "sample_count=2", "log_every=1", "trackers=none"]
    overrides += [f"options.{k}={v}" for k, v in options.items()]
    return load_run(f"train/configs/{config}.yaml", overrides)


@pytest.fixture(scope="module")
def classifier(tmp_path_factory):
    """A tiny BaseNet export (F_exp of 8), as the groupgan_basenet task writes it."""
    folder = tmp_path_factory.mktemp("basenet")
    torch.manual_seed(0)
    BaseNet(BaseNetConfig(arch="vgg11", image_size=32, width=1 / 16, fc=(16, 8), pool=1)).save_pretrained(folder)
    return folder


# --- the networks ----------------------------------------------------------------------------------------------------
def test_the_generator_keeps_the_face_shape_and_reads_f_exp_at_its_bottleneck():
    torch.manual_seed(0)
    g = GroupGANGenerator(GroupGANGeneratorConfig(image_size=32, channels=(4, 4, 8, 8), cond_dim=6)).eval()
    x = torch.rand(2, 3, 32, 32)
    f_a, f_b = torch.zeros(2, 6), torch.ones(2, 6)
    with torch.no_grad():
        out_a, out_b = g(x, f_a), g(x, f_b)
    assert out_a.shape == (2, 3, 32, 32) and 0 <= out_a.min() and out_a.max() <= 1
    assert (out_a - out_b).abs().max() > 1e-4  # another F_exp, another face
    assert torch.equal(out_a, g(x, f_a.clone()))  # the same F_exp, the same face
    # the encoder: kernels 7, 5, 3, 3 with strides 1, 2, 2, 2, each followed by a residual block
    convs = [m[0] for m in g.encoder[::2]]
    assert [(c.kernel_size[0], c.stride[0]) for c in convs] == [(7, 1), (5, 2), (3, 2), (3, 2)]
    assert sum(isinstance(m, nn.ConvTranspose2d) for m in g.decoder.modules()) == 4
    assert [m.kernel_size for m in g.decoder.modules() if isinstance(m, nn.Conv2d)] == [(3, 3), (3, 3)]
    assert g.decoder[0][0].in_channels == 8 + 6  # the bottleneck's channels and F_exp's
    with pytest.raises(ValueError, match="conditioned on F_exp"):
        g(x)
    plain = GroupGANGenerator(GroupGANGeneratorConfig(image_size=32, channels=(4, 4, 8, 8), cond_dim=0))
    with pytest.raises(ValueError, match="no F_exp"):
        plain(x, f_a)


def test_the_discriminators_take_their_conditions():
    torch.manual_seed(0)
    d_prime = GroupGANDiscriminator(GroupGANDiscriminatorConfig(image_size=16, channels=(4, 8), hidden=8,
                                                                condition_image=True, cond_dim=3)).eval()
    x, weak, f = torch.rand(2, 3, 16, 16), torch.rand(2, 3, 16, 16), torch.rand(2, 3)
    with torch.no_grad():
        logits = d_prime(x, f, weak)
        assert logits.shape == (2,)
        assert not torch.equal(logits, d_prime(x, f, torch.zeros_like(weak)))
        assert not torch.equal(logits, d_prime(x, torch.zeros_like(f), weak))
    assert d_prime.features[0].in_channels == 6 and d_prime.out.in_features == 8 + 3
    with pytest.raises(ValueError, match="condition image"):
        d_prime(x, f)


@pytest.mark.parametrize("arch", ["alexnet", "vgg11", "vgg13", "vgg16", "resnet18"])
def test_each_basenet_has_its_fully_connected_layers_reduced_to_512_and_256(arch):
    torch.manual_seed(0)
    net = BaseNet(BaseNetConfig(arch=arch, image_size=64, width=1 / 16, pool=2)).eval()
    linears = [m.out_features for m in net.modules() if isinstance(m, nn.Linear)]
    assert linears == [512, 256, len(EXPRESSIONS)]
    x = torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        f_exp, logits = net.features(x), net(x)
    assert f_exp.shape == (2, 256) and logits.shape == (2, len(EXPRESSIONS))
    assert torch.allclose(logits, net.classifier(f_exp))  # E is C without its last layer
    convs = [m for m in net.modules() if isinstance(m, nn.Conv2d)]
    assert convs[0].out_channels == 4  # 64 channels x 1/16
    expected = {"alexnet": 5, "vgg11": 8, "vgg13": 10, "vgg16": 13, "resnet18": 20}[arch]  # ResNet: + 3 projections
    assert len(convs) == expected
    extractor = {id(p) for p in net.extractor_parameters()}
    assert {id(p) for p in net.classifier.parameters()}.isdisjoint(extractor)
    assert len(extractor) == sum(1 for _ in net.parameters()) - 2


def test_gaussian_init_draws_weights_with_std_001_and_sets_biases_to_1():
    torch.manual_seed(0)
    net = gaussian_init_(nn.Sequential(nn.Conv2d(64, 64, 3), nn.BatchNorm2d(64), nn.Linear(512, 512)))
    assert abs(float(net[0].weight.detach().std()) - 0.01) < 5e-4
    assert abs(float(net[2].weight.detach().std()) - 0.01) < 5e-4
    assert torch.equal(net[0].bias, torch.ones(64)) and torch.equal(net[2].bias, torch.ones(512))
    assert torch.equal(net[1].weight, torch.ones(64)) and torch.equal(net[1].bias, torch.zeros(64))


def test_the_exported_recogniser_classifies_the_magnified_faces():
    torch.manual_seed(0)
    model = GroupGAN(GroupGAN.tiny_config()).eval()
    x = torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        f_exp = model.classifier.features(x)
        assert torch.equal(model.magnify(x), model.generator(x, f_exp))
        assert torch.equal(model(x), model.classifier(model.generator(x, f_exp)))
    with pytest.raises(ValueError, match="cond_dim=0"):
        GroupGANConfig(variant="1v2", generator=GroupGANGeneratorConfig(cond_dim=256))


# --- the losses ------------------------------------------------------------------------------------------------------
def test_the_discriminator_loss_is_eq_4_with_eq_7_and_8():
    real, fake = torch.tensor([math.log(3.0)]), torch.tensor([math.log(1 / 3)])  # D(real) = 0.75, D(fake) = 0.25
    assert torch.allclose(discriminator_loss(real, fake), torch.tensor(-2 * math.log(0.75)))
    assert torch.allclose(discriminator_loss(torch.zeros(4), torch.zeros(4)), torch.tensor(2 * math.log(2.0)))


def test_the_fooling_loss_is_algorithm_1s_minimax_term_or_its_non_saturating_form():
    fake = torch.tensor([math.log(1 / 3), math.log(1 / 3)])  # D(fake) = 0.25
    assert torch.allclose(fooling_loss(fake, "minimax"), torch.tensor(math.log(0.75)))  # log(1 - D)
    assert torch.allclose(fooling_loss(fake, "non_saturating"), torch.tensor(-math.log(0.25)))  # -log D
    # both fall as D is fooled
    assert fooling_loss(torch.tensor([2.0]), "minimax") < fooling_loss(torch.tensor([-2.0]), "minimax")


def test_the_content_and_classification_losses_are_eq_1_and_eq_11():
    assert torch.allclose(content_loss(torch.zeros(1, 3, 4, 4), torch.full((1, 3, 4, 4), 0.5)), torch.tensor(0.25))
    logits = torch.tensor([[0.0, math.log(3.0)]])  # Q = (0.25, 0.75)
    assert torch.allclose(classification_loss(logits, torch.tensor([1])), torch.tensor(-math.log(0.75)))


@pytest.mark.parametrize("variant", ["dcgan", "1v2", "2v2"])
def test_g_and_e_weigh_their_terms_as_eq_6_eq_13_and_eq_3(classifier, tmp_path, variant):
    cond = 8 if variant == "2v2" else 0
    # Sec. 4.2's optimiser and initialisation (the CPU config's Adam and PyTorch initialisation: see below)
    task = build_task(tiny_run("groupgan_cpu", tmp_path, **{**TINY_NET, "net.cond_dim": cond}, variant=variant,
                               classifier=classifier, alpha_g=0.1, beta_g=0.2, gamma_g=0.3, alpha_e=0.4, beta_e=0.5,
                               optimizer="sgd", momentum=0.9, weight_decay=5e-3, init_std=0.01))
    terms = {"content": torch.tensor(1.0), "adv_d": torch.tensor(2.0), "adv_d_prime": torch.tensor(3.0),
             "cls": torch.tensor(4.0)}
    expected_g = 1 + 0.1 * 2 + (0.0 if variant == "dcgan" else 0.2 * 3 + 0.3 * 4)
    assert torch.allclose(task.generator_loss(terms), torch.tensor(expected_g))
    assert torch.allclose(task.extractor_loss(terms), torch.tensor(4 + 0.4 * 2 + 0.5 * 3))
    task.nets = task.build_networks()
    names = {"dcgan": ["d", "g"], "1v2": ["d", "d_prime", "g"], "2v2": ["d", "d_prime", "g", "e"]}[variant]
    assert [s.name for s in task.steps()] == names  # Algorithm 1's order
    start = task.opts.pretrain_steps
    assert [s.start for s in task.steps() if s.name != "g"] == [start] * (len(names) - 1)  # after pre-training
    task.optimizers = task.build_optimizers()
    sgd = task.optimizers["g"]
    assert isinstance(sgd, torch.optim.SGD) and sgd.defaults["momentum"] == 0.9 and sgd.defaults["weight_decay"] == 5e-3
    if variant == "2v2":
        trained = {id(p) for group in task.optimizers["e"].param_groups for p in group["params"]}
        assert not trained & {id(p) for p in task.nets["c"].classifier.parameters()}  # C's last layer stays
    assert torch.equal(task.nets["g"].decoder[-2].bias, torch.ones(3))  # Sec. 4.2: biases 1
    torch.manual_seed(0)
    batch = {"weak": torch.rand(2, 3, 32, 32), "peak": torch.rand(2, 3, 32, 32), "expression": torch.tensor([1, 4])}
    got = task.terms(batch)
    fake = task.nets["g"](batch["weak"], task.f_exp(batch["weak"]))
    assert torch.allclose(got["content"], F.mse_loss(fake, batch["peak"]), atol=1e-6)
    assert torch.allclose(got["cls"], F.cross_entropy(task.nets["c"](fake), batch["expression"]), atol=1e-5)
    assert ("adv_d_prime" in got) == (variant != "dcgan")
    cpu = build_task(tiny_run("groupgan_cpu", tmp_path, **{**TINY_NET, "net.cond_dim": cond}, variant=variant,
                              classifier=classifier))
    cpu.nets = cpu.build_networks()
    adam = cpu.build_optimizers()["g"]
    assert isinstance(adam, torch.optim.Adam) and adam.defaults["betas"] == (0.5, 0.999)
    assert not torch.equal(cpu.nets["g"].decoder[-2].bias, torch.ones(3))  # init_std 0: PyTorch's initialisation


def test_the_cnn_baseline_can_start_from_a_trained_basenet(classifier, tmp_path):
    start = faceforge.from_pretrained(classifier)
    net = dict(arch="vgg11", image_size=32, width=1 / 16, fc=[16, 8], pool=1)
    task = build_task(tiny_run("groupgan_basenet_cpu", tmp_path, **{f"net.{k}": v for k, v in net.items()},
                               train_on="weak", init=classifier))
    c = task.build_networks()["c"]
    for name, value in start.state_dict().items():
        assert torch.equal(c.state_dict()[name], value), name
    task = build_task(tiny_run("groupgan_basenet_cpu", tmp_path, init=classifier))  # the config's VGG13
    with pytest.raises(ConfigError, match="another config than options.net"):
        task.build_networks()


def test_a_generator_that_does_not_fit_the_variant_is_refused(classifier, tmp_path):
    task = build_task(tiny_run("groupgan_cpu", tmp_path, **TINY_NET, variant="1v2", classifier=classifier))
    with pytest.raises(ConfigError, match="cond_dim=0"):
        task.build_networks()
    task = build_task(tiny_run("groupgan_cpu", tmp_path, **TINY_NET, classifier=tmp_path / "missing"))
    with pytest.raises(ConfigError, match="cannot be loaded"):
        task.build_networks()


# --- the data --------------------------------------------------------------------------------------------------------
def test_weak_frames_are_6_to_8_and_the_peak_is_the_last_frame():
    sequences = SynthSequences("train", size=24, length=1, frames=10)
    sample = sequences[0]
    weak, peak = weak_and_peak(sample)
    assert weak.shape == (3, 3, 24, 24) and torch.equal(weak, sample["images"][5:8])
    assert torch.equal(peak, sample["images"][9])
    assert (sample["intensities"][5:8] < sample["intensities"][9]).all()
    pairs = SynthSequencePairs(sequences, fold=1, side="test", n_folds=1)
    assert len(pairs) == 3
    for k in range(3):
        pair = pairs[k]
        assert pair["frame"] == 6 + k and pair["expression"] == sample["expression"]
        assert (pair["image"] - weak[k]).abs().max() <= 0.5 / 255 + 1e-6  # kept in 8 bits
        assert (pair["target_image"] - peak).abs().max() <= 0.5 / 255 + 1e-6


def test_the_five_folds_are_identity_disjoint_and_cover_every_sequence():
    sequences = SynthSequences("train", size=24, length=23, frames=9)  # nothing is rendered to deal folds
    tests = []
    for fold in range(1, 6):
        train, test = (SynthSequencePairs(sequences, fold=fold, side=side) for side in ("train", "test"))
        assert not set(train.indices) & set(test.indices) and len(train.indices) + len(test.indices) == 23
        ids = {side: {sequences.identities[i % len(sequences.identities)] for i in s.indices}
               for side, s in (("train", train), ("test", test))}
        assert not ids["train"] & ids["test"]
        assert len(train) == 3 * len(train.indices)
        tests.append(set(test.indices))
    assert set().union(*tests) == set(range(23)) and sum(map(len, tests)) == 23
    assert sorted(map(len, tests)) == [4, 4, 5, 5, 5]
    with pytest.raises(ValueError, match="fold must be in 1..5"):
        SynthSequencePairs(sequences, fold=6, side="test")


def test_training_crops_and_flips_both_frames_of_a_pair_alike():
    ramp = torch.arange(12.0).repeat(12, 1) / 24  # varies along the width
    pairs = [{"image": ramp.expand(3, 12, 12), "target_image": ramp.expand(3, 12, 12) + 0.5, "expression": 3}]
    train = MagnificationPairs(pairs, size=8, load_size=12, train=True)
    flipped = 0
    for seed in range(8):
        torch.manual_seed(seed)
        sample = train[0]
        assert sample["weak"].shape == (3, 8, 8) and sample["expression"] == 3
        assert torch.allclose(sample["peak"] - sample["weak"], torch.full((3, 8, 8), 0.5))
        flipped += bool(sample["weak"][0, 0, 0] > sample["weak"][0, 0, -1])
    assert 0 < flipped < 8  # flips, not always
    centre = MagnificationPairs(pairs, size=8, load_size=12, train=False)[0]
    assert torch.equal(centre["weak"], ramp[2:10, 2:10].expand(3, 8, 8))


# --- training through the loop ----------------------------------------------------------------------------------------
def test_both_tasks_train_through_the_loop_and_export_loadable_models_with_cards(tmp_path):
    folder = tmp_path / "basenet"
    run = tiny_run("groupgan_basenet_cpu", folder, **TINY_BASENET)
    result = train(build_task(run))
    assert result.step == 3 and {"accuracy_weak", "accuracy_peak"} <= set(result.metrics)
    basenet = faceforge.from_pretrained(folder / "model")
    assert isinstance(basenet, BaseNet) and basenet.config == run.options.net
    test = json.loads((folder / "train_summary.json").read_text())["test_metrics"]
    assert set(test) == {"accuracy_weak", "accuracy_peak", "majority"}
    assert test["majority"] == 1.0  # fold 1 of 5 sequences: one sequence, one expression
    card = (folder / "model" / "README.md").read_text()
    assert f"| weak frames | {100 * test['accuracy_weak']:.2f} |" in card and "pre-trained on the peak" in card

    folder = tmp_path / "groupgan"
    run = tiny_run("groupgan_cpu", folder, **TINY_NET, classifier=tmp_path / "basenet" / "model", pretrain_steps=1)
    result = train(build_task(run))
    assert result.step == 3 and {"accuracy", "accuracy_input", "accuracy_peak", "mse_peak"} <= set(result.metrics)
    model = faceforge.from_pretrained(folder / "model")
    assert isinstance(model, GroupGAN) and model.config.variant == "2v2" and model.config.generator == run.options.net
    for name, value in basenet.classifier.state_dict().items():  # C's last layer, exported as pre-trained
        assert torch.equal(model.classifier.classifier.state_dict()[name], value), name
    log = [json.loads(line) for line in (folder / "log.jsonl").read_text().splitlines()]
    assert sum("g/reconstruction" in row for row in log) == 1  # iteration 0: the encoder-decoder's pre-training
    assert sum("d/loss" in row for row in log) == sum("d_prime/loss" in row for row in log) == 2
    assert sum("e/loss" in row for row in log) == 2 and {"g/content", "g/adv_d_prime", "e/cls"} <= set().union(*log)
    test = json.loads((folder / "train_summary.json").read_text())["test_metrics"]
    card = (folder / "model" / "README.md").read_text()
    assert f"| magnified weak frames (GroupGAN (2V2)) | {100 * test['accuracy']:.2f} |" in card
    # faceforge eval: the same figure from the exported model on the test fold's weak frames
    sequences = SynthSequences("train", size=40, length=5, frames=9)
    # whole 40x40 faces: the evaluator frames them as the model was trained (context 40 / 32, the centre 32)
    faces = MagnificationPairs(SynthSequencePairs(sequences, fold=1, side="test"), size=40, load_size=40, train=False)
    report = evaluate(model, [{"image": s["weak"], "expression": s["expression"]} for s in faces])
    assert report["details"]["samples"] == 3
    assert math.isclose(report["table"]["accuracy"]["overall"], test["accuracy"], abs_tol=1e-6)


# --- real sequences and faceforge eval -----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def ckplus(tmp_path_factory):
    """A prepared CK+ cache: S005 (fold 1) with a 10-frame happy sequence (weak frames 6-8) and a 7-frame contempt one
    (weak frame 6), S010 (fold 2) with a 9-frame happy one."""
    tmp = tmp_path_factory.mktemp("ckplus")
    write_ckplus(tmp / "raw", {("S005", "001"): (10, 5, None), ("S005", "002"): (7, 2, None),
                               ("S010", "001"): (9, 5, None)})
    prepare_dataset("ckplus", tmp / "raw", tmp / "cache", size=40, progress=False)
    return tmp / "cache"


def test_a_prepared_sequence_dataset_gives_its_folds_weak_and_peak_pairs(ckplus, tmp_path):
    run = tiny_run("groupgan_basenet_cpu", tmp_path, **TINY_BASENET)
    run = dataclasses.replace(run, dataset="ckplus", data_root=str(ckplus), fold="1")
    task = build_task(run)
    test, train = task._pairs("test", train=False), task._pairs("train", train=True)
    assert (len(test), len(train)) == (4, 3)  # fold 1 is S005's 3 + 1 weak frames; S010 trains
    happy, contempt = EXPRESSIONS.index("happiness"), EXPRESSIONS.index("contempt")
    assert sorted(test[i]["expression"] for i in range(4)) == [happy, happy, happy, contempt]
    assert test[0]["weak"].shape == test[0]["peak"].shape == (3, 32, 32)


def test_faceforge_eval_scores_the_weak_frames_only(ckplus):
    torch.manual_seed(0)
    net = BaseNet(BaseNetConfig(arch="vgg11", image_size=32, width=1 / 16, fc=(16, 8), pool=1)).eval()
    faces = build_dataset("ckplus", ckplus, "test", 1)  # neutral, weak and peak frames of S005
    weak = [i for i in range(len(faces)) if faces[i]["phase"] == "weak"]
    assert len(faces) == 8 and len(weak) == 4  # two neutral, four weak and two peak frames
    report = evaluate(net, faces)
    assert report["details"]["samples"] == 4
    with torch.no_grad():
        # framed as the BaseNet trains: resized to 36 (x 1.125), the centre 32
        images = F.interpolate(torch.stack([faces[i]["image"] for i in weak]), size=(36, 36), mode="bilinear",
                               antialias=True, align_corners=False).clamp(0, 1)[..., 2:34, 2:34]
        predicted = net(images).argmax(1)
    target = torch.tensor([faces[i]["expression"] for i in weak])
    assert math.isclose(report["table"]["accuracy"]["overall"], float((predicted == target).float().mean()))
    with pytest.raises(TypeError, match="GroupGAN or a BaseNet"):
        evaluate_weak_recognition(GroupGANGenerator(GroupGANGenerator.tiny_config()), faces)


def test_the_family_registers_its_networks_tasks_and_evaluators():
    from faceforge.registry import evaluator_for

    assert {"groupgan", "groupgan_basenet", "groupgan_generator", "groupgan_discriminator"} <= set(
        faceforge.list_models())
    assert {"groupgan", "groupgan_basenet"} <= set(faceforge.list_tasks())
    assert evaluator_for("groupgan") is evaluator_for("groupgan_basenet") is evaluate_weak_recognition

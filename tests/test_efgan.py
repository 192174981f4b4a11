"""Cascade EF-GAN (Wu et al., CVPR 2020): Eq. (1), the local focuses and the Refiner's stitched input, the AU
Interpolator's pseudo targets, the WGAN-GP penalty and the attention terms, the losses of Eq. (2), the editing data
and scores, the family's evaluator, and both training phases through the real loop."""

from __future__ import annotations

import dataclasses
import json

import pytest
import torch
import torch.nn.functional as F

import faceforge
from faceforge.evaluation import build_eval_dataset, evaluate
from faceforge.face.aus import FACEFORGE_AUS
from faceforge.face.template import canonical_landmarks
from faceforge.models.au_detector import AUDetector
from faceforge.models.efgan import (
    EFGAN,
    FOCI,
    FOCUS_LANDMARKS,
    CascadeEFGAN,
    EFGANConfig,
    attend,
    focus_boxes,
    pseudo_targets,
    stitch,
)
from faceforge.training.config import ConfigError
from faceforge.training.loop import train
from faceforge.training.tasks import build_task, load_run
from faceforge.training.tasks.efgan import (
    EditScores,
    UnpairedEdits,
    attention_smoothness,
    attention_sparsity,
    gradient_penalty,
    pair_sample,
)

pytestmark = pytest.mark.usefixtures("one_thread")  # small tensors: one thread (conftest)
N_AUS = len(FACEFORGE_AUS)


def tiny_efgan(**fields) -> EFGAN:
    torch.manual_seed(0)
    return EFGAN(dataclasses.replace(EFGAN.tiny_config(), **fields)).eval()


# --- Eq. (1), the local focuses, the Refiner's input -----------------------------------------------------------------
def test_eq_1_repaints_by_the_attention_and_keeps_the_rest():
    colour = torch.full((1, 3, 1, 4), 0.8)
    image = torch.full((1, 3, 1, 4), 0.2)
    attention = torch.tensor([0.0, 0.25, 0.5, 1.0]).reshape(1, 1, 1, 4)
    out = attend(colour, attention, image)
    # I_init = M_A * M_C + (1 - M_A) * I_in: 0.2, 0.25 * 0.8 + 0.75 * 0.2 = 0.35, 0.5, 0.8 in every channel
    assert torch.allclose(out, torch.tensor([0.2, 0.35, 0.5, 0.8]).expand(1, 3, 1, 4), atol=1e-7, rtol=0)


def test_the_baselines_edit_is_the_global_branchs_eq_1():
    model = tiny_efgan(local=False)
    image, aus = model.example_inputs(2)
    with torch.no_grad():
        out = model(image, aus)
        colour, attention = model.global_branch(image, aus)
    assert torch.equal(out["out"], attend(colour, attention, image)) and out["out"] is out["initial"]
    assert out["local"] == () and out["local_attention"] == () and not hasattr(model, "refiner")
    assert attention.shape == (2, 1, 32, 32) and 0 <= float(attention.min()) and float(attention.max()) <= 1


def test_the_focuses_are_the_papers_patches_centred_on_the_templates_mean_landmarks():
    boxes = focus_boxes(128)
    assert boxes == ((35, 18, 40, 92), (55, 40, 40, 48), (79, 34, 40, 60))
    template = canonical_landmarks(128)
    for name, (top, left, h, w) in zip(FOCI, boxes, strict=True):
        x, y = template[list(FOCUS_LANDMARKS[name])].mean(0)
        # the crop's centre is the pixel-grid point nearest the mean landmark
        assert abs(top + (h - 1) / 2 - y) <= 0.5 and abs(left + (w - 1) / 2 - x) <= 0.5, name
    assert EFGANConfig().boxes == boxes


@pytest.mark.parametrize("fields, message", [
    ({"focus_sizes": ((40, 92), (40, 48))}, "one \\(height, width\\) per focus"),
    ({"focus_sizes": ((40, 90), (40, 48), (40, 60))}, "divisible by 2 \\*\\* downsamplings = 4"),
    ({"focus_sizes": ((40, 132), (40, 48), (40, 60))}, "does not fit a 128x128 face"),
    ({"aus": (1, 1)}, "distinct AUs"),
    ({"model_type": "cascade_efgan"}, "model_type is 'efgan'"),
])
def test_the_config_refuses_impossible_networks(fields, message):
    with pytest.raises(ValueError, match=message):
        EFGANConfig(**fields)


def test_stitching_puts_every_patch_at_its_pixels_and_averages_the_overlaps():
    boxes = ((0, 0, 2, 4), (1, 2, 2, 2), (4, 4, 1, 2))  # the first two overlap at rows 1, columns 2-3
    patches = [torch.full((1, 1, h, w), float(v)) for v, (_, _, h, w) in zip((1, 3, 5), boxes, strict=True)]
    expected = torch.tensor([[1, 1, 1, 1, 0, 0],
                             [1, 1, 2, 2, 0, 0],
                             [0, 0, 3, 3, 0, 0],
                             [0, 0, 0, 0, 0, 0],
                             [0, 0, 0, 0, 5, 5],
                             [0, 0, 0, 0, 0, 0]], dtype=torch.float32)
    assert torch.equal(stitch(patches, boxes, 6)[0, 0], expected)
    with pytest.raises(ValueError, match="a 2x2 crop cannot hold a patch of \\(3, 2\\)"):
        stitch([patches[0], torch.zeros(1, 1, 3, 2), patches[2]], boxes, 6)


def test_the_refiner_input_is_the_stitched_local_edits_then_the_global_edit():
    model = tiny_efgan()
    assert model.boxes == ((8, 4, 12, 24), (15, 10, 8, 12), (21, 8, 8, 16))
    local = [torch.full((1, 3, h, w), float(v)) for v, (_, _, h, w) in zip((1, 2, 3), model.boxes, strict=True)]
    fused = model.refiner_input(torch.full((1, 3, 32, 32), 0.25), local)
    assert fused.shape == (1, 6, 32, 32) and (fused[:, 3:] == 0.25).all()
    stitched = fused[0, :3]
    # eyes alone, nose alone, mouth alone, eyes and nose, nose and mouth, no focus
    for (row, col), value in (((8, 4), 1.0), ((20, 10), 2.0), ((25, 8), 3.0), ((16, 12), 1.5), ((22, 15), 2.5),
                              ((0, 0), 0.0), ((31, 31), 0.0)):
        assert (stitched[:, row, col] == value).all(), (row, col)
    assert float(stitched.sum()) == 3 * (12 * 24 * 1 + 8 * 12 * 2 + 8 * 16 * 3 - 5 * 12 * 1.5 - 2 * 12 * 2.5)


def test_the_refiner_sees_the_local_edits_stitched_in_place_beside_the_global_edit():
    model = tiny_efgan()
    seen: dict[str, torch.Tensor] = {}
    model.refiner.register_forward_pre_hook(lambda _, args: seen.update(fused=args[0]))
    for i, branch in enumerate(model.local_branches):
        branch.register_forward_pre_hook(lambda _, args, i=i: seen.update({f"crop{i}": args[0]}))
    image, aus = model.example_inputs(2)
    with torch.no_grad():
        out = model(image, aus)
    assert seen["fused"].shape == (2, 6, 32, 32) and torch.equal(seen["fused"][:, 3:], out["initial"])
    stitched = seen["fused"][:, :3]
    cover = torch.zeros(32, 32)
    for i, (top, left, h, w) in enumerate(model.boxes):
        assert torch.equal(seen[f"crop{i}"], image[..., top:top + h, left:left + w])  # each branch sees its crop
        cover[top:top + h, left:left + w] += 1
    # where one crop alone covers a pixel, the stitched image holds that branch's I_init there
    for i, (top, left, h, w) in enumerate(model.boxes):
        alone = cover[top:top + h, left:left + w] == 1
        assert alone.any() and torch.equal(stitched[..., top:top + h, left:left + w][..., alone],
                                           out["local"][i][..., alone])
    assert (stitched[..., cover == 0] == 0).all()
    assert out["out"].shape == (2, 3, 32, 32)


# --- the cascade and the AU Interpolator ---------------------------------------------------------------------------
def test_the_pseudo_targets_are_a_third_two_thirds_and_all_of_the_way():
    source = torch.tensor([[0.0, 0.9, 0.3]])
    target = torch.tensor([[0.9, 0.0, 0.3]])
    first, second, third = pseudo_targets(source, target, 3)
    assert torch.allclose(first, torch.tensor([[0.3, 0.6, 0.3]]), atol=1e-7, rtol=0)
    assert torch.allclose(second, torch.tensor([[0.6, 0.3, 0.3]]), atol=1e-7, rtol=0)
    assert torch.allclose(third, target, atol=1e-7, rtol=0)
    assert len(pseudo_targets(source, target, 1)) == 1


def test_the_cascade_conditions_its_stages_on_interpolated_aus_and_chains_their_edits():
    torch.manual_seed(0)
    model = CascadeEFGAN(CascadeEFGAN.tiny_config()).eval()
    image, source, target = model.example_inputs(2)
    with torch.no_grad():
        out = model(image, source, target)
        pseudo = pseudo_targets(source, target, 3)
        # the Interpolator corrects each pseudo target from the source AUs and the residual
        for k in range(2):
            assert torch.equal(out["aus"][k], model.interpolator(source, pseudo[k] - source))
        assert out["aus"][2] is target  # the last stage is conditioned on the target itself
        current = image
        for stage, aus, edit in zip(model.stages, out["aus"], out["stages"], strict=True):
            current = stage(current, aus)["out"]
            assert torch.equal(edit, current)
        assert out["out"] is out["stages"][-1]
        assert torch.equal(model.edit(image, source, target), out["out"].clamp(0, 1))
        # an Interpolator with a zero correction gives the pseudo targets (clamped to [0, 1])
        for p in model.interpolator.net[-1].parameters():
            p.zero_()
        for k in range(2):
            assert torch.allclose(model.conditions(source, target)[k], pseudo[k].clamp(0, 1), atol=1e-6, rtol=0)


# --- losses --------------------------------------------------------------------------------------------------------
def test_the_gradient_penalty_of_a_linear_critic_is_its_weights_norm_minus_one_squared():
    critic = torch.nn.Linear(2, 1, bias=False)
    with torch.no_grad():
        critic.weight.copy_(torch.tensor([[3.0, 4.0]]))
    real, fake = torch.tensor([[1.0, 2.0], [0.0, 5.0]]), torch.tensor([[7.0, -1.0], [2.0, 2.0]])
    penalty = gradient_penalty(lambda x: critic(x).squeeze(1), real, fake)
    assert penalty.item() == pytest.approx(16.0)  # (||(3, 4)|| - 1)^2 wherever x^ is
    penalty.backward()
    # d/dw (||w|| - 1)^2 = 2 (||w|| - 1) w / ||w|| = 2 * 4 * (3, 4) / 5
    assert torch.allclose(critic.weight.grad, torch.tensor([[4.8, 6.4]]))


def test_the_gradient_penalty_is_taken_at_the_mix_of_real_and_fake():
    def critic(x: torch.Tensor) -> torch.Tensor:  # D(x) = ||x||^2: grad 2 x^
        return x.square().sum(1)

    real, fake = torch.tensor([[1.0, 0.0], [1.0, 0.0]]), torch.zeros(2, 2)
    # x^ = (0.5, 0): ||grad|| = 1, penalty 0; x^ = (1, 0): ||grad|| = 2, penalty 1; the mean 0.5
    penalty = gradient_penalty(critic, real, fake, mix=torch.tensor([0.5, 1.0]))
    assert penalty.item() == pytest.approx(0.5)


def test_attention_sparsity_and_smoothness_on_known_maps():
    corner = torch.tensor([[0.0, 1.0], [1.0, 1.0]]).reshape(1, 1, 2, 2)
    assert attention_sparsity(corner).item() == pytest.approx(0.75)
    # rows: (1 - 0)^2 + (1 - 1)^2; columns: (1 - 0)^2 + (1 - 1)^2
    assert attention_smoothness(corner).item() == pytest.approx(2.0)
    stripes = torch.tensor([[0.0, 0.5, 0.0]] * 3).reshape(1, 1, 3, 3)  # vertical stripes: columns change only
    assert attention_smoothness(stripes).item() == pytest.approx(3 * 2 * 0.25)
    batch = torch.cat([corner, torch.zeros_like(corner)])
    assert attention_smoothness(batch).item() == pytest.approx(1.0)  # summed per face, averaged over the batch
    assert attention_sparsity(batch).item() == pytest.approx(0.375)
    assert attention_smoothness(torch.full((2, 1, 4, 4), 0.3)).item() == 0.0


# --- the data and the scores ---------------------------------------------------------------------------------------
class Faces(torch.utils.data.Dataset):
    """Three 36x36 faces whose AU intensities are 1, 2 and 3 everywhere."""

    def __len__(self) -> int:
        return 3

    def __getitem__(self, index: int) -> dict:
        return {"image": torch.full((3, 36, 36), index / 4), "au_intensity": torch.full((N_AUS,), index + 1.0)}


def test_unpaired_edits_take_another_faces_aus_scaled_to_0_1_and_centre_crop():
    edits = UnpairedEdits(Faces(), 32)
    seen = set()
    for seed in range(12):
        torch.manual_seed(seed)
        sample = edits[1]
        assert sample["image"].shape == (3, 32, 32) and torch.equal(sample["source_aus"], torch.full((N_AUS,), 0.4))
        seen.add(round(float(sample["target_aus"][0]), 4))
    assert seen == {0.2, 0.6}  # faces 0 and 2, never its own
    with pytest.raises(ValueError, match="at least two faces"):
        UnpairedEdits(torch.utils.data.Subset(Faces(), [0]), 32)


def test_pairs_are_read_in_both_layouts():
    source, target = Faces()[0], Faces()[2]
    target["au_intensity"][:4] = 0.0
    nested = pair_sample({"source": source, "target": {**target, "au_occurrence": torch.ones(N_AUS)}}, 32)
    flat = pair_sample({**source, **{f"target_{k}": v for k, v in target.items()}}, 32)
    for sample in (nested, flat):
        assert sample["image"].shape == sample["target_image"].shape == (3, 32, 32)
        assert torch.equal(sample["target_image"], torch.full((3, 32, 32), 0.5))
        assert torch.allclose(sample["source_aus"], torch.full((N_AUS,), 0.2))
        assert sample["target_aus"][:4].sum() == 0 and torch.allclose(sample["target_aus"][4:], torch.tensor(0.6))
    assert nested["target_occurrence"].sum() == N_AUS  # the labels where the data has them
    assert flat["target_occurrence"].tolist() == [0.0] * 4 + [1.0] * (N_AUS - 4)  # else intensity >= 2
    with pytest.raises(ValueError, match="pairs of faces"):
        pair_sample(source, 32)


def test_a_perfect_edit_scores_as_the_target_face():
    torch.manual_seed(0)
    evaluator = AUDetector(AUDetector.tiny_config()).eval()
    source, target = torch.rand(3, 3, 32, 32), torch.rand(3, 3, 32, 32)
    occurrence = (torch.rand(3, N_AUS) > 0.5).float()
    scores = EditScores(FACEFORGE_AUS, evaluator)
    scores.add(source, target.clone(), target, occurrence)
    table = scores.table()
    assert table["edit"]["PSNR"] == float("inf") and table["edit"]["SSIM"] == pytest.approx(1.0)
    assert table["edit"]["AU MAE"] == 0.0 and table["edit"]["AU F1"] == table["target"]["AU F1"]
    assert table["source"]["PSNR"] < 20 and table["source"]["AU MAE"] > 0
    metrics = scores.metrics()
    assert set(metrics) == {"psnr", "ssim", "au_f1", "au_mae", "psnr_source", "ssim_source", "au_f1_source",
                            "au_mae_source", "au_f1_target"}
    assert EditScores(FACEFORGE_AUS).samples == 0


def test_the_familys_evaluator_edits_synthetic_pairs():
    model = tiny_efgan()
    torch.manual_seed(0)
    evaluator = AUDetector(AUDetector.tiny_config()).eval()
    data = build_eval_dataset("synth", length=2, size=32)  # single faces: their split is rendered as pairs
    result = evaluate(model, data, batch_size=2, au_evaluator=evaluator)
    table = result["table"]
    assert list(table) == ["source", "edit", "target"] and result["details"]["samples"] == 2
    assert set(table["edit"]) == {"PSNR", "SSIM", "AU F1", "AU MAE"} and set(table["target"]) == {"AU F1"}
    assert 0 < table["edit"]["SSIM"] < 1 and table["source"]["PSNR"] > 10
    cascade = CascadeEFGAN(CascadeEFGAN.tiny_config())
    assert set(evaluate(cascade, data, batch_size=2, au_evaluator=None)["table"]["edit"]) == {"PSNR", "SSIM"}


# --- the tasks -----------------------------------------------------------------------------------------------------
TINY_OPTIONS = {"net.image_size": 32, "net.channels": 4, "net.blocks": 1, "net.refiner_blocks": 1,
                "net.focus_sizes": "[[12,24],[8,12],[8,16]]", "d_channels": 4, "d_layers": 3, "g_every": 2,
                "train_length": 6, "crop_margin": 2, "eval_length": 2, "test_length": 2}


@pytest.fixture(scope="module")
def helpers(tmp_path_factory):
    """A cache for the rendered faces and a tiny AU evaluator."""
    root = tmp_path_factory.mktemp("efgan")
    torch.manual_seed(0)
    AUDetector(AUDetector.tiny_config()).save_pretrained(root / "evaluator")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("FACEFORGE_CACHE", str(root / "cache"))
        yield root


def tiny_run(helpers, folder, config="train/configs/efgan_cpu.yaml", **options):
    overrides = [f"output_dir={folder}", "steps=2", "batch_size=2", "num_workers=0", "eval_every=2",
                 "checkpoint_every=2", "sample_every=2", "sample_count=2", "log_every=1", "trackers=none",
                 "eval_batch_size=2"]
    options = {**TINY_OPTIONS, "au_evaluator": helpers / "evaluator", **options}
    overrides += [f"options.{k}={v}" for k, v in options.items()]
    return load_run(config, overrides)


def test_the_generator_loss_is_eq_2_with_ganimations_terms_and_weights(helpers):
    task = build_task(tiny_run(helpers, helpers / "unused"))
    data = task.train_dataset()
    task.nets = task.build_networks()
    assert sorted(task.nets) == ["d", "g0"] and [(s.name, s.every) for s in task.steps()] == [("d", 1), ("g", 2)]
    torch.manual_seed(0)
    batch = torch.utils.data.default_collate([data[0], data[1]])
    assert batch["image"].shape == (2, 3, 32, 32)  # the 36x36 renders centre-cropped
    loss, logs = task.generator_loss(batch)
    g, d = task.nets["g0"], task.nets["d"]
    with torch.no_grad():
        forward = g(batch["image"], batch["target_aus"])
        back = g(forward["out"], batch["source_aus"])
        critic = d(forward["out"])
        maps = [m for out in (forward, back) for m in (out["attention"], *out["local_attention"])]
    assert len(maps) == 8  # the global and three local maps of the edit and of the cycle
    assert torch.allclose(logs["adv"], -critic["score"].mean())
    assert torch.allclose(logs["cond"], F.mse_loss(critic["aus"], batch["target_aus"]))
    assert torch.allclose(logs["cycle"], F.l1_loss(back["out"], batch["image"]))
    assert torch.allclose(logs["sparsity"], sum(m.mean() for m in maps))
    assert torch.allclose(logs["smoothness"], sum(attention_smoothness(m) for m in maps))
    expected = (logs["adv"] + 160 * logs["cond"] + 10 * logs["cycle"]
                + 0.1 * (logs["sparsity"] + 1e-4 * logs["smoothness"]))
    assert torch.allclose(loss, expected, rtol=1e-6)
    d_loss, d_logs = task.critic_loss(batch)
    with torch.no_grad():
        real = d(batch["image"])
    assert torch.allclose(d_logs["cond"], F.mse_loss(real["aus"], batch["source_aus"]))  # real faces' own AUs
    assert torch.allclose(d_loss, d_logs["fake"] - d_logs["real"] + 10 * d_logs["penalty"] + 160 * d_logs["cond"],
                          rtol=1e-5)


def test_the_task_refuses_what_cannot_train(helpers):
    for options, message in (({"g_every": 0}, "g_every"), ({"crop_margin": -1}, "crop_margin"),
                             ({"lambda_cycle": -1}, "loss weights")):
        with pytest.raises(ValueError, match=message):
            tiny_run(helpers, helpers / "unused", **options)
    with pytest.raises(ValueError, match="options.init must name"):
        tiny_run(helpers, helpers / "unused", "train/configs/efgan_cascade_cpu.yaml", init="")
    with pytest.raises(ValueError, match="2 to 8 stages"):
        tiny_run(helpers, helpers / "unused", "train/configs/efgan_cascade_cpu.yaml", stages=1)


@pytest.fixture(scope="module")
def single(helpers):
    """The single EF-GAN trained through the real loop (two iterations)."""
    folder = helpers / "single"
    run = tiny_run(helpers, folder)
    return run, train(build_task(run)), folder


def test_the_single_efgan_trains_through_the_real_loop_and_exports_a_loadable_model(single):
    run, result, folder = single
    assert run.mixed_precision == "no" and result.step == 2
    model = faceforge.from_pretrained(folder / "model")
    assert isinstance(model, EFGAN) and model.config == run.options.net and model.config.local
    image, aus = model.example_inputs(2)
    assert model.edit(image, aus, aus).shape == (2, 3, 32, 32)
    log = [json.loads(line) for line in (folder / "log.jsonl").read_text().splitlines()]
    assert sum("d/loss" in row for row in log) == 2 and sum("g/loss" in row for row in log) == 1  # 2 D : 1 G
    assert {"g/adv", "g/cond", "g/cycle", "g/sparsity", "g/smoothness", "d/penalty", "d/cond"} <= set().union(*log)
    assert {"psnr", "ssim", "psnr_source", "au_f1", "au_mae", "au_f1_target"} <= set(result.metrics)
    grid = list((folder / "samples").glob("*.png"))
    assert grid  # source | edit | target
    test = json.loads((folder / "train_summary.json").read_text())["test_metrics"]
    card = (folder / "model" / "README.md").read_text()
    assert "# faceforge Baseline + Local Focuses" in card and "split: test" in card
    assert (f"| Baseline + Local Focuses (this model) | {test['psnr']:.2f} | {test['ssim']:.4f} | "
            f"{test['au_f1']:.3f} | {test['au_mae']:.3f} |") in card
    assert "160 L_cond + 10 L_cycle + 0.1 (L1 + 0.0001 TV)" in card


@pytest.mark.slow
def test_the_cascade_starts_from_three_copies_of_the_single_efgan_and_fine_tunes_end_to_end(helpers, single):
    run, _, folder = single
    initial = faceforge.from_pretrained(folder / "model")
    cascade_run = tiny_run(helpers, helpers / "cascade", "train/configs/efgan_cascade_cpu.yaml",
                           init=folder / "model")
    task = build_task(cascade_run)
    task.train_dataset()
    task.nets = task.build_networks()
    assert sorted(task.nets) == ["d", "d_au", "g0", "g1", "g2", "interp"]
    for name in ("g0", "g1", "g2"):  # Sec. 3.3: every stage starts as the trained EF-GAN
        state = task.nets[name].state_dict()
        assert all(torch.equal(value, state[key]) for key, value in initial.state_dict().items())
    assert [s.name for s in task.steps()] == ["d", "d_au", "g", "interp"]
    batch = torch.utils.data.default_collate([task.train_set[0], task.train_set[1]])
    inputs: list[torch.Tensor] = []
    task.nets["g1"].register_forward_pre_hook(lambda _, args: inputs.append(args[0]))
    loss, logs = task.generator_loss(batch)
    loss.backward()
    # end to end: the second stage edits the first one's output with its graph (its terms reach the first stage);
    # the Interpolator conditions the stages without a gradient
    assert inputs[0].grad_fn is not None and inputs[1].grad_fn is not None  # the edit, then the cycle's input
    assert all(p.grad is not None for name in ("g0", "g1", "g2") for p in task.nets[name].parameters())
    assert all(p.grad is None for p in task.nets["interp"].parameters())
    interp_loss, _ = task.interp_step(batch)
    interp_loss.backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in task.nets["interp"].parameters())
    result = train(build_task(cascade_run))
    assert result.step == 2
    model = faceforge.from_pretrained(helpers / "cascade" / "model")
    assert isinstance(model, CascadeEFGAN) and model.config.stages == 3
    assert model.config.stage_config() == run.options.net
    # fine-tuned end to end: every stage moved away from the single EF-GAN, each its own way
    moved = [model.stages[k].global_branch.colour.weight for k in range(3)]
    assert all(not torch.equal(w, initial.global_branch.colour.weight) for w in moved)
    assert not torch.equal(moved[0], moved[2])
    log = [json.loads(line) for line in (helpers / "cascade" / "log.jsonl").read_text().splitlines()]
    assert {"d_au/loss", "interp/adv", "interp/pseudo_l1"} <= set().union(*log)
    card = (helpers / "cascade" / "model" / "README.md").read_text()
    assert "# faceforge Cascade EF-GAN" in card and "3 EF-GANs, each initialised from" in card


def test_the_cascade_refuses_an_init_that_is_not_its_single_efgan(helpers, single):
    _, _, folder = single
    wrong = tiny_run(helpers, helpers / "unused", "train/configs/efgan_cascade_cpu.yaml", init=folder / "model",
                     **{"net.channels": 8})
    task = build_task(wrong)
    with pytest.raises(ConfigError, match="options.net must be the config of options.init"):
        task.build_networks()
    task = build_task(tiny_run(helpers, helpers / "unused", "train/configs/efgan_cascade_cpu.yaml",
                               init=helpers / "evaluator"))
    with pytest.raises(ConfigError, match="not an EFGAN"):
        task.build_networks()


def test_the_family_is_registered():
    assert {"efgan", "cascade_efgan", "efgan_critic", "efgan_au_interpolator", "efgan_au_critic"} <= set(
        faceforge.list_models())
    assert {"efgan", "efgan_cascade"} <= set(faceforge.list_tasks())
    family = faceforge.registry.family_of("cascade_efgan")
    assert family.paper.year == 2020 and family.paper.authors == "Rongliang Wu, Gongjie Zhang, Shijian Lu and Tao Chen"
    assert set(family.evaluators) == {"efgan", "cascade_efgan"}

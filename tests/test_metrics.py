"""Y-channel PSNR/SSIM and AU / expression classification metrics (faceforge.metrics)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from skimage.metrics import structural_similarity
from sklearn.metrics import accuracy_score, f1_score

from faceforge.face.aus import BP4D_AUS, FACEFORGE_AUS
from faceforge.metrics import (
    ImageQualityMeter,
    au_metrics,
    batch_psnr_y,
    batch_ssim_y,
    binarize,
    classification_accuracy,
    confusion_matrix,
    expression_metrics,
    format_table,
    predicted_classes,
    psnr_y,
    rgb_to_y,
    ssim_y,
    y_channel,
)


def _gray(value: int, *, batch: int = 1, size: int = 32) -> np.ndarray:
    return np.full((batch, size, size, 3), value, dtype=np.uint8)


def _faces(seed: int, batch: int = 2, size: int = 48) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    smooth = torch.nn.functional.avg_pool2d(torch.rand(batch, 3, size + 4, size + 4, generator=g), 5, 1)
    return smooth.to(torch.float64)


# ---------------------------------------------------------------------------------------------- Y channel


def test_y_of_known_colours():
    # MATLAB rgb2ycbcr: Y = 16 + 65.481 R + 128.553 G + 24.966 B.
    colours = torch.tensor([[1, 1, 1], [0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1]], dtype=torch.float64)
    expected = [235.0, 16.0, 81.481, 144.553, 40.966]
    y_torch = rgb_to_y(colours.view(5, 3, 1, 1)).flatten()
    torch.testing.assert_close(y_torch, torch.tensor(expected, dtype=torch.float64))
    y_numpy = y_channel((colours.numpy() * 255).astype(np.uint8).reshape(5, 1, 1, 3)).ravel()
    np.testing.assert_allclose(y_numpy, expected, atol=1e-9)
    rounded = y_channel(colours.view(5, 3, 1, 1), round_y=True).ravel()
    np.testing.assert_allclose(rounded, [235, 16, 81, 145, 41])


def test_tensor_and_uint8_inputs_agree():
    hr = _faces(0)
    uint8 = (hr.permute(0, 2, 3, 1).numpy() * 255).round().astype(np.uint8)
    np.testing.assert_allclose(y_channel(hr), y_channel(uint8), atol=1e-9)
    np.testing.assert_allclose(y_channel(hr[0]), y_channel(uint8[0]), atol=1e-9)  # unbatched forms
    with pytest.raises(ValueError):
        y_channel(np.zeros((2, 8, 8, 4), dtype=np.uint8))


# --------------------------------------------------------------------------------------------------- PSNR


def test_psnr_hand_computed():
    # Grey v gives Y = 16 + 219 v / 255, so grey 110 vs 100 differs by 2190 / 255 in Y everywhere:
    # PSNR = 20 log10(255 / (2190 / 255)) = 20 log10(65025 / 2190) = 29.452724920555838 dB.
    np.testing.assert_allclose(psnr_y(_gray(110), _gray(100)), [29.452724920555838], atol=1e-9)
    # The same error on half the pixels halves the MSE: + 10 log10(2) dB.
    half = _gray(100)
    half[:, :16] = 110
    np.testing.assert_allclose(psnr_y(half, _gray(100)), [32.46302487719565], atol=1e-9)
    torch.testing.assert_close(
        batch_psnr_y(torch.full((1, 3, 8, 8), 110 / 255), torch.full((1, 3, 8, 8), 100 / 255)),
        torch.tensor([29.452724920555838]),
    )


def test_psnr_identical_is_inf_and_crop_border():
    hr = _gray(90, batch=2)
    assert np.isinf(psnr_y(hr, hr)).all()
    sr = hr.copy()
    sr[:, :3] = 200  # damage only a 3-pixel top border
    assert np.isfinite(psnr_y(sr, hr)).all()
    assert np.isinf(psnr_y(sr, hr, crop_border=3)).all()
    assert torch.isinf(batch_psnr_y(torch.ones(2, 3, 8, 8), torch.ones(2, 3, 8, 8))).all()


def test_quantize_rounds_float_images_to_8_bits():
    hr = torch.full((1, 3, 16, 16), 128 / 255, dtype=torch.float64)
    sr = hr + 0.4 / 255  # invisible once saved as 8-bit
    assert np.isinf(psnr_y(sr, hr))
    assert np.isfinite(psnr_y(sr, hr, quantize=False))


def test_batch_psnr_matches_reference_without_quantization():
    hr, sr = _faces(1), _faces(2)
    np.testing.assert_allclose(
        batch_psnr_y(sr, hr, crop_border=4).numpy(), psnr_y(sr, hr, crop_border=4, quantize=False), rtol=1e-10
    )


# --------------------------------------------------------------------------------------------------- SSIM


def test_ssim_identical_is_one_and_constant_images_by_hand():
    hr = _faces(3)
    np.testing.assert_allclose(ssim_y(hr, hr), [1.0, 1.0])
    # Flat images have zero (co)variance, so SSIM = (2 a b + C1) / (a^2 + b^2 + C1), C1 = (0.01 * 255)^2.
    a, b, c1 = 16 + 219 * 100 / 255, 16 + 219 * 110 / 255, (0.01 * 255) ** 2
    expected = (2 * a * b + c1) / (a * a + b * b + c1)
    assert expected == pytest.approx(0.9967349750759956)
    np.testing.assert_allclose(ssim_y(_gray(110), _gray(100)), [expected], rtol=1e-9)


def test_ssim_matches_skimage_wang_settings():
    hr, sr = _faces(4), _faces(5)
    hr_y, sr_y = y_channel(hr), y_channel(sr)
    ref = [
        structural_similarity(
            h, s, data_range=255, gaussian_weights=True, sigma=1.5, use_sample_covariance=False
        )
        for s, h in zip(sr_y, hr_y)
    ]
    ours = ssim_y(sr, hr)
    np.testing.assert_allclose(ours, ref, rtol=1e-12)
    assert 0.0 < ours.min() < ours.max() < 1.0
    torch_ssim = batch_ssim_y(sr, hr).numpy()
    np.testing.assert_allclose(torch_ssim, ssim_y(sr, hr, quantize=False), atol=1e-9)


def test_batch_ssim_is_differentiable():
    hr = _faces(6, batch=1, size=16)
    sr = (hr + 0.05 * _faces(7, batch=1, size=16)).requires_grad_(True)
    batch_ssim_y(sr, hr).sum().backward()
    assert sr.grad is not None and sr.grad.abs().sum() > 0


def test_image_quality_meter_averages_images():
    meter = ImageQualityMeter()
    meter.update(_gray(110, batch=2), _gray(100, batch=2))
    meter.update(_gray(100), _gray(100))
    first = meter.compute()
    assert first["count"] == 3 and math.isinf(first["psnr"])  # an identical pair makes the mean inf
    assert first["ssim"] == pytest.approx((2 * 0.9967349750759956 + 1) / 3)
    with pytest.raises(ValueError):
        ImageQualityMeter().compute()
    hr, sr = _faces(8), _faces(9)
    meter = ImageQualityMeter(crop_border=2)
    meter.update(sr[:1], hr[:1])
    meter.update(sr[1:], hr[1:])
    result = meter.compute()
    assert result["count"] == 2
    assert result["psnr"] == pytest.approx(psnr_y(sr, hr, crop_border=2).mean())
    assert result["ssim"] == pytest.approx(ssim_y(sr, hr, crop_border=2).mean())


# ------------------------------------------------------------------------------------------------ AU F1


# Hand-worked example, 4 samples x 3 AUs:
#   AU1: TP 2, FP 0, FN 1, TN 1 -> F1 = 4 / 5 = 0.8,    acc = 3 / 4
#   AU2: no positive label     -> F1 undefined,         acc = 3 / 4 (one false positive)
#   AU4: TP 1, FP 1, FN 0, TN 2 -> F1 = 2 / 3,           acc = 3 / 4


def test_au_f1_hand_worked():
    pred = np.array([[1, 0, 0], [0, 0, 1], [1, 1, 1], [0, 0, 0]])
    true = np.array([[1, 0, 0], [1, 0, 1], [1, 0, 0], [0, 0, 0]])
    result = au_metrics(pred, true, aus=(1, 2, 4))
    assert result["f1"]["AU1"] == pytest.approx(0.8)
    assert math.isnan(result["f1"]["AU2"])
    assert result["f1"]["AU4"] == pytest.approx(2 / 3)
    assert result["f1"]["avg"] == pytest.approx((0.8 + 2 / 3) / 2)  # the undefined AU is left out
    assert result["accuracy"] == pytest.approx({"AU1": 0.75, "AU2": 0.75, "AU4": 0.75, "avg": 0.75})
    counted = au_metrics(pred, true, aus=(1, 2, 4), undefined_f1=0.0)
    assert counted["f1"]["AU2"] == 0.0 and counted["f1"]["avg"] == pytest.approx((0.8 + 2 / 3) / 3)


def test_au_metrics_match_sklearn_on_random_labels():
    rng = np.random.default_rng(0)
    true = (rng.random((200, 12)) < 0.3).astype(int)
    prob = np.clip(true * 0.4 + rng.random((200, 12)) * 0.6, 0, 1)
    result = au_metrics(torch.from_numpy(prob), torch.from_numpy(true), aus=BP4D_AUS)
    pred = prob >= 0.5
    for k, au in enumerate(BP4D_AUS):
        assert result["f1"][f"AU{au}"] == pytest.approx(f1_score(true[:, k], pred[:, k]))
        assert result["accuracy"][f"AU{au}"] == pytest.approx(accuracy_score(true[:, k], pred[:, k]))
    assert list(result["f1"]) == [f"AU{a}" for a in BP4D_AUS] + ["avg"]


def test_au_metrics_logits_threshold_and_mask():
    logits = torch.tensor([[2.0, -1.0], [-0.5, 0.3], [0.1, 3.0]])
    assert binarize(logits, from_logits=True).tolist() == [[True, False], [False, True], [True, True]]
    strict = binarize(torch.sigmoid(logits), threshold=0.6)
    assert strict.tolist() == [[True, False], [False, False], [False, True]]
    # BP4D-style unknown labels (9) are fine once masked out; sample 2 of AU "b" is unknown.
    true = np.array([[1, 1], [0, 9], [1, 1]])
    mask = true != 9
    result = au_metrics(logits, true, aus=("a", "b"), from_logits=True, mask=mask)
    assert result["f1"] == pytest.approx({"a": 1.0, "b": 2 / 3, "avg": (1 + 2 / 3) / 2})
    assert result["accuracy"] == pytest.approx({"a": 1.0, "b": 0.5, "avg": 0.75})
    with pytest.raises(ValueError, match="mask"):
        au_metrics(logits, true, aus=("a", "b"), from_logits=True)
    with pytest.raises(ValueError, match="aus="):
        au_metrics(np.zeros((3, 5)), np.zeros((3, 5)))
    assert len(au_metrics(np.zeros((3, 18)), np.zeros((3, 18)))["f1"]) == len(FACEFORGE_AUS) + 1


# ------------------------------------------------------------------------------------- expression classes


def test_confusion_matrix_and_accuracy():
    names = ("neutral", "happiness", "sadness")
    target = np.array([0, 0, 1, 1, 1, 2])
    scores = np.eye(3)[[0, 1, 1, 1, 2, 2]] + 0.01  # argmax = [0, 1, 1, 1, 2, 2]
    assert predicted_classes(scores).tolist() == [0, 1, 1, 1, 2, 2]
    assert classification_accuracy(scores, target) == pytest.approx(4 / 6)
    counts = confusion_matrix(scores, target, class_names=names)
    assert counts == {
        "neutral": {"neutral": 1.0, "happiness": 1.0, "sadness": 0.0},
        "happiness": {"neutral": 0.0, "happiness": 2.0, "sadness": 1.0},
        "sadness": {"neutral": 0.0, "happiness": 0.0, "sadness": 1.0},
    }
    rates = confusion_matrix(torch.tensor([0, 1, 1, 1, 2, 2]), target, class_names=names, normalize=True)
    assert rates["happiness"] == pytest.approx({"neutral": 0.0, "happiness": 2 / 3, "sadness": 1 / 3})
    with pytest.raises(ValueError):
        confusion_matrix(np.array([0, 3]), np.array([0, 1]), class_names=names)


def test_expression_metrics_absent_class():
    names = ("neutral", "anger", "fear")
    result = expression_metrics(np.array([0, 1, 1, 0]), np.array([0, 1, 0, 0]), class_names=names)["accuracy"]
    assert result["neutral"] == pytest.approx(2 / 3) and result["anger"] == 1.0
    assert math.isnan(result["fear"])  # never in the ground truth: no recall, left out of the mean
    assert result["avg"] == pytest.approx((2 / 3 + 1) / 2)
    assert result["overall"] == pytest.approx(3 / 4)


def test_format_table():
    table = format_table(
        {"Ours": {"AU1": 0.5, "AU2": float("nan"), "avg": 0.5}, "SRGAN": {"AU1": 0.25}},
        percent=True,
        digits=1,
        corner="F1",
    )
    assert table.splitlines() == [
        "F1      AU1  AU2   avg",
        "Ours   50.0    -  50.0",
        "SRGAN  25.0    -     -",
    ]


def test_best_f1_thresholds_pick_the_cut_that_separates_each_column():
    from faceforge.metrics.classification import best_f1_thresholds

    target = np.array([[0, 1, 0], [0, 1, 0], [1, 0, 0], [1, 0, 0]])
    prob = np.array([[0.10, 0.90, 0.2], [0.15, 0.60, 0.3], [0.30, 0.20, 0.1], [0.35, 0.25, 0.4]])
    thresholds = best_f1_thresholds(prob, target)
    assert 0.15 < thresholds[0] <= 0.30  # positives at 0.30-0.35, negatives at 0.10-0.15
    assert 0.25 < thresholds[1] <= 0.60
    assert thresholds[2] == 0.5  # no positive: the default
    result = au_metrics(prob, target, aus=(1, 2, 4), threshold=thresholds)
    assert result["f1"]["AU1"] == 1.0 and result["f1"]["AU2"] == 1.0
    assert au_metrics(prob, target, aus=(1, 2, 4))["f1"]["AU1"] == 0.0  # at 0.5 every AU1 is missed


# ------------------------------------------------------------------------------- threshold-free AU scores


def test_roc_auc_and_average_precision_match_sklearn_with_ties():
    from sklearn.metrics import average_precision_score, roc_auc_score

    from faceforge.metrics import average_precision, roc_auc

    rng = np.random.default_rng(3)
    for _ in range(5):
        y = rng.random(300) < 0.2
        score = np.round(y * 0.3 + rng.random(300), 1)  # rounding makes many ties
        assert roc_auc(score, y) == pytest.approx(roc_auc_score(y, score))
        assert average_precision(score, y) == pytest.approx(average_precision_score(y, score))


def test_ranking_metrics_of_perfect_uninformed_and_one_class_columns():
    from faceforge.metrics import au_ranking_metrics

    target = np.array([[1, 1, 0], [1, 0, 0], [0, 1, 0], [0, 0, 0]])
    prob = np.array([[0.9, 0.5, 0.1], [0.8, 0.5, 0.2], [0.2, 0.5, 0.3], [0.1, 0.5, 0.4]])
    result = au_ranking_metrics(prob, target, aus=(1, 2, 4))
    assert result["auc"]["AU1"] == 1.0 and result["ap"]["AU1"] == 1.0  # positives ranked first
    assert result["auc"]["AU2"] == 0.5 and result["ap"]["AU2"] == 0.5  # one score for all: chance, AP = rate
    assert math.isnan(result["auc"]["AU4"]) and math.isnan(result["ap"]["AU4"])  # no positive: undefined
    assert result["auc"]["avg"] == 0.75  # NaN left out of the mean
    masked = au_ranking_metrics(prob, target, aus=(1, 2, 4), mask=np.array([[1, 1, 1]] * 3 + [[0, 1, 1]]))
    assert masked["auc"]["AU1"] == 1.0
    with pytest.raises(ValueError, match="other than 0 and 1"):
        au_ranking_metrics(prob, target * 2, aus=(1, 2, 4))


# --------------------------------------------------------------------------------------------- bootstrap


def test_bootstrap_interval_of_a_mean_covers_it_and_shrinks_with_more_faces():
    from faceforge.metrics import bootstrap_interval

    rng = np.random.default_rng(0)
    small, large = rng.normal(10, 2, 100), rng.normal(10, 2, 2500)
    a = bootstrap_interval(lambda i: small[i].mean(), len(small))
    b = bootstrap_interval(lambda i: large[i].mean(), len(large))
    assert a.low < a.value < a.high and a.value == pytest.approx(small.mean())
    # the normal-theory half-width is 1.96 * 2 / sqrt(n): 0.39 for 100 faces, 0.078 for 2500
    assert (a.high - a.low) / 2 == pytest.approx(0.39, rel=0.2)
    assert (b.high - b.low) / 2 == pytest.approx(0.078, rel=0.2)
    assert bootstrap_interval(lambda i: small[i].mean(), 100, seed=5) == \
        bootstrap_interval(lambda i: small[i].mean(), 100, seed=5)  # reproducible


def test_paired_difference_finds_a_small_consistent_gain_that_separate_intervals_miss():
    from faceforge.metrics import bootstrap_interval, paired_difference

    rng = np.random.default_rng(1)
    base = rng.normal(25, 3, 300)  # faces differ a lot from each other ...
    better = base + 0.2 + rng.normal(0, 0.1, 300)  # ... the method gains 0.2 dB on every one of them
    a = bootstrap_interval(lambda i: better[i].mean(), 300)
    b = bootstrap_interval(lambda i: base[i].mean(), 300)
    assert a.low < b.high  # the separate intervals overlap
    diff = paired_difference(lambda i: better[i].mean(), lambda i: base[i].mean(), 300)
    assert diff.excludes(0) and diff.value == pytest.approx(0.2, abs=0.03)
    assert not paired_difference(lambda i: base[i].mean(), lambda i: base[i].mean(), 300).excludes(0)
    jitter = base + rng.normal(0, 1, 300)  # no gain, only noise: the difference interval straddles 0
    assert not paired_difference(lambda i: jitter[i].mean(), lambda i: base[i].mean(), 300).excludes(0)


def test_interval_formats_scales_and_handles_undefined_statistics():
    from faceforge.metrics import Interval, bootstrap_interval

    assert Interval(0.5, 0.4, 0.6).scaled(100).format(1) == "50.0 [40.0, 60.0]"
    assert Interval(0.5, 0.4, 0.6).excludes(0.0) and not Interval(0.5, 0.4, 0.6).excludes(0.45)
    undefined = bootstrap_interval(lambda i: math.nan, 10)
    assert math.isnan(undefined.value) and undefined.format() == "-"
    with pytest.raises(ValueError, match="at least one"):
        bootstrap_interval(lambda i: 0.0, 0)


def test_au_statistics_agree_with_the_metrics_and_feed_a_bootstrap_table():
    from faceforge.metrics import BootstrapTable, au_ranking_metrics
    from faceforge.metrics.classification import au_statistics

    rng = np.random.default_rng(0)
    truth = (rng.random((400, 5)) < 0.2).astype(int)
    good = np.clip(truth * 0.5 + rng.random((400, 5)) * 0.5, 0, 1)
    bad = np.clip(truth * 0.1 + rng.random((400, 5)) * 0.9, 0, 1)
    stats = au_statistics(good, truth, val_threshold=[0.4] * 5)
    everyone = np.arange(400)
    reference = au_metrics(good, truth, aus=range(5))
    assert stats["AU F1"](everyone) == pytest.approx(100 * reference["f1"]["avg"])
    assert stats["AU Acc"](everyone) == pytest.approx(100 * reference["accuracy"]["avg"])
    assert stats["AU F1 (val thr.)"](everyone) == pytest.approx(
        100 * au_metrics(good, truth, aus=range(5), threshold=0.4)["f1"]["avg"])
    ranking = au_ranking_metrics(good, truth, aus=range(5))
    assert stats["AU AUC"](everyone) == pytest.approx(ranking["auc"]["avg"])
    assert stats["AU AP"](everyone) == pytest.approx(ranking["ap"]["avg"])
    assert stats["AU Acc, all absent"](everyone) == pytest.approx(100 * (1 - truth.mean()))

    table = BootstrapTable(400, resamples=200)
    table.add_row("good", au_statistics(good, truth))
    table.add_row("bad", au_statistics(bad, truth))
    table.add_row("copy", au_statistics(good, truth))
    assert table.compare("good", "bad", "AU AUC").excludes(0)
    assert table.verdict("good", "bad", "AU AUC", digits=3).startswith("good above bad in AU AUC by")
    assert "no measurable difference" in table.verdict("good", "copy", "AU AP")
    cell = table.interval("good", "AU AUC")
    assert cell.low <= cell.value <= cell.high and cell.high - cell.low < 0.1
    assert set(table.as_dict()["bad"]) == {"AU F1", "AU AUC", "AU AP", "AU Acc", "AU Acc, all absent"}


def test_frechet_distance_matches_the_matrix_square_root_formula():
    from scipy import linalg

    from faceforge.metrics.image import frechet_distance

    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(300, 8)), rng.normal(size=(200, 8)) * 1.5 + 0.3
    cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    reference = (((a.mean(0) - b.mean(0)) ** 2).sum() + np.trace(cov_a) + np.trace(cov_b)
                 - 2 * np.trace(linalg.sqrtm(cov_a @ cov_b).real))
    assert frechet_distance(a, b) == pytest.approx(reference, rel=1e-6)
    assert frechet_distance(a, a) == pytest.approx(0.0, abs=1e-6)
    assert frechet_distance(a, a + 2.0) == pytest.approx(4.0 * 8, rel=1e-6)  # a shift moves only the means
    with pytest.raises(ValueError, match="features"):
        frechet_distance(a, b[:, :4])

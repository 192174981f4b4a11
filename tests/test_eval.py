"""``faceforge eval``: the paper-style table of a model on a dataset split, printed and written as JSON."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from faceforge.cli import main
from faceforge.evaluation import build_eval_dataset, evaluate
from faceforge.models.au_detector import AUDetector
from faceforge.models.expression import ExpressionClassifier


@pytest.mark.parametrize("cls, row", [(AUDetector, "f1"), (ExpressionClassifier, "accuracy")])
def test_eval_command_prints_the_table_and_writes_json(tmp_path, capsys, cls, row):
    model = cls(cls.tiny_config())
    model.save_pretrained(tmp_path / "model")
    out = tmp_path / "result.json"
    assert main(["eval", "--model", str(tmp_path / "model"), "--dataset", "synth-peak", "--length", "12",
                 "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert row in printed and "synth-peak (renderer 2)/test (12 samples)" in printed
    result = json.loads(out.read_text())
    assert result["model_type"] == model.config.model_type and row in result["table"]
    assert result["details"]["samples"] == 12 and result["synth_version"] == 2
    if cls is AUDetector:  # threshold-free rows beside F1 and accuracy
        assert {"auc", "ap"} <= set(result["table"]) and 0 <= result["table"]["auc"]["avg"] <= 1


def test_eval_takes_the_synthetic_renderer_and_refuses_it_for_real_data(tmp_path, capsys):
    from faceforge.data.synth import SynthFaces

    one = build_eval_dataset("synth", length=2, synth_version=1)
    assert torch.equal(one[1]["image"], SynthFaces("test", length=2, version=1)[1]["image"])
    assert not torch.equal(one[1]["image"], build_eval_dataset("synth", length=2)[1]["image"])  # default: 2
    AUDetector(AUDetector.tiny_config()).save_pretrained(tmp_path / "model")
    out = tmp_path / "v1.json"
    assert main(["eval", "--model", str(tmp_path / "model"), "--length", "4", "--synth-version", "1",
                 "--out", str(out)]) == 0
    assert "synth (renderer 1)/test (4 samples)" in capsys.readouterr().out
    assert json.loads(out.read_text())["synth_version"] == 1
    assert main(["eval", "--model", str(tmp_path / "model"), "--dataset", "bp4d", "--root", str(tmp_path),
                 "--synth-version", "1"]) == 2
    assert "--synth-version applies to the synthetic sets" in capsys.readouterr().err


def test_expression_accuracy_is_computed_against_the_true_labels():
    data = build_eval_dataset("synth", length=16)
    labels = torch.tensor([data[i]["expression"] for i in range(16)])

    class Perfect(ExpressionClassifier):
        def forward(self, images):  # one-hot of the true labels, in dataset order
            start = self.seen
            self.seen += images.shape[0]
            return torch.nn.functional.one_hot(labels[start : self.seen], 8).float()

    model = Perfect(ExpressionClassifier.tiny_config())
    model.seen = 0
    result = evaluate(model, data, batch_size=5)
    assert result["table"]["accuracy"]["overall"] == 1.0
    model.seen = 0
    labels = (labels + 1) % 8  # always wrong
    assert evaluate(model, data, batch_size=5)["table"]["accuracy"]["overall"] == 0.0


def test_unknown_dataset_names_fail_clearly(tmp_path):
    with pytest.raises(Exception, match="(?i)unknown|dataset"):
        build_eval_dataset("not-a-dataset")


def _small_mpenet():
    from faceforge.models.mpenet import MPENet, MPENetConfig

    torch.manual_seed(0)
    return MPENet(MPENetConfig(channels=8, groups=2, align_channels=16, hourglass_depth=2, au_backbone="resnet10t",
                               au_image_size=64))


def test_super_resolution_table_has_bicubic_every_step_and_the_hr_ceiling():
    from faceforge.data.degrade import imresize
    from faceforge.evaluation import evaluate_super_resolution

    model = _small_mpenet()

    class Bicubic(type(model)):  # every step returns the bicubic upsampling: each row must equal bicubic's
        def forward(self, lr):
            out = super().forward(lr)
            up = imresize(lr, size=128, clamp=True)
            return {**out, "sr": up, "steps": (up, up, up)}

    bicubic = Bicubic(model.config)
    data = build_eval_dataset("synth", length=6)
    evaluator = AUDetector(AUDetector.tiny_config())
    result = evaluate_super_resolution(bicubic, data, batch_size=4, au_evaluator=evaluator)
    table = result["table"]
    assert list(table) == ["bicubic", "step 1", "step 2", "step 3", "HR"]
    for row in ("step 1", "step 2", "step 3"):
        assert table[row] == pytest.approx(table["bicubic"])
    assert 18 < table["bicubic"]["PSNR"] < 35 and 0 < table["bicubic"]["SSIM"] < 1
    assert set(table["HR"]) == {"AU F1", "AU Acc", "AU AUC", "AU AP"} and 0 <= table["HR"]["AU Acc"] <= 100
    assert 0 <= table["HR"]["AU AUC"] <= 1 and table["bicubic"]["AU AP"] == pytest.approx(table["step 3"]["AU AP"])
    assert result["details"]["samples"] == 6 and result["details"]["landmark_px"] > 0
    no_aus = evaluate_super_resolution(model, data, batch_size=4, au_evaluator=None)["table"]
    assert "HR" not in no_aus and set(no_aus["step 3"]) == {"PSNR", "SSIM"}


def test_super_resolution_intervals_cover_each_cell_and_compare_rows_on_the_same_faces():
    from faceforge.evaluation import evaluate_super_resolution

    model = _small_mpenet()
    data = build_eval_dataset("synth", length=12)
    evaluator = AUDetector(AUDetector.tiny_config())
    strict = AUDetector(AUDetector.tiny_config())
    result = evaluate_super_resolution(model, data, batch_size=6, au_evaluator=evaluator,
                                       extra_au_evaluators={"sharp": strict},
                                       calibration=build_eval_dataset("synth", split="val", length=6), resamples=50)
    table, intervals = result["table"], result["details"]["intervals"]
    for row, cells in table.items():
        for column, value in cells.items():
            cell = intervals[row][column]
            assert cell["value"] == pytest.approx(value, nan_ok=True)
            # 12 faces: a ranking score's point value may fall outside its percentile interval
            assert cell["low"] <= cell["value"] <= cell["high"] or column.startswith(("AU AUC", "AU AP"))
    assert "AU F1 (val thr.)" in intervals["step 3"] and len(result["details"]["val_thresholds"]["HR"]) == 18
    assert {"AU AUC (sharp)", "AU AP (sharp)", "AU AUC"} <= set(table["step 2"]) <= set(intervals["step 2"])
    assert table["HR"]["AU AUC (sharp)"] != table["HR"]["AU AUC"]  # another network, another score
    boot = result["bootstrap"]
    gain = boot.compare("step 3", "bicubic", "PSNR")
    assert gain.value == pytest.approx(table["step 3"]["PSNR"] - table["bicubic"]["PSNR"])
    assert gain.low <= gain.value <= gain.high and gain.high - gain.low > 0
    assert "HR" in boot.rows() and "PSNR" not in boot.rows()["HR"]


def test_eval_command_prints_the_super_resolution_table_in_db(tmp_path, capsys):
    _small_mpenet().save_pretrained(tmp_path / "mpenet")
    AUDetector(AUDetector.tiny_config()).save_pretrained(tmp_path / "evaluator")
    out = tmp_path / "sr.json"
    assert main(["eval", "--model", str(tmp_path / "mpenet"), "--length", "4", "--au-evaluator",
                 str(tmp_path / "evaluator"), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "PSNR" in printed and "SSIM" in printed and "bicubic" in printed and ", %" not in printed
    assert json.loads(out.read_text())["table"]["step 3"]["PSNR"] > 0
    assert main(["eval", "--model", str(tmp_path / "evaluator"), "--length", "4", "--au-evaluator", "none"]) == 2
    assert main(["eval", "--model", str(tmp_path / "mpenet"), "--length", "4", "--au-evaluator", "none",
                 "--resamples", "20", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "95% bootstrap intervals over the 4 faces (20 resamples)" in printed and "step 3: PSNR " in printed
    assert "intervals" in json.loads(out.read_text())["details"]
    assert main(["eval", "--model", str(tmp_path / "evaluator"), "--length", "4", "--resamples", "20"]) == 2


def test_super_resolution_scores_saved_to_disk_give_the_same_cells(tmp_path):
    from faceforge.evaluation import SuperResolutionScores, score_super_resolution

    model = _small_mpenet().eval()
    data = build_eval_dataset("synth", length=6)
    evaluator, strict = AUDetector(AUDetector.tiny_config()), AUDetector(AUDetector.tiny_config())
    scores = score_super_resolution(model, data, evaluator, extra_evaluators={"sharp": strict}, batch_size=3,
                                    num_workers=0, device="cpu")
    scores.save(tmp_path / "scores.safetensors", source="tiny")
    with pytest.raises(ValueError, match="sharp"):
        SuperResolutionScores.load(tmp_path / "scores.safetensors", evaluator=evaluator)
    loaded = SuperResolutionScores.load(tmp_path / "scores.safetensors", evaluator=evaluator,
                                        extra_evaluators={"sharp": strict})
    from faceforge.face.aus import FACEFORGE_AUS

    aus = tuple(FACEFORGE_AUS)
    assert loaded.samples == 6 and loaded.rows == scores.rows
    assert json.dumps(loaded.table(aus)) == json.dumps(scores.table(aus))  # NaN (AUs never present) included
    index = np.array([0, 1, 1, 4, 5, 5])
    for row, cells in scores.statistics(aus).items():
        for column, cell in cells.items():
            assert loaded.statistics(aus)[row][column](index) == pytest.approx(cell(index), nan_ok=True)
    assert loaded.fit_thresholds(aus) == scores.fit_thresholds(aus)
    plain = score_super_resolution(model, data, None, batch_size=3, num_workers=0, device="cpu")
    plain.save(tmp_path / "plain.safetensors")
    reloaded = SuperResolutionScores.load(tmp_path / "plain.safetensors")
    assert reloaded.evaluator is None and json.dumps(reloaded.table(aus)) == json.dumps(plain.table(aus))

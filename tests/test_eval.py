"""``faceforge eval``: the paper-style table of a model on a dataset split, printed and written as JSON."""

from __future__ import annotations

import json

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
    assert row in printed and "synth-peak/test (12 samples)" in printed
    result = json.loads(out.read_text())
    assert result["model_type"] == model.config.model_type and row in result["table"]
    assert result["details"]["samples"] == 12


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

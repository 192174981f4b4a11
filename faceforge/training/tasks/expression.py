"""Training task of the expression classifier (``faceforge.models.expression``), the VGG-style BaseNet that
GroupGAN (Niu et al., Knowledge-Based Systems 2022) recognises expressions with.

Cross-entropy with light label smoothing over the eight expressions, on faces of every intensity (weak and
peak). Run with ``train/configs/expression_classifier.yaml`` (the supervisor) or
``train/configs/expression_evaluator.yaml`` (the separately trained evaluator).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader

from faceforge.metrics.classification import expression_metrics, format_table
from faceforge.models.expression import ExpressionClassifier, ExpressionClassifierConfig
from faceforge.training.tasks.faces import SingleNetworkTask, dataset_card_name, face_split

PEAK, WEAK = (0.85, 1.0), (0.15, 0.4)  # expression intensity ranges of the peak and weak test sets


@dataclass
class ExpressionOptions:
    net: ExpressionClassifierConfig = field(default_factory=ExpressionClassifierConfig)  # options.net.width=0.5
    lr: float = 3e-3
    weight_decay: float = 5e-4
    label_smoothing: float = 0.05
    warmup: float = 0.1
    train_length: int = 24000
    eval_length: int = 2000
    test_length: int | None = None  # test faces the card reports on (None: the whole test split)


class ExpressionTask(SingleNetworkTask):
    Options = ExpressionOptions

    def train_dataset(self):
        return face_split(self, "train", length=self.opts.train_length, hflip=True)

    def eval_dataset(self):
        return face_split(self, "val", length=self.opts.eval_length)

    def build_networks(self):
        config = self.opts.net
        return {"net": ExpressionClassifier(config)}

    def step(self, batch):
        logits = self.nets["net"](batch["image"]).float()
        target = torch.as_tensor(batch["expression"], device=logits.device)
        loss = F.cross_entropy(logits, target, label_smoothing=self.opts.label_smoothing)
        return loss, {"accuracy": (logits.argmax(1) == target).float().mean()}

    def _predict(self, batches) -> tuple[torch.Tensor, torch.Tensor]:
        logits, targets = [], []
        for batch in batches:
            logits.append(self.nets["net"](batch["image"]).float().cpu())
            targets.append(torch.as_tensor(batch["expression"]).cpu())
        return torch.cat(logits), torch.cat(targets)

    def evaluate(self, loader) -> dict[str, float]:
        logits, target = self._predict(loader)
        return {"accuracy": expression_metrics(logits, target, class_names=self.nets["net"].config.classes)
                ["accuracy"]["overall"]}

    def test_metrics(self) -> dict[str, dict[str, float]]:
        """Accuracy per expression on peak (intensity 0.85-1) and weak (0.15-0.4) faces of the test split."""
        rows = {}
        for name, rng in (("peak", PEAK), ("weak", WEAK)):
            data = face_split(self, "test", length=self.opts.test_length, intensity_range=rng)
            loader = DataLoader(data, batch_size=128, num_workers=0)
            batches = ({k: (v.to(self.device) if torch.is_tensor(v) else v) for k, v in b.items()} for b in loader)
            logits, target = self._predict(batches)
            rows[name] = expression_metrics(logits, target, class_names=self.nets["net"].config.classes)["accuracy"]
        return rows

    def card(self, metrics: dict[str, float], test: dict) -> dict:
        data_id, data_text = dataset_card_name(self)
        rows = [{"name": f"accuracy ({name} expressions)", "type": "accuracy", "value": round(r["overall"], 4),
                 "dataset_name": data_id, "dataset_type": data_id, "dataset_split": f"test-{name}"}
                for name, r in test.items()]
        table = format_table(test, percent=True, corner="test")
        return {
            "title": f"faceforge expression classifier ({self.opts.net.layout} x{self.opts.net.width})",
            "summary": (f"Expression recognition over {', '.join(self.nets['net'].config.classes)}: a VGG-style "
                        f"BaseNet ({self.opts.net.layout} layout, width x{self.opts.net.width}, batch norm) as in "
                        f"GroupGAN, on {self.opts.net.image_size}x{self.opts.net.image_size} aligned faces. Its stage "
                        f"features are faceforge's offline perceptual feature space."),
            "pipeline_tag": "image-classification",
            "datasets": [data_id],
            "metrics": rows,
            "training": {"data": data_text},
            "sections": {"Results on the test split (identity-disjoint), accuracy %":
                         f"peak: intensity {PEAK[0]}-{PEAK[1]}, weak: {WEAK[0]}-{WEAK[1]}; neutral faces in both.\n\n"
                         f"```\n{table}\n```"},
            "usage": ("import faceforge, torch\n"
                      "model = faceforge.from_pretrained(\"path/to/this/folder\")  # or a Hub id\n"
                      "logits = model(torch.rand(4, 3, 128, 128))  # aligned faces in [0, 1]\n"
                      "names = [model.config.classes[i] for i in logits.argmax(1)]"),
        }

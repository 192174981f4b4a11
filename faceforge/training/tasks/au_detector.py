"""Training task of the AU detector (``faceforge.models.au_detector``), MPENet's AU branch.

Loss: MPENet Eq. (6)-(8), weighted multi-label cross-entropy + weighted Dice, with w_i from the AU
occurrence rates of the training set (``faceforge.losses.au``). Run with ``train/configs/au_detector.yaml``
(the supervisor), ``train/configs/au_evaluator.yaml`` (the separately trained evaluator of sharp faces) or
``train/configs/au_evaluator_robust.yaml`` (the evaluator of restored faces: trained on faces degraded by
``options.augment``, bicubic x1-x8 resampling, blur, noise and JPEG). ``options.test_factors`` lists the bicubic
factors of the test faces the card reports on (x1 = the sharp faces).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import torch
from torch.utils.data import DataLoader

from faceforge.data.degrade import Degradations, random_degradation
from faceforge.face.aus import FACEFORGE_AUS
from faceforge.losses import au_class_weights, au_loss
from faceforge.metrics.classification import au_metrics, au_ranking_metrics, best_f1_thresholds
from faceforge.models.au_detector import AUDetector, AUDetectorConfig
from faceforge.training.tasks.faces import SingleNetworkTask, dataset_card_name, face_split


@dataclass
class AUDetectorOptions:
    # the network (``options.net.backbone=resnet10t``); its AU list comes from the training data
    net: AUDetectorConfig = field(default_factory=lambda: AUDetectorConfig(image_size=96))
    lr: float = 2e-3
    weight_decay: float = 1e-4
    warmup: float = 0.1  # fraction of the iterations with a linear learning-rate warm-up, then cosine decay
    train_length: int = 24000  # synthetic training faces (rendered once, cached)
    eval_length: int = 2000
    test_length: int | None = None  # test faces the card reports on (None: the whole test split)
    calibrate: bool = False  # choose per-AU decision thresholds for F1 on the validation split at export
    augment: Degradations = field(default_factory=Degradations)  # what training faces go through (default: none)
    test_factors: tuple[int, ...] = (1,)  # bicubic down/up factors of the card's test faces (1: sharp)

    def __post_init__(self) -> None:
        self.test_factors = tuple(self.test_factors)
        if not self.test_factors or any(int(f) != f or f < 1 for f in self.test_factors):
            raise ValueError(f"test_factors must be integers >= 1, got {self.test_factors}")


def test_key(metric: str, factor: int) -> str:
    """The row name of a test metric: ``"f1"`` on sharp faces, ``"f1 x8"`` on bicubic x8 faces."""
    return metric if factor == 1 else f"{metric} x{factor}"


class AUDetectorTask(SingleNetworkTask):
    Options = AUDetectorOptions

    def _aus(self) -> tuple[int, ...]:
        return tuple(getattr(self.train_set, "aus", FACEFORGE_AUS))

    def train_dataset(self):
        self.train_set = face_split(self, "train", length=self.opts.train_length, hflip=True)
        labels = getattr(self.train_set, "labels", None)
        if labels is not None:
            rates = torch.as_tensor(labels["au_occurrence"]).float().mean(0)
        else:  # a real dataset: count once
            rates = torch.stack([self.train_set[i]["au_occurrence"] for i in range(len(self.train_set))]).mean(0)
        self.weights = au_class_weights(rates)
        self.occurrence_rates = rates
        return self.train_set

    def eval_dataset(self):
        return face_split(self, "val", length=self.opts.eval_length)

    def build_networks(self):  # the loop builds the datasets first: self.train_set is there
        return {"net": AUDetector(dataclasses.replace(self.opts.net, aus=self._aus()))}

    def step(self, batch):  # MPENet Eq. (8)
        images = batch["image"]
        if self.opts.augment.active:  # torch's RNG: the same draws after a resume
            images = random_degradation(images, self.opts.augment)
        logits = self.nets["net"](images)
        mask = batch.get("au_mask")
        loss = au_loss(logits.float(), batch["au_occurrence"], self.weights.to(logits.device), mask)
        return loss, {}

    def _predict(self, loader, factor: int = 1) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        probs, targets, masks = [], [], []
        resample = Degradations(factors=(factor,))
        for batch in loader:
            images = random_degradation(batch["image"], resample) if factor > 1 else batch["image"]
            probs.append(torch.sigmoid(self.nets["net"](images).float()).cpu())
            targets.append(batch["au_occurrence"].cpu())
            if "au_mask" in batch:
                masks.append(batch["au_mask"].cpu())
        return torch.cat(probs), torch.cat(targets), (torch.cat(masks) if masks else None)

    def evaluate(self, loader) -> dict[str, float]:  # on the faces the card reports first (sharp, or x8 ...)
        prob, target, mask = self._predict(loader, self.opts.test_factors[0])
        result = au_metrics(prob, target, aus=self._aus(), mask=mask)
        return {"f1_avg": result["f1"]["avg"], "accuracy_avg": result["accuracy"]["avg"]}

    def _split_predictions(self, split: str, length: int | None, factor: int = 1):
        data = face_split(self, split, length=length)
        loader = DataLoader(data, batch_size=128, num_workers=0)
        batches = ({k: (v.to(self.device) if torch.is_tensor(v) else v) for k, v in b.items()} for b in loader)
        return self._predict(batches, factor)

    def export(self):
        """The network; with ``calibrate``, its per-AU thresholds are first fit for F1 on the validation split."""
        net = self.nets["net"]
        if self.opts.calibrate:
            prob, target, mask = self._split_predictions("val", self.opts.eval_length)
            net.config = dataclasses.replace(net.config, thresholds=best_f1_thresholds(prob, target, mask=mask))
        return net

    def test_metrics(self) -> dict:
        """The card's figures on the identity-disjoint test split, at every factor of ``test_factors``: per-AU F1
        and accuracy at the network's thresholds, ROC-AUC and average precision (rows ``f1``, ``auc`` ... on
        sharp faces, ``f1 x8`` ... on bicubic x8 faces)."""
        net, test = self.nets["net"], {}
        for factor in self.opts.test_factors:
            prob, target, mask = self._split_predictions("test", self.opts.test_length, factor)
            scores = au_metrics(prob, target, aus=self._aus(), mask=mask, threshold=net.decision_thresholds())
            scores.update(au_ranking_metrics(prob, target, aus=self._aus(), mask=mask))
            test.update({test_key(metric, factor): row for metric, row in scores.items()})
        return test

    def card(self, metrics: dict[str, float], test: dict) -> dict:
        data_id, data_text = dataset_card_name(self)
        first = self.opts.test_factors[0]
        faces = "" if first == 1 else f", bicubic x{first}"

        def row(name: str, kind: str, value: float) -> dict:
            return {"name": name, "type": kind, "value": round(value, 4), "dataset_name": data_id,
                    "dataset_type": data_id, "dataset_split": "test"}

        rows = [row(f"{au} F1{faces}", "f1", v) for au, v in test[test_key("f1", first)].items()]
        rows.append(row(f"mean accuracy{faces}", "accuracy", test[test_key("accuracy", first)]["avg"]))
        for factor in self.opts.test_factors:
            suffix = "" if factor == 1 else f", bicubic x{factor}"
            rows.append(row(f"mean ROC-AUC{suffix}", "roc_auc", test[test_key("auc", factor)]["avg"]))
            rows.append(row(f"mean average precision{suffix}", "average_precision",
                            test[test_key("ap", factor)]["avg"]))
        from faceforge.metrics.classification import format_table

        table = format_table(test, percent=True, corner="test")
        conditions = ", ".join("sharp" if f == 1 else f"bicubic x{f} (down and back up)"
                               for f in self.opts.test_factors)
        augment = self.opts.augment
        trained_on = ("" if not augment.active else
                      " Training faces were degraded at random: bicubic down/up by "
                      f"x{'/x'.join(map(str, augment.factors))}, Gaussian blur (p={augment.blur_p}), "
                      f"noise (p={augment.noise_p}), JPEG (p={augment.jpeg_p})"
                      ", so that it can judge restored and low-resolution faces.")
        return {
            "title": f"faceforge AU detector ({self.opts.net.backbone})",
            "summary": (f"Multi-label facial action unit detector over {len(self._aus())} AUs "
                        f"({', '.join(f'AU{a}' for a in self._aus())}): a timm {self.opts.net.backbone} on "
                        f"{self.opts.net.image_size}x{self.opts.net.image_size} aligned faces, trained with MPENet's "
                        f"weighted cross-entropy + weighted Dice loss (Eq. 6-8)"
                        + (", with per-AU decision thresholds chosen for F1 on the validation split."
                           if self.nets["net"].config.thresholds else ".") + trained_on),
            "pipeline_tag": "image-classification",
            "datasets": [data_id],
            "metrics": rows,
            "training": {"data": data_text},
            "sections": {f"Results on the test split (identity-disjoint; {conditions}), %": f"```\n{table}\n```"},
            "usage": ("import faceforge, torch\n"
                      "model = faceforge.from_pretrained(\"path/to/this/folder\")  # or a Hub id\n"
                      "faces = torch.rand(4, 3, 128, 128)  # aligned faces in [0, 1]\n"
                      "out = model.predict(faces)  # probability and occurrence, (4, n_aus)"),
        }

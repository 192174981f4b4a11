"""Training task of the face-alignment network (``faceforge.models.face_alignment``), the initialisation of MPENet's
alignment branch.

Each face is blurred by bicubic down- and upsampling by a factor drawn from ``options.factors`` (1 = sharp, 8 = a
16x16 face) and the network regresses Gaussian heatmaps of its 68 landmarks: MPENet Eq. (5), the mean squared
error averaged over the hourglasses. Run with ``train/configs/face_alignment.yaml``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader

from faceforge.face.landmarks import eye_centres
from faceforge.models.face_alignment import FaceAlignment, FaceAlignmentConfig, blur_by_resampling
from faceforge.nn.heatmaps import landmark_heatmaps
from faceforge.training.tasks.faces import SingleNetworkTask, dataset_card_name, face_split


@dataclass
class FaceAlignmentOptions:
    net: FaceAlignmentConfig = field(default_factory=FaceAlignmentConfig)  # options.net.stacks=1
    factors: tuple[int, ...] = (1, 2, 4, 8)  # blur factors drawn uniformly per face
    lr: float = 1e-3
    weight_decay: float = 0.0
    warmup: float = 0.05
    train_length: int = 24000
    eval_length: int = 500
    test_length: int | None = 1000

    def __post_init__(self) -> None:
        if not self.factors or min(self.factors) < 1:
            raise ValueError(f"factors must be integers >= 1, got {self.factors}")


def landmark_errors(pred: torch.Tensor, truth: torch.Tensor) -> dict[str, float]:
    """Mean point-to-point error in pixels and normalised by the inter-ocular (eye-centre) distance (NME, %)."""
    err = (pred - truth).norm(dim=-1).mean(-1)
    eyes = torch.from_numpy(np.stack([eye_centres(t) for t in truth.cpu().numpy()])).to(truth)
    interocular = (eyes[:, 0] - eyes[:, 1]).norm(dim=-1)
    return {"px": float(err.mean()), "nme": float(100 * (err / interocular).mean())}


class FaceAlignmentTask(SingleNetworkTask):
    Options = FaceAlignmentOptions

    def train_dataset(self):
        return face_split(self, "train", length=self.opts.train_length, hflip=True)

    def eval_dataset(self):
        return face_split(self, "val", length=self.opts.eval_length)

    def build_networks(self):
        o = self.opts
        config = o.net
        return {"net": FaceAlignment(config)}

    def step(self, batch):
        net, cfg = self.nets["net"], self.nets["net"].config
        images = batch["image"]
        choices = torch.tensor(self.opts.factors)
        factors = choices[torch.randint(len(choices), (images.shape[0],))]  # torch RNG: exact on resume
        stacks = net.heatmap_stacks(blur_by_resampling(images, factors.to(images.device)))
        target = landmark_heatmaps(batch["landmarks"], size=cfg.heatmap_size, image_size=images.shape[-1],
                                   sigma=cfg.heatmap_sigma)
        # MPENet Eq. (5), on every hourglass (intermediate supervision)
        loss = torch.stack([F.mse_loss(h.float(), target) for h in stacks]).mean()
        return loss, {}

    def _errors(self, batches, factor: int) -> dict[str, float]:
        net = self.nets["net"]
        preds, truths = [], []
        for batch in batches:
            images = batch["image"]
            blurred = blur_by_resampling(images, torch.full((images.shape[0],), factor, device=images.device))
            preds.append(net.landmarks(blurred).cpu())
            truths.append(batch["landmarks"].float().cpu())
        return landmark_errors(torch.cat(preds), torch.cat(truths))

    def evaluate(self, loader) -> dict[str, float]:
        batches = list(loader)
        return {f"px_x{f}": self._errors(batches, f)["px"] for f in (1, 8)}

    def test_metrics(self) -> dict[str, dict[str, float]]:
        """Landmark error on the test split at every blur factor of training."""
        test = face_split(self, "test", length=self.opts.test_length)
        batches = [{k: (v.to(self.device) if torch.is_tensor(v) else v) for k, v in b.items()}
                   for b in DataLoader(test, batch_size=100, num_workers=0)]
        return {f"x{f}": self._errors(batches, f) for f in self.opts.factors}

    def card(self, metrics: dict[str, float], test: dict) -> dict:
        data_id, data_text = dataset_card_name(self)
        rows = [{"name": f"mean landmark error, bicubic {name} blur (px of 128)", "type": "mean_error",
                 "value": round(r["px"], 3), "dataset_name": data_id, "dataset_type": data_id,
                 "dataset_split": "test"} for name, r in test.items()]
        lines = ["| blur | error (px of 128) | NME (% of the eye distance) |", "|---|---|---|"]
        lines += [f"| {name} | {r['px']:.2f} | {r['nme']:.2f} |" for name, r in test.items()]
        cfg = self.nets["net"].config
        return {
            "title": "faceforge face alignment (MPENet's alignment branch)",
            "summary": (f"68-landmark heatmap regression on {cfg.image_size}x{cfg.image_size} aligned faces "
                        f"({cfg.heatmap_size}x{cfg.heatmap_size} heatmaps): a 3x3 conv, three residual blocks and "
                        f"{cfg.stacks} hourglasses, trained on faces blurred by bicubic x{min(self.opts.factors)}-"
                        f"x{max(self.opts.factors)} resampling. It initialises MPENet's alignment branch."),
            "pipeline_tag": "keypoint-detection",
            "datasets": [data_id],
            "metrics": rows,
            "training": {"data": data_text},
            "sections": {"Results on the test split (identity-disjoint)": "\n".join(lines)},
            "usage": ("import faceforge, torch\n"
                      "model = faceforge.from_pretrained(\"path/to/this/folder\")  # or a Hub id\n"
                      "points = model.landmarks(torch.rand(2, 3, 128, 128))  # (2, 68, 2) pixels"),
        }

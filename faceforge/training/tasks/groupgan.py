"""GroupGAN's training (Niu et al., KBS 2022): the data of Sec. 4.1-4.2, the losses of Eq. (1)-(17) and Algorithm 1.

Two tasks, run in this order:

1. ``groupgan_basenet`` (:class:`BaseNetTask`): a BaseNet trained with the cross-entropy of Eq. (11). On the peak
   frames it is Algorithm 1's "pre-train E on peak expression sets" (E is the BaseNet without its last layer, C the
   whole of it); on the weak frames (``options.train_on=weak``) it is Table 1's CNN baseline.
2. ``groupgan`` (:class:`GroupGANTask`): loads the first task's export as C (and E) and plays one of the games:
   ``dcgan`` (G against D, Eq. (3)), ``1v2`` (G against D and D', Eq. (4)-(12)) or ``2v2`` (G and E against D and
   D', Eq. (13)-(17)). It first pre-trains the encoder-decoder to reconstruct faces (``pretrain_steps``
   iterations), then alternates Algorithm 1's updates of D, D', G and E, and exports :class:`GroupGAN`.

Readings of the paper's text, where its equations are garbled or silent:

* The discriminators (Eq. (4), (5), (7)-(10), (14)-(17)): D(x) = sigmoid(logit); Phi_D(X_real) + phi_D(X_fake) =
  -log D(X_real) - log(1 - D(G(X_weak))), and likewise for D' with the peak frame X_peak as its real sample. Eq. (17)
  writes D where D' is meant. D's real sample X_real is "n real facial images ... from the training set": per pair,
  the weak or the peak frame with equal chance, so that "real" carries no peak-ness for D to learn (D' judges that).
  D' is "conditioning on the input images": it sees the weak input beside the face it judges.
* G and E fool the discriminators. Eq. (6) and (13) add phi_D(X_fake) = -log(1 - D(X_fake)) to G's and E's losses,
  which would help D; Algorithm 1 minimises +log(1 - D(X_fake)) instead, the minimax game, and that is what
  :func:`fooling_loss` gives (``adversarial: non_saturating`` gives -log D(X_fake), the usual remedy for its
  vanishing gradient). Algorithm 1's "+ gamma_G P log Q" lost its minus: the term is the cross-entropy Phi_C of
  Eq. (11).
* The content loss (Eq. (1), (12)) ||X_peak - G(X_weak)||^2 is taken per pixel (the mean squared difference), so that
  the adversarial weight 2e-3 of Sec. 4.2 weighs against a term of the pixel scale, as in SRGAN.
* Sec. 4.2 sets "hyper-parameters for adversarial learning" to 2e-3: alpha_G, beta_G, alpha_E and beta_E here; the
  paper gives no gamma_G, and 2e-3 is used for it too. SGD with momentum 0.9 and weight decay 0.005 trains every
  network; G's learning rate 1e-4 drops to 1e-5 "when the training loss does not decrease": here at a fixed number
  of G updates (``lr_drop``), so that a run repeats and resumes exactly.
* C's last layer stays as pre-trained ("C ... does not participate in the competing process"): the 2V2 E update
  trains the BaseNet's other layers.

Data: every sequence gives three pairs, each weak frame (6, 7 or 8) with the sequence's last (peak) frame, resized
to ``load_size`` (144), then a random ``image_size`` (128) crop and a horizontal flip, the same for both frames of a
pair (test: the centre crop). FaceForge-Synth's sequences (:class:`~faceforge.data.synth.SynthSequences`) are dealt
into 5 identity-disjoint folds as CK+ and Oulu-CASIA's subjects are; the run's ``fold`` (default 1) is the test fold,
the other four train. A prepared ``ckplus`` or ``oulu`` set gives its own pairs and folds.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset, Subset

from faceforge.config import ConfigError
from faceforge.data.datasets.base import round_robin_folds
from faceforge.metrics.classification import confusion_matrix, expression_metrics
from faceforge.modeling import FaceForgeModel
from faceforge.models.groupgan import (
    BaseNet,
    BaseNetConfig,
    GroupGAN,
    GroupGANDiscriminator,
    GroupGANDiscriminatorConfig,
    GroupGANGenerator,
    GroupGANGeneratorConfig,
    Variant,
    gaussian_init_,
)
from faceforge.training.task import Step, Task
from faceforge.training.tasks.faces import dataset_card_name

N_FOLDS = 5
Adversarial = Literal["minimax", "non_saturating"]


# --- the losses -------------------------------------------------------------------------------------------------------
def discriminator_loss(real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """Eq. (4) / (5) with (7)-(10): mean -log D(x_real) + mean -log(1 - D(x_fake)), from (B,) logits."""
    return F.softplus(-real.float()).mean() + F.softplus(fake.float()).mean()


def fooling_loss(fake: torch.Tensor, form: Adversarial = "minimax") -> torch.Tensor:
    """G's and E's adversarial term from D's (B,) logits on G's faces: Algorithm 1's mean log(1 - D(x_fake))
    (``minimax``), or mean -log D(x_fake) (``non_saturating``)."""
    if form == "minimax":
        return -F.softplus(fake.float()).mean()
    return F.softplus(-fake.float()).mean()


def content_loss(peak: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """Eq. (1) / (12): ||X_peak - G(X_weak)||^2, per pixel (mean over every value)."""
    return F.mse_loss(fake.float(), peak.float())


def classification_loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Eq. (11): Phi_C = -sum P log Q, the cross-entropy of C's (B, c) logits with the labels, averaged."""
    return F.cross_entropy(logits.float(), target)


# --- the data ---------------------------------------------------------------------------------------------------------
def weak_and_peak(sequence: dict[str, Any]) -> tuple[torch.Tensor, torch.Tensor]:
    """The weak frames (3, 3, H, W) (6-8, counted from 1) and the peak frame (3, H, W) (the last) of a sequence
    sample (``images`` (T, 3, H, W), ``weak_frames``, ``peak_frame``)."""
    images = sequence["images"]
    return images[torch.as_tensor(sequence["weak_frames"])], images[int(sequence["peak_frame"])]


class SynthSequencePairs(Dataset):
    """(weak frame, peak frame) pairs of FaceForge-Synth sequences on one side of an identity-disjoint fold.

    Args:
        sequences: a :class:`~faceforge.data.synth.SynthSequences`.
        fold: the test fold, 1..``n_folds``; identities are dealt into folds by
            :func:`~faceforge.data.datasets.base.round_robin_folds`.
        side: ``"test"`` (the sequences of the fold's identities) or ``"train"`` (all others).
        n_folds: the number of folds (5, the paper's protocol).

    Samples: ``image`` (the weak frame), ``target_image`` (its peak frame), both (3, H, W) in [0, 1],
    ``expression``, ``identity`` and ``frame`` (the weak frame's number from 1). A sequence is rendered once, on
    first use, and its four frames kept (8-bit); ``sequences`` may also be an
    :class:`~faceforge.data.cache.ArraySequenceFrames`, the same frames rendered once into the cache.
    """

    def __init__(self, sequences: Dataset, *, fold: int, side: Literal["train", "test"], n_folds: int = N_FOLDS):
        if not 1 <= fold <= n_folds:
            raise ValueError(f"fold must be in 1..{n_folds}, got {fold}")
        identities = sequences.identities
        owner = [identities[i % len(identities)] for i in range(len(sequences))]
        folds = round_robin_folds(owner, n_folds)
        self.sequences = sequences
        self.folds = folds
        self.indices = [i for i, identity in enumerate(owner) if (folds[identity] == fold) == (side == "test")]
        if not self.indices:
            raise ValueError(f"fold {fold} leaves no {side} sequences among {len(sequences)}")
        self.weak_frames = tuple(int(t) for t in sequences.WEAK_FRAMES)
        self._frames: dict[int, tuple[torch.Tensor, torch.Tensor, int, int]] = {}

    def __len__(self) -> int:
        return len(self.indices) * len(self.weak_frames)

    def _sequence(self, index: int) -> tuple[torch.Tensor, torch.Tensor, int, int]:
        if index not in self._frames:
            sample = self.sequences[index]
            if "images" in sample:
                weak, peak = (frames.mul(255).round().to(torch.uint8) for frames in weak_and_peak(sample))
            else:  # already cut to its key frames (ArraySequenceFrames), uint8
                weak, peak = sample["weak"], sample["peak"]
            self._frames[index] = (weak, peak, int(sample["expression"]), int(sample["identity"]))
        return self._frames[index]

    def __getitem__(self, index: int) -> dict[str, Any]:
        sequence, k = divmod(index, len(self.weak_frames))
        weak, peak, expression, identity = self._sequence(self.indices[sequence])
        return {"image": weak[k].float() / 255, "target_image": peak.float() / 255, "expression": expression,
                "identity": identity, "frame": self.weak_frames[k] + 1}


class MagnificationPairs(Dataset):
    """Sec. 4.2's inputs: a pair's weak and peak frames resized to ``load_size``, then the same random ``size`` crop
    and horizontal flip of both (``train``), or their centre crop.

    Samples: ``weak`` and ``peak`` (3, size, size) in [0, 1], ``expression``.
    """

    def __init__(self, pairs: Dataset, *, size: int, load_size: int, train: bool):
        if size > load_size:
            raise ValueError(f"the crop ({size}) cannot exceed the resized face ({load_size})")
        self.pairs, self.size, self.load_size, self.train = pairs, size, load_size, train

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, index: int) -> dict[str, Any]:
        sample = self.pairs[index]
        both = torch.stack([sample["image"], sample["target_image"]]).float()
        if both.shape[-1] != self.load_size or both.shape[-2] != self.load_size:
            both = F.interpolate(both, size=(self.load_size, self.load_size), mode="bilinear", antialias=True,
                                 align_corners=False).clamp(0, 1)
        margin = self.load_size - self.size
        if self.train:
            top, left = (int(v) for v in torch.randint(0, margin + 1, (2,)))
            if torch.rand(()) < 0.5:
                both = both.flip(-1)
        else:
            top = left = margin // 2
        both = both[..., top:top + self.size, left:left + self.size]
        return {"weak": both[0], "peak": both[1], "expression": int(sample["expression"])}


@dataclass
class SequenceData:
    """Where the (weak, peak) pairs come from and how they are cut.

    Attributes:
        sequences: FaceForge-Synth sequences rendered (one identity each, dealt into the 5 folds); unused for a
            prepared ``ckplus`` / ``oulu`` set.
        frames: frames per synthetic sequence (neutral to peak; 6-8 are the weak ones).
        load_size: side the faces are resized to before cropping (the paper's 144).
    """

    sequences: int = 1000
    frames: int = 16
    load_size: int = 144

    def __post_init__(self) -> None:
        if self.sequences < N_FOLDS:
            raise ValueError(f"data.sequences must be >= {N_FOLDS} (one per fold at least), got {self.sequences}")
        if self.frames < 9:
            raise ValueError(f"data.frames must be >= 9 (weak frames 6-8 before the peak), got {self.frames}")
        if not 8 <= self.load_size <= 1024:
            raise ValueError(f"data.load_size must be in [8, 1024], got {self.load_size}")


def sequence_pairs(task: Task, data: SequenceData, side: Literal["train", "test"], *, size: int,
                   train: bool) -> MagnificationPairs:
    """The run's pairs on one side of its fold (``run.fold``, default 1), cut as Sec. 4.2 does."""
    fold = int(task.run.fold or 1)
    if task.run.dataset == "synth":
        from faceforge.data.cache import cached_synth_sequence_frames

        sequences = cached_synth_sequence_frames("train", size=data.load_size, length=data.sequences,
                                                 frames=data.frames, version=task.run.synth_version)
        pairs: Dataset = SynthSequencePairs(sequences, fold=fold, side=side)
    else:
        pairs = task.dataset(side, pairs=True, phases=("weak", "peak"), size=data.load_size)
    return MagnificationPairs(pairs, size=size, load_size=data.load_size, train=train)


def _device_batches(task: Task, dataset: Dataset):
    loader = DataLoader(dataset, batch_size=task.run.eval_batch_size or task.run.batch_size, num_workers=0)
    return ({k: (v.to(task.device) if torch.is_tensor(v) else v) for k, v in b.items()} for b in loader)


def majority_accuracy(dataset: MagnificationPairs) -> float:
    """The share of the most frequent expression: what always answering it scores."""
    counts = Counter(int(dataset.pairs[i]["expression"]) for i in range(len(dataset)))
    return max(counts.values()) / len(dataset)


Optimizer = Literal["sgd", "adam"]


def _optimizer(kind: Optimizer, params, lr: float, momentum: float, weight_decay: float) -> torch.optim.Optimizer:
    """Sec. 4.2's SGD (momentum, weight decay), or Adam (betas (momentum, 0.999), the same L2 weight decay)."""
    if kind == "adam":
        return torch.optim.Adam(params, lr=lr, betas=(momentum, 0.999), weight_decay=weight_decay)
    return torch.optim.SGD(params, lr=lr, momentum=momentum, weight_decay=weight_decay)


def _accuracy_table(test: dict[str, float], rows: dict[str, str]) -> str:
    lines = ["| faces classified | accuracy, % |", "|---|---|"]
    lines += [f"| {label} | {100 * test[key]:.2f} |" for key, label in rows.items() if key in test]
    return "\n".join(lines)


def load_basenet(name: str, option: str) -> BaseNet:
    """The ``groupgan_basenet`` export ``name`` (folder, shipped name or Hub id); ConfigError naming ``option`` if it
    cannot be loaded or holds another model."""
    import faceforge
    from faceforge.errors import ModelLoadError

    try:
        model = faceforge.from_pretrained(name)
    except ModelLoadError as err:
        raise ConfigError(f"{option}={name!r} cannot be loaded: {err}") from err
    if not isinstance(model, BaseNet):
        raise ConfigError(f"{option}={name!r} holds a {type(model).__name__}, not a BaseNet (train one with --task "
                          f"groupgan_basenet)")
    return model


# --- 1. the BaseNet: E's pre-training, or the CNN baseline ------------------------------------------------------------
@dataclass
class BaseNetOptions:
    """Options of the ``groupgan_basenet`` task."""

    net: BaseNetConfig = field(default_factory=BaseNetConfig)
    data: SequenceData = field(default_factory=SequenceData)
    # peak: pre-training E and C (Algorithm 1); weak: Table 1's CNN baseline
    train_on: Literal["peak", "weak"] = "peak"
    # a groupgan_basenet export (folder, shipped name or Hub id) to start from instead of a fresh network (the CNN
    # baseline fine-tuned from the peak BaseNet, as the games start from it); "": a fresh network
    init: str = ""
    # Sec. 4.2: SGD, momentum 0.9, weight decay 0.005, N(0, 0.01) weights and biases 1 (the paper gives no
    # learning rate for E). At CPU scale (batch 4, a few thousand iterations) SGD at 1e-2 stays at chance and at 1e-3
    # crawls; Adam at 3e-4 (momentum 0.9 as its beta1) learns the peak expressions: ``optimizer: adam``. With Adam,
    # the paper's N(0, 0.01) initialisation learns at half the pace of PyTorch's own (``init_std: 0`` keeps it).
    optimizer: Optimizer = "sgd"
    lr: float = 1e-2
    momentum: float = 0.9
    weight_decay: float = 5e-3
    init_std: float = 0.01
    init_bias: float = 1.0

    def __post_init__(self) -> None:
        if self.lr <= 0 or not 0 <= self.momentum < 1 or self.weight_decay < 0 or self.init_std < 0:
            raise ValueError("lr must be > 0, init_std >= 0, momentum in [0, 1) and weight_decay >= 0")


class _SequencePairsTask(Task):
    """A task on the (weak, peak) frame pairs of ``options.data`` at its network's side
    (``options.net.image_size``): the training side's pairs to train on, the test side's to evaluate."""

    def _pairs(self, side: Literal["train", "test"], *, train: bool) -> MagnificationPairs:
        return sequence_pairs(self, self.opts.data, side, size=self.opts.net.image_size, train=train)

    def train_dataset(self) -> Dataset:
        self.train_set = self._pairs("train", train=True)
        return self.train_set

    def eval_dataset(self) -> Dataset:
        self.test_set = self._pairs("test", train=False)
        return self.test_set


class BaseNetTask(_SequencePairsTask):
    """A BaseNet trained with Eq. (11) on the peak (or weak) frames; exports the :class:`BaseNet`."""

    Options = BaseNetOptions
    opts: BaseNetOptions

    def build_networks(self) -> dict[str, torch.nn.Module]:
        o = self.opts
        if o.init:
            start = load_basenet(o.init, "options.init")
            if start.config != o.net:
                raise ConfigError(f"options.init={o.init!r} is a {start.config.arch} of another config than "
                                  f"options.net; set options.net to its config")
            return {"c": start}
        net = BaseNet(o.net)
        return {"c": gaussian_init_(net, std=o.init_std, bias=o.init_bias) if o.init_std else net}

    def build_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        o = self.opts
        return {"c": _optimizer(o.optimizer, self.nets["c"].parameters(), o.lr, o.momentum, o.weight_decay)}

    def steps(self) -> list[Step]:
        return [Step("c", self.c_step)]

    def c_step(self, batch: dict[str, Any]):
        logits = self.nets["c"](batch[self.opts.train_on])
        target = torch.as_tensor(batch["expression"], device=logits.device)
        return classification_loss(logits, target), {"accuracy": (logits.argmax(1) == target).float().mean()}

    def _accuracies(self, batches) -> dict[str, float]:
        correct, total = Counter(), 0
        for batch in batches:
            target = torch.as_tensor(batch["expression"], device=self.device)
            for frames in ("weak", "peak"):
                correct[frames] += int((self.nets["c"](batch[frames]).argmax(1) == target).sum())
            total += len(target)
        return {f"accuracy_{frames}": correct[frames] / max(total, 1) for frames in ("weak", "peak")}

    def evaluate(self, loader) -> dict[str, float]:
        """``accuracy_weak`` and ``accuracy_peak``: C on the test fold's weak and peak frames."""
        return self._accuracies(loader)

    def test_metrics(self) -> dict[str, float]:
        """:meth:`evaluate`'s figures on the test fold and ``majority`` (always the most frequent expression)."""
        test = self.test_set if hasattr(self, "test_set") else self._pairs("test", train=False)
        return {**self._accuracies(_device_batches(self, test)), "majority": majority_accuracy(test)}

    def sample(self, batch: dict[str, Any]) -> torch.Tensor:
        """Each row: the weak frame | the peak frame."""
        return torch.cat([batch["weak"], batch["peak"]], dim=-1)

    def export(self) -> BaseNet:
        return self.nets["c"]

    def card(self, metrics: dict[str, float], test: dict) -> dict:
        o, cfg = self.opts, self.opts.net
        data_id, data_text = dataset_card_name(self)
        fold = self.run.fold or "1"
        role = ("the classifier C and extractor E that GroupGAN's games start from (Algorithm 1: pre-trained on the "
                "peak frames)" if o.train_on == "peak" else "Table 1's CNN baseline (trained on the weak frames)")
        rows = [{"name": f"accuracy ({frames} frames, fold {fold})", "type": "accuracy",
                 "value": round(test[f"accuracy_{frames}"], 4), "dataset_name": data_id, "dataset_type": data_id,
                 "dataset_split": "test"} for frames in ("weak", "peak")]
        return {
            "title": f"faceforge GroupGAN BaseNet ({cfg.arch}, {o.train_on} frames)",
            "summary": (f"A {cfg.arch} BaseNet (width x{cfg.width:g}, fully connected {cfg.fc[0]}/{cfg.fc[1]}) "
                        f"for weak expression recognition: {role} (Niu et al., Knowledge-Based Systems 2022)."),
            "pipeline_tag": "image-classification",
            "datasets": [data_id],
            "metrics": rows,
            "training": {
                "data": (f"{data_text}; the {o.train_on} frames of the training folds (every fold but {fold}), "
                         f"resized to {o.data.load_size}, random {cfg.image_size} crops and horizontal flips"),
                "objective": "Eq. (11): cross-entropy",
                "optimiser": (f"{o.optimizer.upper() if o.optimizer == 'sgd' else 'Adam'} lr {o.lr:g}, "
                              f"{'momentum' if o.optimizer == 'sgd' else 'beta1'} {o.momentum:g}, "
                              f"weight decay {o.weight_decay:g}; "
                              + (f"N(0, {o.init_std:g}) weights, biases {o.init_bias:g}" if o.init_std else
                                 "PyTorch's default initialisation")),
            },
            "tags": ["facial-expression-recognition", "weak-expressions"],
            "sections": {f"Accuracy on test fold {fold}": (
                "Centre crops of the test fold's weak frames (6-8) and peak frames (the last); majority: always "
                "answering the most frequent expression.\n\n"
                + _accuracy_table(test, {"accuracy_weak": "weak frames", "accuracy_peak": "peak frames",
                                         "majority": "majority class"}))},
            "usage": ("import faceforge, torch\n"
                      "model = faceforge.from_pretrained(\"path/to/this/folder\")  # or a Hub id\n"
                      f"logits = model(torch.rand(4, 3, {cfg.image_size}, {cfg.image_size}))  # faces in [0, 1]\n"
                      f"f_exp = model.features(torch.rand(4, 3, {cfg.image_size}, {cfg.image_size}))  "
                      f"# (4, {cfg.feature_size})"),
        }


# --- 2. the games -----------------------------------------------------------------------------------------------------
@dataclass
class GroupGANOptions:
    """Options of the ``groupgan`` task (Sec. 4.2's values)."""

    variant: Variant = "2v2"
    # the groupgan_basenet export (folder, shipped name or Hub id): C, and E without its last layer
    classifier: str = "runs/groupgan_basenet/model"
    # G; cond_dim must be the classifier's fc[-1] for 2v2 and 0 for dcgan / 1v2
    net: GroupGANGeneratorConfig = field(default_factory=GroupGANGeneratorConfig)
    data: SequenceData = field(default_factory=SequenceData)
    d_channels: tuple[int, ...] = (32, 64, 128, 256, 256)
    d_hidden: int = 256
    # Algorithm 1: pre-train the encoder-decoder (reconstruction), then the games
    pretrain_steps: int = 2000
    # Eq. (6) and (13)'s weights
    alpha_g: float = 2e-3
    beta_g: float = 2e-3
    gamma_g: float = 2e-3
    alpha_e: float = 2e-3
    beta_e: float = 2e-3
    adversarial: Adversarial = "minimax"
    # SGD with momentum 0.9, weight decay 0.005 (or Adam, ``optimizer: adam``, momentum as beta1); G's lr times
    # lr_gamma after lr_drop G updates (0: never)
    optimizer: Optimizer = "sgd"
    lr_g: float = 1e-4
    lr_d: float = 1e-4
    lr_e: float = 1e-4
    lr_drop: int = 0
    lr_gamma: float = 0.1
    momentum: float = 0.9
    weight_decay: float = 5e-3
    init_std: float = 0.01
    init_bias: float = 1.0

    def __post_init__(self) -> None:
        if min(self.alpha_g, self.beta_g, self.gamma_g, self.alpha_e, self.beta_e) < 0:
            raise ValueError("loss weights must be >= 0")
        if min(self.lr_g, self.lr_d, self.lr_e) <= 0 or self.init_std < 0 or not 0 < self.lr_gamma <= 1:
            raise ValueError("learning rates must be > 0, init_std >= 0 and lr_gamma in (0, 1]")
        if self.pretrain_steps < 0 or self.lr_drop < 0 or self.d_hidden < 1:
            raise ValueError("pretrain_steps and lr_drop must be >= 0 and d_hidden >= 1")
        if not 0 <= self.momentum < 1 or self.weight_decay < 0:
            raise ValueError("momentum must be in [0, 1) and weight_decay >= 0")


class GroupGANTask(_SequencePairsTask):
    """Algorithm 1: G (and E, 2V2) against D (and D') after pre-training; exports :class:`GroupGAN`."""

    Options = GroupGANOptions
    opts: GroupGANOptions

    # --- networks ------------------------------------------------------------------------------------------------
    def classifier(self) -> BaseNet:
        """The ``groupgan_basenet`` export named by ``options.classifier``."""
        return load_basenet(self.opts.classifier, "options.classifier")

    def build_networks(self) -> dict[str, torch.nn.Module]:
        o = self.opts
        c = self.classifier()
        cond = c.config.feature_size if o.variant == "2v2" else 0
        if o.net.cond_dim != cond:
            raise ConfigError(f"variant {o.variant} with this classifier needs options.net.cond_dim={cond}, got "
                              f"{o.net.cond_dim}")
        if c.config.image_size != o.net.image_size:
            raise ConfigError(f"options.net.image_size ({o.net.image_size}) must be the classifier's "
                              f"({c.config.image_size})")
        nets: dict[str, torch.nn.Module] = {"g": GroupGANGenerator(o.net), "c": c}
        critics = {"d": False} if o.variant == "dcgan" else {"d": False, "d_prime": True}
        for name, condition_image in critics.items():
            nets[name] = GroupGANDiscriminator(GroupGANDiscriminatorConfig(
                image_size=o.net.image_size, channels=o.d_channels, hidden=o.d_hidden,
                condition_image=condition_image, cond_dim=cond))
        for name in ("g", *critics):
            if o.init_std:  # 0: PyTorch's default initialisation
                gaussian_init_(nets[name], std=o.init_std, bias=o.init_bias)
        return nets

    def build_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        o = self.opts
        optimizers = {name: _optimizer(o.optimizer, self.nets[name].parameters(), o.lr_g if name == "g" else o.lr_d,
                                       o.momentum, o.weight_decay)
                      for name in ("g", "d", "d_prime") if name in self.nets}
        if o.variant == "2v2":
            optimizers["e"] = _optimizer(o.optimizer, self.nets["c"].extractor_parameters(), o.lr_e, o.momentum,
                                         o.weight_decay)
        return optimizers

    def build_schedulers(self) -> dict[str, torch.optim.lr_scheduler.LRScheduler]:
        if not self.opts.lr_drop:
            return {}
        return {"g": torch.optim.lr_scheduler.MultiStepLR(self.optimizers["g"], [self.opts.lr_drop],
                                                          gamma=self.opts.lr_gamma)}

    def steps(self) -> list[Step]:
        # Algorithm 1's order: D, D', G, E; the adversarial updates start after the encoder-decoder's pre-training
        start = self.opts.pretrain_steps
        steps = [Step("d", self.d_step, start=start)]
        if "d_prime" in self.nets:
            steps.append(Step("d_prime", self.d_prime_step, start=start))
        steps.append(Step("g", self.g_step))
        if self.opts.variant == "2v2":
            steps.append(Step("e", self.e_step, start=start))
        return steps

    # --- the games -----------------------------------------------------------------------------------------------
    def f_exp(self, faces: torch.Tensor) -> torch.Tensor | None:
        """E(faces), F_exp (B, fc[-1]), in 2V2; None in the other games."""
        return self.nets["c"].features(faces) if self.opts.variant == "2v2" else None

    def magnify(self, weak: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(G(X_weak, F_exp), F_exp): the magnified faces and the condition they were made with."""
        f_exp = self.f_exp(weak)
        return self.nets["g"](weak, f_exp), f_exp

    def critics(self, faces: torch.Tensor, weak: torch.Tensor,
                f_exp: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(D's, D''s) (B,) logits on ``faces``: D(x[, F_exp]) and D'(x, X_weak[, F_exp]) (None without D')."""
        d = self.nets["d"](faces, f_exp)
        d_prime = self.nets["d_prime"](faces, f_exp, weak) if "d_prime" in self.nets else None
        return d, d_prime

    def terms(self, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        """The energies G and E minimise on a batch: ``content`` (Eq. (12)), ``adv_d`` and ``adv_d_prime`` (the
        fooling terms of D and D') and ``cls`` (Eq. (11) on the magnified faces)."""
        weak, peak = batch["weak"], batch["peak"]
        fake, f_exp = self.magnify(weak)
        d, d_prime = self.critics(fake, weak, f_exp)
        target = torch.as_tensor(batch["expression"], device=fake.device)
        terms = {"content": content_loss(peak, fake), "adv_d": fooling_loss(d, self.opts.adversarial),
                 "cls": classification_loss(self.nets["c"](fake), target)}
        if d_prime is not None:
            terms["adv_d_prime"] = fooling_loss(d_prime, self.opts.adversarial)
        return terms

    def d_step(self, batch: dict[str, Any]):
        weak, peak = batch["weak"], batch["peak"]
        with torch.no_grad():
            fake, f_exp = self.magnify(weak)
        # X_real: the weak or the peak frame of each pair, with equal chance
        real = torch.where((torch.rand(weak.shape[0], device=weak.device) < 0.5)[:, None, None, None], weak, peak)
        real_logits, fake_logits = self.nets["d"](real, f_exp), self.nets["d"](fake, f_exp)
        return discriminator_loss(real_logits, fake_logits), {"real": torch.sigmoid(real_logits).mean(),
                                                              "fake": torch.sigmoid(fake_logits).mean()}

    def d_prime_step(self, batch: dict[str, Any]):
        weak, peak = batch["weak"], batch["peak"]
        with torch.no_grad():
            fake, f_exp = self.magnify(weak)
        peak_logits, fake_logits = self.nets["d_prime"](peak, f_exp, weak), self.nets["d_prime"](fake, f_exp, weak)
        return discriminator_loss(peak_logits, fake_logits), {"peak": torch.sigmoid(peak_logits).mean(),
                                                              "fake": torch.sigmoid(fake_logits).mean()}

    def generator_loss(self, terms: dict[str, torch.Tensor]) -> torch.Tensor:
        """Eq. (6): content + alpha_G adv_D + beta_G adv_D' + gamma_G Phi_C; DCGAN's Eq. (3): content + alpha_G
        adv_D."""
        o = self.opts
        if o.variant == "dcgan":
            return terms["content"] + o.alpha_g * terms["adv_d"]
        return (terms["content"] + o.alpha_g * terms["adv_d"] + o.beta_g * terms["adv_d_prime"]
                + o.gamma_g * terms["cls"])

    def extractor_loss(self, terms: dict[str, torch.Tensor]) -> torch.Tensor:
        """Eq. (13): Phi_C + alpha_E adv_D + beta_E adv_D'."""
        o = self.opts
        return terms["cls"] + o.alpha_e * terms["adv_d"] + o.beta_e * terms["adv_d_prime"]

    def reconstruction_loss(self, batch: dict[str, Any]) -> torch.Tensor:
        """The encoder-decoder's pre-training: the mean squared error of G's reconstruction of every face."""
        faces = torch.cat([batch["weak"], batch["peak"]])
        return content_loss(faces, self.nets["g"](faces, self.f_exp(faces)))

    def g_step(self, batch: dict[str, Any]):
        if self.iteration < self.opts.pretrain_steps:
            loss = self.reconstruction_loss(batch)
            return loss, {"reconstruction": loss}
        terms = self.terms(batch)
        return self.generator_loss(terms), terms

    def e_step(self, batch: dict[str, Any]):
        terms = self.terms(batch)
        return self.extractor_loss(terms), terms

    # --- evaluation ----------------------------------------------------------------------------------------------
    def _accuracies(self, batches) -> dict[str, float]:
        correct, total, mse = Counter(), 0, 0.0
        c = self.nets["c"]
        for batch in batches:
            target = torch.as_tensor(batch["expression"], device=self.device)
            fake, _ = self.magnify(batch["weak"])
            for key, faces in (("accuracy", fake), ("accuracy_input", batch["weak"]), ("accuracy_peak", batch["peak"])):
                correct[key] += int((c(faces).argmax(1) == target).sum())
            mse += float(F.mse_loss(fake.float(), batch["peak"].float(), reduction="sum")) / fake[0].numel()
            total += len(target)
        total = max(total, 1)
        return {**{key: correct[key] / total for key in ("accuracy", "accuracy_input", "accuracy_peak")},
                "mse_peak": mse / total}

    def evaluate(self, loader) -> dict[str, float]:
        """On the test fold: ``accuracy`` (C on the magnified weak frames), ``accuracy_input`` (C on the weak
        frames themselves), ``accuracy_peak`` (C on the peak frames) and ``mse_peak`` (the magnified faces' mean
        squared error to the peak frames)."""
        return self._accuracies(loader)

    def test_metrics(self) -> dict[str, float]:
        """:meth:`evaluate`'s figures on the test fold and ``majority`` (always the most frequent expression)."""
        test = self.test_set if hasattr(self, "test_set") else self._pairs("test", train=False)
        return {**self._accuracies(_device_batches(self, test)), "majority": majority_accuracy(test)}

    def sample(self, batch: dict[str, Any]) -> torch.Tensor:
        """Each row: the weak frame | G's magnification | the peak frame."""
        return torch.cat([batch["weak"], self.magnify(batch["weak"])[0].float(), batch["peak"]], dim=-1)

    def export(self) -> GroupGAN:
        return GroupGAN.from_parts(self.opts.variant, self.nets["g"], self.nets["c"],
                                   context=self.opts.data.load_size / self.opts.net.image_size)

    def card(self, metrics: dict[str, float], test: dict) -> dict:
        o, cfg = self.opts, self.opts.net
        c = self.nets["c"].config
        data_id, data_text = dataset_card_name(self)
        fold = self.run.fold or "1"
        name = {"dcgan": "DCGAN", "1v2": "GroupGAN (1V2)", "2v2": "GroupGAN (2V2)"}[o.variant]
        game = {"dcgan": "G against D (Eq. (3))",
                "1v2": "G against D and D' (Eq. (4)-(12))",
                "2v2": "G and E against D and D' (Eq. (4)-(17)); G conditioned on E's F_exp"}[o.variant]
        rows = [{"name": f"accuracy (weak frames, magnified, fold {fold})", "type": "accuracy",
                 "value": round(test["accuracy"], 4), "dataset_name": data_id, "dataset_type": data_id,
                 "dataset_split": "test"}]
        training = {
            "data": (f"{data_text}; (weak frame 6-8, peak frame) pairs of the training folds (every fold but {fold}), "
                     f"resized to {o.data.load_size}, the same random {cfg.image_size} crop and flip for both"),
            "classifier": f"{o.classifier} ({c.arch}, width x{c.width:g}, fully connected {c.fc[0]}/{c.fc[1]})",
            "game": (f"{game}; {o.pretrain_steps} iterations of encoder-decoder pre-training first; weights "
                     f"alpha_G {o.alpha_g:g}, beta_G {o.beta_g:g}, gamma_G {o.gamma_g:g}, alpha_E {o.alpha_e:g}, "
                     f"beta_E {o.beta_e:g}; {o.adversarial} adversarial terms"),
            "optimiser": (f"{'SGD momentum' if o.optimizer == 'sgd' else 'Adam beta1'} {o.momentum:g}, weight decay "
                          f"{o.weight_decay:g}; lr G {o.lr_g:g}"
                          + (f" (x{o.lr_gamma:g} after {o.lr_drop} updates)" if o.lr_drop else "")
                          + f", D/D' {o.lr_d:g}, E {o.lr_e:g}; "
                          + (f"N(0, {o.init_std:g}) weights, biases {o.init_bias:g}" if o.init_std else
                             "PyTorch's default initialisation")),
        }
        return {
            "title": f"faceforge {name} ({c.arch})",
            "summary": (f"Weak expression recognition by expression magnification: {name} magnifies a weak "
                        f"{cfg.image_size}x{cfg.image_size} face towards its peak and the {c.arch} BaseNet classifies "
                        f"it (Niu et al., Knowledge-Based Systems 2022)."),
            "pipeline_tag": "image-classification",
            "datasets": [data_id],
            "metrics": rows,
            "training": training,
            "tags": ["facial-expression-recognition", "weak-expressions", "expression-magnification", "gan"],
            "sections": {f"Accuracy on test fold {fold}": (
                "Centre crops of the test fold's weak frames (6-8): classified after magnification (this model), as "
                "they are, and the peak frames; majority: always answering the most frequent expression.\n\n"
                + _accuracy_table(test, {"accuracy": f"magnified weak frames ({name})",
                                         "accuracy_input": "weak frames, not magnified",
                                         "accuracy_peak": "peak frames", "majority": "majority class"}))},
            "usage": ("import faceforge, torch\n"
                      "model = faceforge.from_pretrained(\"path/to/this/folder\")  # or a Hub id\n"
                      f"weak = torch.rand(4, 3, {cfg.image_size}, {cfg.image_size})  # faces in [0, 1]\n"
                      "logits = model(weak)  # the magnified faces' expression logits\n"
                      "magnified = model.magnify(weak)"),
        }


# --- faceforge eval -------------------------------------------------------------------------------------------------
@torch.no_grad()
def evaluate_weak_recognition(model: FaceForgeModel, dataset: Dataset, *, batch_size: int = 32, num_workers: int = 0,
                              device: str = "cpu") -> dict:
    """Accuracy on weak expressions (``faceforge eval``): a :class:`GroupGAN` classifies its magnification of each
    face, a :class:`BaseNet` (the CNN baseline) the face itself. Of a sequence dataset (samples with ``phase``,
    CK+ / Oulu-CASIA prepared at a fold's test split) only the weak frames count; faces are framed as in training
    (resized to the model's ``context`` times its side, 1.125 for a BaseNet, and centre-cropped).

    Returns:
        ``{"table": per-class, mean and overall accuracy, "details": {"samples", "confusion"}}``.
    """
    if not isinstance(model, GroupGAN | BaseNet):
        raise TypeError(f"evaluate_weak_recognition takes a GroupGAN or a BaseNet, got {type(model).__name__}")
    records = getattr(dataset, "records", None)
    if records is not None and records and "phase" in records[0]:
        dataset = Subset(dataset, [i for i, r in enumerate(records) if r["phase"] == "weak"])
    from faceforge.magnification import framed

    config = model.config.classifier if isinstance(model, GroupGAN) else model.config
    # framed as in training: resized to context x the side (Sec. 4.2's 144 for 128), then the centre crop
    context = model.config.context if isinstance(model, GroupGAN) else 144 / 128
    model = model.to(device).eval()
    logits, targets = [], []
    for batch in DataLoader(dataset, batch_size=batch_size, num_workers=num_workers):
        faces, _, _ = framed(batch["image"].to(device).float(), config.image_size, context)
        logits.append(model(faces).float().cpu())
        targets.append(torch.as_tensor(batch["expression"]))
    scores, target = torch.cat(logits), torch.cat(targets)
    return {
        "table": expression_metrics(scores, target, class_names=config.classes),
        "details": {"samples": len(target),
                    "confusion": confusion_matrix(scores, target, class_names=config.classes, normalize=True)},
    }

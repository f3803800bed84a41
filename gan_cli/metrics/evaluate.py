"""Evaluating a generator: sample it, extract features, score against the data set.

What is measured depends on the data (`dataset.metrics`):
- `digits`: digits-classifier FID, KID, IS, precision/recall/density/coverage, class coverage;
- `inception`: the same with the FID Inception-v3 (needs its weights file), minus classes;
- `stacked`: stacked-digits modes out of 1,000 and the mode KL;
- `modes`: 2-D mixture modes covered, high-quality share and reverse KL.

Each kind scores the number of samples its published protocol uses unless told otherwise
(PROTOCOLS). Generated images are quantised to uint8, as saved PNGs are, before anything looks
at them, and G runs in fp32 and eval mode, in training-time evaluation as in `gan eval`, so
`best.pt` is chosen on the number that is reported. Every result carries its protocol: sample
count, seed, reference set, extractor and the sha256 of its weights, the k of each k-NN metric,
and where it ran (gan-cli and torch versions, device). Reference features are computed once per
protocol and cached on disk.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from gan_cli.data.source import to_uint8, to_unit_range
from gan_cli.generation import generate as call_G
from gan_cli.generation import latents, truncation_options
from gan_cli.metrics import digits_net
from gan_cli.metrics.classes import confident_share, digit_classes, stacked_modes
from gan_cli.metrics.extractors import Extractor, make_extractor
from gan_cli.metrics.frechet import fid, kid
from gan_cli.metrics.mixture import mode_stats
from gan_cli.metrics.protocol import (
    IS_SPLITS,
    K_DENSITY_COVERAGE,
    K_PRECISION_RECALL,
    KID_SUBSET_SIZE,
    KID_SUBSETS,
    LOWER_IS_BETTER,
    PROTOCOLS,
    check_samples,
    default_samples,
)
from gan_cli.metrics.scores import inception_score, precision_recall
from gan_cli.provenance import provenance

log = logging.getLogger(__name__)
CACHE_FORMAT = 3  # 2: reference labels kept, for intra-class FID; 3: digits' confident share


def better(metric: str, new: float, old: float | None) -> bool:
    if not math.isfinite(new):  # a score of a diverged G (nan, inf) is never the best
        return False
    if old is None:
        return True
    return new < old if metric in LOWER_IS_BETTER else new > old


def class_labels(n: int, num_classes: int) -> Tensor | None:
    """The classes a conditional G is asked for: uniform, sample i gets class i mod K."""
    return torch.arange(n) % num_classes if num_classes else None


@torch.no_grad()
def generate(G: nn.Module, n: int, seed: int, device: torch.device, num_classes: int = 0,
             batch: int = 500, truncation: float | None = None) -> Tensor:  # fmt: skip
    """n samples from G in eval mode and fp32, from its own seeded noise (the training RNG is
    untouched); images come back quantised to uint8 levels, as a saved PNG would hold them.
    A conditional G (`num_classes`) is asked for `class_labels(n, num_classes)`; `truncation`:
    the truncation trick as G's class does it (generation.py)."""
    gen = torch.Generator().manual_seed(seed)  # on the CPU: the same latents on any device
    threshold, options = truncation_options(G, truncation)
    labels = class_labels(n, num_classes)
    was_training = G.training
    G.eval()
    out = []
    for start in range(0, n, batch):
        z = latents(min(batch, n - start), G.latent_dim, gen, threshold).to(device)
        c = None if labels is None else labels[start : start + len(z)].to(device)
        with torch.autocast(device.type, enabled=False):
            x = call_G(G, z, c, **options).float()
        out.append(to_unit_range(to_uint8(x)).cpu() if x.dim() == 4 else x.cpu())
    G.train(was_training)
    return torch.cat(out)


def real_samples(source, n: int, seed: int, device: torch.device) -> tuple[Tensor, Tensor | None]:
    """n samples of the data set (all of it when smaller), in a seeded order, on the CPU, with
    their labels when it has them. `device`: where the source keeps its data."""
    order = torch.randperm(len(source), generator=torch.Generator().manual_seed(seed))[:n]
    if not getattr(source, "num_classes", 0):
        return torch.cat([b.cpu() for b in source.batches(order, 256, device)]), None
    parts = list(source.batches(order, 256, device, labels=True))
    return torch.cat([x.cpu() for x, _ in parts]), torch.cat([c.cpu() for _, c in parts])


@dataclass
class Evaluator:
    kind: str
    source: Any
    samples: int | None  # generated samples per evaluation; None: the kind's protocol count
    seed: int
    dataset_key: dict  # the data set's resolved config: names the reference set
    device: torch.device
    cache_dir: Path | None = None
    reference_n: int = 10_000
    inception_weights: str | None = None
    download: bool = False
    samples_key: str = "samples"  # the config key `samples` came from, for error messages
    num_classes: int = 0  # > 0: a conditional G, asked for every class equally often
    truncation: float | None = None  # the truncation trick (`gan eval truncation=`): a protocol
    # of its own, never compared with untruncated figures
    extractor: Extractor | None = field(default=None, init=False)
    reference: dict | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        from gan_cli.data import EVAL_KEYS  # how a data set is measured does not name it

        if self.samples is None:
            self.samples = default_samples(self.kind)
        check_samples(self.kind, self.samples, self.samples_key)
        self.dataset_key = {k: v for k, v in self.dataset_key.items() if k not in EVAL_KEYS}
        if self.kind == "digits":  # the second classifier, for the confident share
            self.classifier_b = digits_net.load(digits_net.WEIGHTS_B).to(self.device)
        if self.kind in ("digits", "inception"):
            self.extractor = make_extractor(self.kind, self.device, self.inception_weights,
                                            self.download)  # fmt: skip
            self.reference = self._reference()
        elif self.kind == "stacked":
            self.classifier = digits_net.load().to(self.device)
            self.classifier_b = digits_net.load(digits_net.WEIGHTS_B).to(self.device)

    @property
    def protocol(self) -> dict:
        published, name = PROTOCOLS[self.kind]
        p = {"kind": self.kind, "samples": self.samples, "seed": self.seed,
             "published_samples": name,
             "reference": {"dataset": self.dataset_key, "split": "train"},
             "generated": "G in eval mode, fp32; images quantised to uint8"}  # fmt: skip
        if self.samples != published:
            p["differs"] = f"{self.samples:,} samples where the protocol uses {published:,}"
        if self.truncation is not None:
            p["truncation"] = self.truncation
        if self.extractor:
            p["reference"]["samples"] = min(self.reference_n, len(self.source))
            p["extractor"] = self.extractor.name
            p["weights_sha256"] = self.extractor.weights_sha256
            p["k"] = {"precision_recall": K_PRECISION_RECALL,
                      "density_coverage": K_DENSITY_COVERAGE}  # fmt: skip
            p["kid"] = {"subsets": KID_SUBSETS, "subset_size": KID_SUBSET_SIZE, "std": "ddof 0"}
            p["is_splits"] = IS_SPLITS
        if self.num_classes:
            p["classes"] = (f"{self.num_classes} classes drawn uniformly: sample i is asked for "
                            f"class i mod {self.num_classes}")  # fmt: skip
        if self.extractor and "labels" in self.reference and (self.num_classes or
                                                              self.kind == "digits"):  # fmt: skip
            read = "asked for" if self.num_classes else "read by the digits classifier"
            p["intra_fid"] = f"mean of per-class FIDs, samples by the class {read}"
        if self.kind == "stacked":
            p["classifier_sha256"] = digits_net.sha256()
            p["classifier_b_sha256"] = digits_net.sha256(digits_net.WEIGHTS_B)
            p["confident"] = "all three channels read with probability >= 0.8"
        if self.kind == "digits":
            p["confident"] = ("share of samples the second digits classifier (classifier_b) "
                              "reads with probability >= 0.8; confident_real: the same share "
                              "of the reference images")  # fmt: skip
            p["classifier_b_sha256"] = digits_net.sha256(digits_net.WEIGHTS_B)
        p["provenance"] = provenance(self.device)
        return p

    def _reference(self) -> dict:
        """Features of the data set, from the cache when this exact protocol was seen before."""
        key = {"format": CACHE_FORMAT, "dataset": self.dataset_key, "split": "train",
               "n": self.reference_n, "seed": 0, "extractor": self.extractor.name,
               "weights": self.extractor.weights_sha256}  # fmt: skip
        digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:24]
        path = self.cache_dir / "reference" / f"{digest}.pt" if self.cache_dir else None
        if path and path.is_file():
            try:
                return torch.load(path, weights_only=True)
            except Exception:  # a damaged cache file: compute it again
                log.warning("reference cache %s unreadable; recomputing", path)
        real, labels = real_samples(self.source, self.reference_n, 0, self.device)
        features, probs = self.extractor(real)
        ref = {"features": features, "probs": probs, "key": json.dumps(key, sort_keys=True)}
        if self.kind == "digits":
            ref["confident"] = confident_share(real, self.classifier_b)
        if labels is not None:
            ref["labels"] = labels
        if path:
            from gan_cli.checkpoint import atomic_save

            atomic_save(ref, path)
        return ref

    def __call__(self, G: nn.Module) -> dict[str, float]:
        fake = generate(G, self.samples, self.seed, self.device, self.num_classes,
                        truncation=self.truncation)  # fmt: skip
        return self.score(fake, class_labels(len(fake), self.num_classes))

    def score(self, fake: Tensor, labels: Tensor | None = None) -> dict[str, float]:
        if self.kind == "modes":
            m = self.source.meta
            return mode_stats(fake, m["centres"], m["sigma"])
        if self.kind == "stacked":
            return stacked_modes(fake, self.classifier, self.classifier_b)
        feats, probs = self.extractor(fake)
        real = self.reference["features"]
        k_mean, k_std = kid(real, feats)
        is_mean, is_std = inception_score(probs)
        out = {"fid": fid(real, feats), "kid": k_mean, "kid_std": k_std, "is": is_mean,
               "is_std": is_std, **precision_recall(real, feats)}  # fmt: skip
        if self.kind == "digits":
            out.update(digit_classes(probs))
            out["confident"] = confident_share(fake, self.classifier_b)
            out["confident_real"] = float(self.reference["confident"])  # the data's own share
        if labels is not None:
            out.update(conditional_scores(self.kind, feats, probs, labels, self.reference))
        elif self.kind == "digits" and "labels" in self.reference:
            out["intra_fid"] = intra_fid(feats, probs.argmax(dim=1), self.reference)
        return out


def conditional_scores(kind: str, feats: Tensor, probs: Tensor, labels: Tensor,
                       reference: dict) -> dict[str, float]:  # fmt: skip
    """For a conditional G: intra-class FID over the classes asked for and, where a classifier
    of the data's own classes exists (digits), the share of samples it assigns to that class."""
    out = {}
    if kind == "digits":
        out["label_accuracy"] = float((probs.argmax(dim=1) == labels).double().mean())
    if reference.get("labels") is not None:
        out["intra_fid"] = intra_fid(feats, labels, reference)
    return out


def intra_fid(feats: Tensor, labels: Tensor, reference: dict) -> float:
    """The mean over classes of each class's FID against that class's real images (Miyato &
    Koyama 2018). `labels`: the classes a conditional G was asked for; for an unconditional G on
    digits, the classes the digits classifier reads, so both kinds of model are scored by the
    same estimator. Its bias is large (~180 real images per digit), so compare intra-FIDs with
    each other, never with FID; a class with fewer than 2 samples scores as missing (inf)."""
    real, real_labels = reference["features"], reference["labels"]
    per_class = [fid(real[real_labels == k], feats[labels == k]) if (labels == k).sum() > 1
                 else float("inf") for k in real_labels.unique().tolist()]  # fmt: skip
    return float(sum(per_class) / len(per_class))

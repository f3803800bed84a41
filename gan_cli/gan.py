"""G, D, their optimisers, the loss and the stabilisers, and what one training step does.

Every G and D call of a step goes through one seam, `run_G` / `run_D` (as stylegan2-ada-
pytorch's training/loss.py): that is where stabilisers change what D sees (augmentation,
packing), and where labels and DistributedDataParallel plug in. A step has phases (StyleGAN2's
names):
  Dmain  each D update: loss.d_loss(real, fake) plus the penalties due at every update
  Dreg   every k-th D update: the lazy penalties (every = k), weighted by k, in their own step
  Gmain  one G update through the D just trained: loss.g_loss(fake, real)
Stabilisers act after each D update (weight clipping) and each G update (EMA). Losses and
stabilisers report their own scalars (stats.py). `loop.py` runs the loop; tests and benchmarks
run exactly this code. With `micro_batches=K` each update's batch runs in K parts (`Part`) whose
gradients add up before the optimiser step (gradient accumulation).

Several ranks (runtime.py): run_G/run_D go through DistributedDataParallel; D is under
no_sync() in the G step; the lazy penalties run through the unwrapped networks and their
gradients are averaged by hand. Noise comes from a stream drawn for the global batch
(streams.py), so N ranks compute what one process with the same global batch would. The
learning-rate schedule is streams.py's too.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field

import torch
from torch import Tensor, nn

from gan_cli.config import OptimConfig
from gan_cli.losses.base import GANLoss
from gan_cli.networks import build_networks, build_stabilizers
from gan_cli.registry import build
from gan_cli.runtime import Runtime
from gan_cli.stabilizers.base import Stabilizer
from gan_cli.stats import Stats
from gan_cli.streams import LRSchedule, NoiseStream


@dataclass
class Part:
    """One micro-batch of a step: real samples, noise, labels, and what G made of the noise."""

    real: Tensor
    z: Tensor
    c: Tensor | None
    fake: Tensor | None = None
    scores: tuple[Tensor, Tensor] | None = None  # D's (real, fake) scores, in the main D phase


def make_optimizer(
    cfg: OptimConfig, params, lr: float, betas=None, **impl
) -> torch.optim.Optimizer:
    """`impl`: how the update runs (fused / foreach), from Runtime.optimizer_options()."""
    if cfg.name == "adam":
        return torch.optim.Adam(params, lr=lr, betas=tuple(betas or cfg.betas), **impl)
    return torch.optim.RMSprop(params, lr=lr, foreach=True)  # RMSprop has no fused kernel


@dataclass
class GAN:
    G: nn.Module
    D: nn.Module
    loss: GANLoss
    opt_g: torch.optim.Optimizer
    opt_d: torch.optim.Optimizer
    rt: Runtime
    batch_size: int  # the global batch, over all ranks
    d_steps: int = 1  # D updates per G update
    stabilizers: list[Stabilizer] = field(default_factory=list)
    num_classes: int = 0  # > 0: a conditional model; batches come with labels
    seed: int = 0  # seeds the noise generator, the same on every rank
    decay: str = "none"  # learning-rate decay (streams.LRSchedule)
    decay_start: float = 0.0
    micro_batches: int = 1  # parts of each rank's batch whose gradients add up (accumulation)

    def __post_init__(self) -> None:
        self.stats = Stats()
        self.loss.report = self.stats.report
        for s in self.stabilizers:
            s.report = self.stats.report
        self.scaler_g, self.scaler_d = self.rt.grad_scaler(), self.rt.grad_scaler()
        # The forward passes of the training step; compiled when asked. G and D themselves stay
        # as built: their state_dicts, the gradient penalties (double backward, which compiled
        # graphs do not support) and sampling use them directly.
        compile_ = torch.compile if self.rt.compile else (lambda m: m)
        self.g_forward = compile_(self.rt.wrap(self.G))
        self.d_forward = compile_(self.rt.wrap(self.D))
        self.noise = NoiseStream(self.seed, self.G.latent_dim, self.rt.device, self.rt.rank,
                                 self.rt.world_size)  # fmt: skip
        self.schedule = LRSchedule([self.opt_g, self.opt_d], self.decay, self.decay_start)
        self.d_inputs = sorted(self.stabilizers, key=lambda s: s.d_input_order)
        self.samples_per_score = 1  # samples behind each D score (packing: m)
        for s in self.stabilizers:
            self.samples_per_score *= s.samples_per_score
        # penalties due at every update join the main loss; lazy ones (every k updates, one
        # interval per network) run in their own step, weighted by k (Dreg, Greg)
        self.d_every = max((s.every for s in self.stabilizers if s.every > 1), default=1)
        self.g_every = max((s.g_every for s in self.stabilizers if s.g_every > 1), default=1)
        self.d_updates = self.g_updates = 0  # the clocks of lazy regularisation
        for s in self.stabilizers:
            s.attach(self)

    # ---- the seam: every G and D call of the step
    def run_G(self, z: Tensor, c: Tensor | None = None) -> Tensor:
        return self.g_forward(z) if c is None else self.g_forward(z, c)

    def run_D(self, x: Tensor, c: Tensor | None = None) -> Tensor:
        x = self._d_view(x)
        return self.d_forward(x) if c is None else self.d_forward(x, c)

    def run_D_twice_differentiable(self, x: Tensor, c: Tensor | None = None) -> Tensor:
        """run_D through the uncompiled D, for penalties that differentiate its gradient."""
        x = self._d_view(x)
        return self.D(x) if c is None else self.D(x, c)

    def _d_view(self, x: Tensor) -> Tensor:
        """What D sees of a batch: augmented, packed, ... by the stabilisers, in order."""
        for s in self.d_inputs:
            x = s.d_input(x)
        return x

    # ---- the phases
    def d_step(self, real: Tensor, keep_graph: bool, c: Tensor | None = None) -> list[Part]:
        """Dmain (and Dreg when due) on a real batch and a fresh generated one (of the same
        classes, for a conditional model), in `micro_batches` parts whose gradients add up.
        Returns the parts; with one part and `keep_graph`, its generated batch keeps its graph
        and the G step reuses it instead of running G again."""
        parts = self._split(real, self.noise(real.shape[0]), c)
        keep_graph = keep_graph and len(parts) == 1  # else the G step runs G again, per part
        self.opt_d.zero_grad(set_to_none=True)
        for i, part in enumerate(parts):
            with torch.set_grad_enabled(keep_graph), self.rt.autocast():
                part.fake = self.run_G(part.z, part.c)
            real, fake = part.real, part.fake.detach()  # no gradient to G
            with self._no_sync(self.d_forward, i < len(parts) - 1):
                with self.rt.autocast():
                    real_scores = self.run_D(real, part.c)  # real data labelled real ...
                    fake_scores = self.run_D(fake, part.c)  # ... generated labelled fake
                    loss = self.loss.d_loss(real_scores, fake_scores)
                part.scores = (real_scores, fake_scores)
                penalties = self._d_penalties(part, lazy=False)
                part.scores = None  # (the lazy step comes after the update: no stale scores)
                self._backward(self.scaler_d, sum(penalties, loss), len(parts))
            for s in self.stabilizers:
                s.observe_real(real_scores)
            self.stats.report("Loss/D", loss)
            self.stats.report("D/real", real_scores)
            self.stats.report("D/fake", fake_scores)
        self._step(self.opt_d, self.scaler_d)
        self.d_updates += 1
        if self.d_every > 1 and self.d_updates % self.d_every == 0:  # Dreg
            self._lazy_update(self.opt_d, self.scaler_d, self.D,
                              [self._d_penalties(part, lazy=True) for part in parts])  # fmt: skip
        for s in self.stabilizers:
            s.after_d_step(self.D)
        return parts

    def g_step(self, parts: list[Part]) -> None:
        """Gmain: one G update through the D just trained, on the generated samples of the last
        D step (run again from their noise when in several parts), and Greg when due."""
        self.D.requires_grad_(False)  # the backward passes through D, without D's weight grads
        self.opt_g.zero_grad(set_to_none=True)
        for i, part in enumerate(parts):
            last = i == len(parts) - 1  # DDP: D never syncs here; G once, on the last part
            with self._no_sync(self.d_forward), self._no_sync(self.g_forward, not last):
                with self.rt.autocast():
                    fake = part.fake if part.fake.requires_grad else self.run_G(part.z, part.c)
                    real_scores = None
                    if self.loss.uses_real_in_g:
                        with torch.no_grad():
                            real_scores = self.run_D(part.real, part.c)
                    fake_scores = self.run_D(fake, part.c)
                    for s in self.stabilizers:  # which of the scores G learns from (top-k)
                        fake_scores = s.g_scores(fake_scores)
                    loss = self.loss.g_loss(fake_scores, real_scores)
                terms = [s.g_penalty(self, len(fake), part.c) for s in self.stabilizers
                         if s.g_every == 1]  # fmt: skip
                self._backward(self.scaler_g, sum((t for t in terms if t is not None), loss),
                               len(parts))  # fmt: skip
            self.stats.report("Loss/G", loss)
        self._step(self.opt_g, self.scaler_g)
        self.g_updates += 1
        if self.g_every > 1 and self.g_updates % self.g_every == 0:  # Greg
            lazy = [[s.g_every * t for s in self.stabilizers if s.g_every > 1
                     if (t := s.g_penalty(self, len(part.z), part.c)) is not None]
                    for part in parts]  # fmt: skip
            self._lazy_update(self.opt_g, self.scaler_g, self.G, lazy)
        self.D.requires_grad_(True)
        for s in self.stabilizers:
            s.after_g_step(self.G)

    def _d_penalties(self, part: Part, lazy: bool) -> list[Tensor]:
        """D's penalties due at every update (lazy=False), or the lazy ones weighted by k."""
        due = [s for s in self.stabilizers if (s.every > 1) == lazy]
        terms = [(s.every, s.d_penalty(self, part.real, part.fake.detach(), part.c, part.scores))
                 for s in due]  # fmt: skip
        return [k * t if lazy else t for k, t in terms if t is not None]

    def step(self, batches) -> None:
        """A training step: `d_steps` D updates, each on a new real batch (with its labels, for
        a conditional model) and new noise, then one G update. Values stay on the device, in
        `stats`."""
        c = None
        for i in range(self.d_steps):
            real = next(batches)
            if self.num_classes:
                real, c = real
            parts = self.d_step(real, keep_graph=i == self.d_steps - 1, c=c)
        self.g_step(parts)

    def _split(self, real: Tensor, z: Tensor, c: Tensor | None) -> list[Part]:
        """This rank's batch as `micro_batches` parts (one part: the batch itself)."""
        k = self.micro_batches
        if k == 1:
            return [Part(real, z, c)]
        cs = c.chunk(k) if c is not None else [None] * k
        return [Part(r, n, cc) for r, n, cc in zip(real.chunk(k), z.chunk(k), cs, strict=True)]

    @staticmethod
    def _no_sync(net: nn.Module, skip: bool = True):
        """DDP's no_sync() for `net` when `skip` (a part whose gradients only add up locally)."""
        no_sync = getattr(net, "no_sync", None)
        return no_sync() if skip and no_sync is not None else contextlib.nullcontext()

    @staticmethod
    def _backward(scaler, loss: Tensor, parts: int) -> None:
        """Add one part's share of the batch mean to the gradients."""
        scaler.scale(loss / parts if parts > 1 else loss).backward()

    def _step(self, opt: torch.optim.Optimizer, scaler, unwrapped: nn.Module | None = None
              ) -> None:  # fmt: skip
        """The optimiser step on the gradients added up; `unwrapped`: the network the loss went
        through outside DDP, whose gradients are then averaged over the ranks by hand."""
        if unwrapped is not None:
            self.rt.average_grads(unwrapped)
        scaler.step(opt)
        scaler.update()

    def _lazy_update(self, opt, scaler, net: nn.Module, terms: list[list[Tensor]]) -> None:
        """A lazy regularisation step (Dreg, Greg) on each part's weighted penalties."""
        if not any(terms):
            return
        opt.zero_grad(set_to_none=True)
        for part_terms in terms:
            if part_terms:
                self._backward(scaler, sum(part_terms), len(terms))
        self._step(opt, scaler, net)

    @property
    def sampler(self) -> nn.Module:
        """The generator to sample and evaluate: a stabiliser's (EMA) when there is one."""
        return next((s.sampler for s in self.stabilizers if s.sampler is not None), self.G)

    # ---- checkpoints
    def state_dict(self) -> dict:
        state = {
            "G": self.G.state_dict(),
            "D": self.D.state_dict(),
            "opt_g": self.opt_g.state_dict(),
            "opt_d": self.opt_d.state_dict(),
            "scaler_g": self.scaler_g.state_dict(),
            "scaler_d": self.scaler_d.state_dict(),
            "stabilizers": {s.name: s.state_dict() for s in self.stabilizers},
            **self.noise.state_dict(),
        }
        if self.sampler is not self.G:  # what `gan sample` and `gan eval` use by default
            state["G_ema"] = self.sampler.state_dict()
        return state

    def load_state_dict(self, state: dict, step: int) -> None:
        self.G.load_state_dict(state["G"])
        self.D.load_state_dict(state["D"])
        _load_optimizer(self.opt_g, state["opt_g"])
        _load_optimizer(self.opt_d, state["opt_d"])
        if self.sampler is not self.G:
            self.sampler.load_state_dict(state["G_ema"])
        if state.get("scaler_g"):
            self.scaler_g.load_state_dict(state["scaler_g"])
            self.scaler_d.load_state_dict(state["scaler_d"])
        for s in self.stabilizers:
            s.load_state_dict(state["stabilizers"][s.name])
        self.noise.load_state_dict(state, step)
        self.d_updates, self.g_updates = step * self.d_steps, step


def _load_optimizer(opt: torch.optim.Optimizer, state: dict) -> None:
    """The optimiser's running state from a checkpoint, its settings (lr, betas) from the
    config: a resumed run may change them (`gan train resume=... optim.lr=1e-4`)."""
    settings = [{k: v for k, v in group.items() if k != "params"} for group in opt.param_groups]
    groups = [{**saved, **now} for saved, now in zip(state["param_groups"], settings, strict=True)]
    # with today's settings (fused or not) in place, load_state_dict puts the state tensors
    # (Adam's `step` included) where this device's kernels expect them
    opt.load_state_dict({**state, "param_groups": groups})


def lazy_adam_rescale(lr: float, betas: list[float], every: int) -> tuple[float, list[float]]:
    """StyleGAN2's correction for lazy regularisation in its own steps: with a regularisation
    step every k updates, lr and betas are scaled so that k + 1 steps move like k (c = k/(k+1))."""
    c = every / (every + 1)
    return lr * c, [b**c for b in betas]


def build_gan(cfg, spec, data_shape: tuple[int, ...], rt: Runtime, num_classes: int = 0) -> GAN:
    """Networks from `cfg.model` and the stabilisers, objective from `cfg.loss`, optimisers from
    `spec.optim` (`spec`: the validated config); `num_classes` > 0 for a conditional model."""
    stabilizers = build_stabilizers(cfg.stabilizers)
    G, D = build_networks(cfg.model, stabilizers, data_shape, num_classes)
    if rt.sync_batchnorm:  # before DDP wraps them
        G, D = (nn.SyncBatchNorm.convert_sync_batchnorm(net) for net in (G, D))
    G, D = rt.place(G), rt.place(D)
    optim = spec.optim
    impl = rt.optimizer_options(optim.kernel)

    def settings(lr: float, lazy: list[int]) -> tuple[float, list[float]]:
        if lazy and optim.name == "adam":  # a lazy regulariser's own steps: StyleGAN2's rescaling
            return lazy_adam_rescale(lr, optim.betas, max(lazy))
        return lr, optim.betas

    lr_g, betas_g = settings(optim.lr_g, [s.g_every for s in stabilizers if s.g_every > 1])
    lr_d, betas_d = settings(optim.lr_d, [s.every for s in stabilizers if s.every > 1])
    return GAN(
        G=G,
        D=D,
        loss=build(cfg.loss, "loss"),
        opt_g=make_optimizer(optim, G.parameters(), lr_g, betas_g, **impl),
        opt_d=make_optimizer(optim, D.parameters(), lr_d, betas_d, **impl),
        rt=rt,
        batch_size=spec.batch_size,
        d_steps=optim.d_steps,
        stabilizers=stabilizers,
        num_classes=num_classes,
        seed=spec.seed,
        decay=optim.decay,
        decay_start=optim.decay_start,
        micro_batches=spec.micro_batches,
    )

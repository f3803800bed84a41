"""G, D, their optimisers and the objective, with the two updates of a training step.

`train.py` runs the loop; this file holds what one D update and one G update do, so tests and
benchmarks run exactly the code `gan train` runs.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from omegaconf import DictConfig
from torch import Tensor, nn

from gan_cli.config import OptimConfig
from gan_cli.losses.base import GANLoss
from gan_cli.registry import build
from gan_cli.runtime import Runtime

STATS = ("Loss/D", "D/real", "D/fake")  # what d_step returns, in this order


def make_optimizer(cfg: OptimConfig, params, lr: float, **impl) -> torch.optim.Optimizer:
    """`impl`: how the update runs (fused / foreach), from Runtime.optimizer_options()."""
    name = str(getattr(cfg.name, "value", cfg.name))
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, betas=tuple(cfg.betas), **impl)
    return torch.optim.RMSprop(params, lr=lr, foreach=True)  # RMSprop has no fused kernel


@dataclass
class GAN:
    G: nn.Module
    D: nn.Module
    loss: GANLoss
    opt_g: torch.optim.Optimizer
    opt_d: torch.optim.Optimizer
    rt: Runtime
    ema_decay: float = 0.0  # > 0: keep an exponential moving average of G's weights

    def __post_init__(self) -> None:
        self.G_ema = None
        if self.ema_decay > 0:  # torch's own EMA wrapper; batch-norm statistics averaged too
            from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

            avg = get_ema_multi_avg_fn(self.ema_decay)
            self.G_ema = AveragedModel(self.G, multi_avg_fn=avg, use_buffers=True)
        self.scaler_g, self.scaler_d = self.rt.grad_scaler(), self.rt.grad_scaler()
        # The forward passes of the training step; compiled when asked. G and D themselves stay
        # as built: their state_dicts, the gradient penalty (double backward, which compiled
        # graphs do not support) and sampling use them directly.
        compile_ = torch.compile if self.rt.compile else (lambda m: m)
        self.g_forward, self.d_forward = compile_(self.G), compile_(self.D)

    def noise(self, n: int) -> Tensor:
        return torch.randn(n, self.G.latent_dim, device=self.rt.device)

    def d_step(self, real: Tensor, keep_graph: bool) -> tuple[Tensor, Tensor]:
        """One D update on a real batch and a fresh generated one.

        Returns the generated batch (with its graph when `keep_graph`, so the G step can reuse
        it instead of running G again) and the stats (Loss/D, D/real, D/fake) on the device.
        """
        rt, D = self.rt, self.d_forward
        with torch.set_grad_enabled(keep_graph), rt.autocast():
            fake = self.g_forward(self.noise(real.shape[0]))
        with rt.autocast():
            real_scores = D(real)  # real data labelled real ...
            fake_scores = D(fake.detach())  # ... generated data labelled fake; no grad into G
            d_loss = self.loss.d_loss(real_scores, fake_scores)
        penalty = self.loss.d_penalty(self.D, real, fake)
        if penalty is not None:
            d_loss = d_loss + penalty
        self.opt_d.zero_grad(set_to_none=True)
        self.scaler_d.scale(d_loss).backward()
        self.scaler_d.step(self.opt_d)
        self.scaler_d.update()
        self.loss.after_d_step(self.D)
        stats = torch.stack([d_loss, real_scores.mean(), fake_scores.mean()]).detach().float()
        return fake, stats

    def g_step(self, fake: Tensor) -> Tensor:
        """One G update through the D just trained, on the samples of the last D step."""
        self.D.requires_grad_(False)  # the backward passes through D, without D's weight grads
        with self.rt.autocast():
            g_loss = self.loss.g_loss(self.d_forward(fake))
        self.opt_g.zero_grad(set_to_none=True)
        self.scaler_g.scale(g_loss).backward()
        self.scaler_g.step(self.opt_g)
        self.scaler_g.update()
        self.D.requires_grad_(True)
        if self.G_ema is not None:
            self.G_ema.update_parameters(self.G)
        return g_loss.detach().float()

    @property
    def sampler(self) -> nn.Module:
        """The generator to sample and evaluate: the EMA copy when there is one."""
        return self.G_ema.module if self.G_ema is not None else self.G

    def step(self, batches, d_steps: int) -> tuple[Tensor, Tensor]:
        """A training step: `d_steps` D updates, then one G update. Stats stay on the device:
        (Loss/D, D/real, D/fake) summed over the D updates, and Loss/G."""
        d_sum = torch.zeros(len(STATS), device=self.rt.device)
        for i in range(d_steps):
            fake, stats = self.d_step(next(batches), keep_graph=i == d_steps - 1)
            d_sum += stats
        return d_sum, self.g_step(fake)

    def state_dict(self) -> dict:
        ema = {}
        if self.G_ema is not None:
            ema = {"G_ema": self.G_ema.module.state_dict(), "ema_n": self.G_ema.n_averaged}
        return {
            **ema,
            "G": self.G.state_dict(),
            "D": self.D.state_dict(),
            "opt_g": self.opt_g.state_dict(),
            "opt_d": self.opt_d.state_dict(),
            "scaler_g": self.scaler_g.state_dict(),
            "scaler_d": self.scaler_d.state_dict(),
        }

    def load_state_dict(self, state: dict) -> None:
        self.G.load_state_dict(state["G"])
        self.D.load_state_dict(state["D"])
        _load_optimizer(self.opt_g, state["opt_g"])
        _load_optimizer(self.opt_d, state["opt_d"])
        if self.G_ema is not None and "G_ema" in state:
            self.G_ema.module.load_state_dict(state["G_ema"])
            self.G_ema.n_averaged.copy_(state["ema_n"])
        if state.get("scaler_g"):
            self.scaler_g.load_state_dict(state["scaler_g"])
            self.scaler_d.load_state_dict(state["scaler_d"])


def _load_optimizer(opt: torch.optim.Optimizer, state: dict) -> None:
    """The optimiser's running state from a checkpoint, its settings (lr, betas) from the
    config: a resumed run may change them (`gan train resume=... optim.lr=1e-4`)."""
    settings = [{k: v for k, v in group.items() if k != "params"} for group in opt.param_groups]
    groups = [{**saved, **now} for saved, now in zip(state["param_groups"], settings, strict=True)]
    # with today's settings (fused or not) in place, load_state_dict puts the state tensors
    # (Adam's `step` included) where this device's kernels expect them
    opt.load_state_dict({**state, "param_groups": groups})


def build_gan(cfg: DictConfig, optim: OptimConfig, data_shape: tuple[int, ...], rt: Runtime,
              ema_decay: float = 0.0) -> GAN:  # fmt: skip
    """Networks from `cfg.model`, objective from `cfg.loss`, optimisers from `optim`."""
    G, D = build(cfg.model, "model", data_shape=data_shape)
    G, D = rt.place(G), rt.place(D)
    impl = rt.optimizer_options()
    return GAN(
        G=G,
        D=D,
        loss=build(cfg.loss, "loss"),
        opt_g=make_optimizer(optim, G.parameters(), optim.lr_g, **impl),
        opt_d=make_optimizer(optim, D.parameters(), optim.lr_d, **impl),
        rt=rt,
        ema_decay=ema_decay,
    )

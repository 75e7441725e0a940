"""The WGAN training step: WGAN-GP (arXiv:1704.00028) or weight clipping (arXiv:1701.07875).

One *training step* is ``n_critic`` critic updates (each on a fresh real batch) followed by one
generator update; an epoch is ``n_train // (batch_size * n_critic)`` steps, so each real event is
seen once per epoch. Losses (arXiv:1704.00028, Algorithm 1)::

    L_critic = D(fake) - D(real) + lambda * (||grad_xhat D(xhat)||_2 - 1)^2,
               xhat = eps * real + (1 - eps) * fake,  eps ~ U[0, 1]  (one eps per event)
    L_gen    = -D(G(z)),  z ~ N(0, 1)

(for ``wgan_clip``: no penalty, critic weights clamped to [-c, c] after each critic update).
After each generator update an exponential moving average of the generator weights is updated,
``G_ema <- G_ema + w (G - G_ema)`` with ``w = 1 - min(ema_decay, (1 + t) / (10 + t))`` at step t
(the warm-up of TensorFlow's ExponentialMovingAverage); averaging the iterates of a GAN removes
the oscillation around the equilibrium (arXiv:1806.04498, arXiv:1812.04948 sec. 4). The EMA
generator is the one sampled and saved.

All random numbers of an epoch (the batch permutation, latent vectors, interpolation weights) are
drawn up front from a generator seeded with ``derive_seed(seed, "gan_train", "epoch", e)`` into
static buffers; the step reads them by a step counter kept on the device. The same step function
therefore runs eagerly or captured once in a CUDA graph and replayed (the fast path, default on
CUDA), with the same updates, and a run resumed from an epoch checkpoint repeats exactly the run
that was not interrupted.
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from ganlee.errors import ConfigError
from ganlee.settings import GanSettings

__all__ = ["Trainer", "cpu_state", "load_optimizer", "matmul_tf32", "resolve_fast_path"]


def resolve_fast_path(name: str, device: torch.device) -> str:
    """``auto`` -> ``cuda_graph`` on CUDA, else ``eager``; ``cuda_graph`` off CUDA is an error."""
    if name == "auto":
        return "cuda_graph" if device.type == "cuda" else "eager"
    if name == "cuda_graph" and device.type != "cuda":
        msg = (
            f"config key 'gan.fast_path' is 'cuda_graph' but the device is '{device}' "
            "(use auto or eager)"
        )
        raise ConfigError(msg)
    return name


def _make_optimizer(
    params: Sequence[nn.Parameter], gan: GanSettings, device: torch.device
) -> torch.optim.Adam:
    kw: dict[str, Any] = {"lr": float(gan.lr), "betas": tuple(float(b) for b in gan.betas)}
    if device.type == "cuda":  # capturable: step counters on the device (needed by CUDA graphs)
        kw.update(capturable=True, fused=True)
    return torch.optim.Adam(params, **kw)


@contextlib.contextmanager
def matmul_tf32(enabled: bool, device: torch.device) -> Iterator[None]:
    """Allow TF32 matmuls on CUDA inside the block (config key ``gan.tf32``), then restore."""
    if not enabled or device.type != "cuda":
        yield
        return
    old = torch.backends.cuda.matmul.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = True
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32 = old


def load_optimizer(opt: torch.optim.Optimizer, state: Mapping[str, Any]) -> None:
    """Load a saved optimizer state, keeping this device's implementation flags (a checkpoint
    written on a GPU, with capturable/fused Adam, resumes on a CPU and vice versa)."""
    state = dict(state)
    flags = ("capturable", "fused", "foreach", "differentiable")
    current = opt.param_groups
    groups = []
    for saved, cur in zip(state["param_groups"], current, strict=True):
        groups.append({**saved, **{k: cur[k] for k in flags if k in cur}})
    state["param_groups"] = groups
    opt.load_state_dict(state)


def cpu_state(obj: nn.Module | torch.optim.Optimizer) -> dict[str, Any]:
    """A state dict with every tensor detached, cloned and on the CPU."""

    def conv(v: Any) -> Any:
        if isinstance(v, torch.Tensor):
            return v.detach().cpu().clone()
        if isinstance(v, dict):
            return {k: conv(x) for k, x in v.items()}
        if isinstance(v, list):
            return [conv(x) for x in v]
        return v

    return conv(obj.state_dict())


_Snapshot = tuple[list[torch.Tensor], dict[int, dict[str, torch.Tensor]]]


def _snapshot(module: nn.Module, opt: torch.optim.Optimizer) -> _Snapshot:
    params = [p.detach().clone() for p in module.parameters()]
    state = {
        i: {k: v.detach().clone() for k, v in opt.state[p].items() if isinstance(v, torch.Tensor)}
        for i, p in enumerate(module.parameters())
        if p in opt.state
    }
    return params, state


def _restore(module: nn.Module, opt: torch.optim.Optimizer, snap: _Snapshot) -> None:
    """Copy a snapshot back *in place* (a captured CUDA graph keeps pointing at the same memory)."""
    params, state = snap
    with torch.no_grad():
        for i, p in enumerate(module.parameters()):
            p.copy_(params[i])
            for k, v in opt.state.get(p, {}).items():
                if isinstance(v, torch.Tensor):
                    if i in state and k in state[i]:
                        v.copy_(state[i][k])
                    else:
                        v.zero_()


class Trainer:
    """The WGAN training step over device-resident data, run eagerly or as a replayed CUDA graph.

    Arguments:
        generator, critic: the networks (moved to ``device``).
        data: scaled training events (n, d), float32.
        gan: the ``gan`` settings.
        device: torch device.
        fast_path: ``eager`` or ``cuda_graph``.

    References:
        arXiv:1704.00028 (WGAN-GP), arXiv:1701.07875 (WGAN, weight clipping).
    """

    def __init__(
        self,
        generator: nn.Module,
        critic: nn.Module,
        data: torch.Tensor,
        gan: GanSettings,
        device: torch.device,
        fast_path: str = "eager",
    ) -> None:
        self.device = device
        self.G = generator.to(device)
        self.D = critic.to(device)
        self.kind = gan.kind
        self.B = int(gan.batch_size)
        self.k = int(gan.n_critic)
        self.latent = int(gan.latent_dim)
        self.gp_weight = float(gan.gp_weight)
        self.clip = float(gan.clip_value)
        self.data = data.to(device=device, dtype=torch.float32).contiguous()
        n = len(self.data)
        self.steps = n // (self.B * self.k)
        if self.steps < 1:
            msg = (
                f"config keys gan.batch_size ({self.B}) x gan.n_critic ({self.k}) = "
                f"{self.B * self.k} "
                f"events per generator step, but the training split has only {n} events: lower them"
            )
            raise ConfigError(msg)
        self.opt_g = _make_optimizer(list(self.G.parameters()), gan, device)
        self.opt_d = _make_optimizer(list(self.D.parameters()), gan, device)
        s, k, B = self.steps, self.k, self.B
        self.perm_buf = torch.zeros((s, k, B), dtype=torch.long, device=device)
        self.noise_buf = torch.zeros((s, k + 1, B, self.latent), device=device)
        self.eps_buf = torch.zeros((s, k, B, 1), device=device)
        self.step_ptr = torch.zeros(1, dtype=torch.long, device=device)
        self.loss_buf = torch.zeros((s, 4), device=device)
        self._sign = torch.cat([torch.full((B,), 1.0 / B), torch.full((B,), -1.0 / B)]).to(device)
        self._zero = torch.zeros((), device=device)
        self.fast_path = fast_path
        self.graph: torch.cuda.CUDAGraph | None = None
        self.ema_decay = float(gan.ema_decay)
        self.G_ema = copy.deepcopy(self.G).requires_grad_(False)
        self.ema_steps = torch.zeros((), device=device)
        self.latent_dim = self.latent
        self.loss_columns = (0, 1, 2, 3)

    @property
    def sampler(self) -> nn.Module:
        """The network to sample from: the EMA generator (the plain one when ema_decay is 0)."""
        return self.G_ema if self.ema_decay > 0 else self.G

    def full_state(self) -> dict[str, Any]:
        """Everything a resumed run needs beyond the sampled generator."""
        return {
            "raw_generator_state": cpu_state(self.G),
            "critic_state": cpu_state(self.D),
            "opt_g_state": cpu_state(self.opt_g),
            "opt_d_state": cpu_state(self.opt_d),
            "ema_state": cpu_state(self.G_ema),
            "ema_steps": float(self.ema_steps),
        }

    def load_full_state(self, ck: Mapping[str, Any]) -> None:
        self.G.load_state_dict(ck["raw_generator_state"])
        self.D.load_state_dict(ck["critic_state"])
        self.G_ema.load_state_dict(ck["ema_state"])
        self.ema_steps.fill_(float(ck["ema_steps"]))
        load_optimizer(self.opt_g, ck["opt_g_state"])
        load_optimizer(self.opt_d, ck["opt_d_state"])

    def _ema_update(self) -> None:
        t = self.ema_steps
        decay = torch.clamp((1.0 + t) / (10.0 + t), max=self.ema_decay)
        with torch.no_grad():
            for e, p in zip(self.G_ema.parameters(), self.G.parameters(), strict=True):
                e.lerp_(p, 1.0 - decay)
        t.add_(1.0)

    # ---------------------------------------------------------------- the step
    def _critic_update(self, x: torch.Tensor) -> torch.Tensor:
        """One critic update on ``x`` = [real; fake; interpolates] (3B rows; 2B for wgan_clip)."""
        B = self.B
        if self.kind == "wgan_gp":
            x = x.detach().requires_grad_(True)
            out = self.D(x).view(-1)
            # Rows are independent, so d(sum of the interpolate outputs)/dx is the per-event
            # critic gradient at the interpolates (zero on the other rows).
            (grad,) = torch.autograd.grad(out[2 * B :].sum(), x, create_graph=True)
            gp = (torch.linalg.vector_norm(grad[2 * B :], dim=1) - 1).square().mean()
        else:
            out = self.D(x).view(-1)
            gp = self._zero
        w = torch.dot(out[: 2 * B], self._sign)  # mean D(real) - mean D(fake)
        loss = gp * self.gp_weight - w
        self.opt_d.zero_grad(set_to_none=False)
        loss.backward()
        self.opt_d.step()
        if self.kind == "wgan_clip":
            with torch.no_grad():
                params: list[torch.Tensor] = list(self.D.parameters())
                torch._foreach_clamp_min_(params, -self.clip)
                torch._foreach_clamp_max_(params, self.clip)
        return torch.stack([loss.detach(), w.detach(), gp.detach()])

    def _step(self) -> None:
        """One training step (k critic updates + 1 generator update); reads buffers at ``step_ptr``.

        The k fake batches and interpolates are computed up front in one generator pass: the
        generator does not change during the critic updates, so this is the same computation
        with fewer, larger kernels.
        """
        ptr, k, B = self.step_ptr, self.k, self.B
        idx = self.perm_buf.index_select(0, ptr).view(k * B)
        z_all = self.noise_buf.index_select(0, ptr)[0]
        real = self.data.index_select(0, idx).view(k, B, -1)
        with torch.no_grad():
            fake = self.G(z_all[:k].reshape(k * B, -1)).view(k, B, -1)
            if self.kind == "wgan_gp":
                eps = self.eps_buf.index_select(0, ptr)[0]
                x_all = torch.cat([real, fake, torch.lerp(fake, real, eps)], dim=1)
            else:
                x_all = torch.cat([real, fake], dim=1)
        stats = [self._critic_update(x_all[j]) for j in range(k)]
        loss_g = -self.D(self.G(z_all[k])).mean()
        self.opt_g.zero_grad(set_to_none=False)
        loss_g.backward(inputs=list(self.G.parameters()))
        self.opt_g.step()
        if self.ema_decay > 0:
            self._ema_update()
        row = torch.cat([torch.stack(stats).mean(0), loss_g.detach().view(1)])
        self.loss_buf.index_copy_(0, ptr, row.view(1, 4))
        ptr.add_(1)

    def _capture(self) -> None:
        """Warm up on a side stream, restore the exact pre-warm-up state, capture one step."""
        snap_g, snap_d = _snapshot(self.G, self.opt_g), _snapshot(self.D, self.opt_d)
        snap_ema = ([p.detach().clone() for p in self.G_ema.parameters()], self.ema_steps.clone())
        side = torch.cuda.Stream(self.device)
        side.wait_stream(torch.cuda.current_stream(self.device))
        with torch.cuda.stream(side):
            for _ in range(3):
                self.step_ptr.zero_()
                self._step()
        torch.cuda.current_stream(self.device).wait_stream(side)
        _restore(self.G, self.opt_g, snap_g)
        _restore(self.D, self.opt_d, snap_d)
        with torch.no_grad():
            for e, v in zip(self.G_ema.parameters(), snap_ema[0], strict=True):
                e.copy_(v)
            self.ema_steps.copy_(snap_ema[1])
        self.step_ptr.zero_()
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            self._step()
        self.graph = graph
        torch.cuda.synchronize(self.device)

    # ---------------------------------------------------------------- an epoch
    def fill_epoch(self, seed: int) -> None:
        """Draw the permutation, latent vectors and interpolation weights of one epoch."""
        gen = torch.Generator(device=self.device)
        gen.manual_seed(int(seed))
        perm = torch.randperm(len(self.data), generator=gen, device=self.device)
        self.perm_buf.copy_(perm[: self.perm_buf.numel()].view_as(self.perm_buf))
        self.noise_buf.copy_(torch.randn(self.noise_buf.shape, generator=gen, device=self.device))
        self.eps_buf.copy_(torch.rand(self.eps_buf.shape, generator=gen, device=self.device))
        self.step_ptr.zero_()

    def run_steps(self, n: int) -> None:
        """Run ``n`` steps from the current step counter (no host synchronisation)."""
        if self.fast_path == "cuda_graph" and self.graph is None:
            self._capture()
        for _ in range(n):
            if self.graph is not None:
                self.graph.replay()
            else:
                self._step()

    def run_epoch(self, seed: int, epoch: int = 1) -> np.ndarray:
        """All steps of one epoch; returns the per-step losses (steps, 4) on the host (``epoch``
        is unused: the WGAN has no learning-rate schedule)."""
        self.fill_epoch(seed)
        self.run_steps(self.steps)
        return self.loss_buf.detach().cpu().numpy().astype(np.float64)

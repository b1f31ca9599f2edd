"""K trials' MLPs trained as one batched model (a pack), and their optimizers.

Members share the structure (``PACK_SHARED``: optimizer, hidden sizes,
activation, embedding, batch norm, batch size, augmentation); everything else
is a per-member tensor. Each member's slice is independent of the others, and
:meth:`PackedMLP.member_state_dict` / :meth:`PackedOptimizer.member_state_dict`
give exactly what its unpacked trial's model and optimizer would hold.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Sequence
from typing import Any, TypeVar, cast

import torch
import torch.nn.functional as F
from torch import nn

from hpsearch.trainable._hparams import HParams
from hpsearch.trainable._model import ACTIVATIONS, PeriodicEmbedding, build_optimizer

_EMBEDDING_PARAMS = ("frequencies", "weight", "bias")
_LINEAR_PARAMS = ("weight", "bias")
_NORM_PARAMS = ("weight", "bias")
_NORM_BUFFERS = ("running_mean", "running_var", "num_batches_tracked")

# (state_dict key of a build_mlp model, name of the stacked tensor in the pack)
Layout = list[tuple[str, str]]
M = TypeVar("M", bound=nn.Module)


def _stack(modules: Sequence[nn.Module], attr: str) -> torch.Tensor:
    return torch.stack([getattr(m, attr).detach() for m in modules]).clone()


def _of_type(model: nn.Module, kind: type[M]) -> list[M]:
    return [m for m in model.modules() if isinstance(m, kind)]


class PackedMLP(nn.Module):
    """K ``build_mlp`` models of one structure, stacked along a leading member dimension."""

    def __init__(self, models: Sequence[nn.Sequential], hps: Sequence[HParams], embedded: int):
        super().__init__()
        if not models or len(models) != len(hps):
            raise ValueError("a pack needs one HParams per model, and at least one model")
        hp = hps[0]
        self.activation = ACTIVATIONS[hp.activation]()
        self.batch_norm = hp.batch_norm
        self.embedded = embedded
        embeddings = [_of_type(m, PeriodicEmbedding) for m in models]
        linears = [_of_type(m, nn.Linear) for m in models]
        norms = [_of_type(m, nn.BatchNorm1d) for m in models]
        self.num_embedded = int(embeddings[0][0].embedded) if embeddings[0] else 0
        self.hidden = len(linears[0]) - 1
        self.num_outputs = int(linears[0][-1].out_features)
        if norms[0]:
            self.eps = float(norms[0][0].eps)
            self.momentum = float(norms[0][0].momentum or 0.1)

        # Registered in build_mlp's parameters() order: the optimizer's state indices follow it.
        self.param_names: list[str] = []
        self.buffer_names: list[str] = []
        self._blocks: dict[str, list[tuple[str, str]]] = {}  # prefix -> [(attr, stacked name)]
        if self.num_embedded:
            self._add([e[0] for e in embeddings], "embedding", _EMBEDDING_PARAMS, ())
        for i in range(self.hidden + 1):
            self._add([ls[i] for ls in linears], f"linear{i}", _LINEAR_PARAMS, ())
            if self.batch_norm and i < self.hidden:
                self._add([ns[i] for ns in norms], f"norm{i}", _NORM_PARAMS, _NORM_BUFFERS)
        self._set_rates([h.dropout for h in hps])
        self._layouts: dict[bool, Layout] = {}

    def _add(
        self,
        modules: Sequence[nn.Module],
        prefix: str,
        params: tuple[str, ...],
        buffers: tuple[str, ...],
    ) -> None:
        attrs = []
        for attr in params:
            self.register_parameter(f"{prefix}_{attr}", nn.Parameter(_stack(modules, attr)))
            self.param_names.append(f"{prefix}_{attr}")
            attrs.append((attr, f"{prefix}_{attr}"))
        for attr in buffers:
            self.register_buffer(f"{prefix}_{attr}", _stack(modules, attr))
            self.buffer_names.append(f"{prefix}_{attr}")
            attrs.append((attr, f"{prefix}_{attr}"))
        self._blocks[prefix] = attrs

    def _set_rates(self, rates: list[float]) -> None:
        self._rates = rates
        self._any_dropout = any(r > 0 for r in rates)
        device = self.device
        self.register_buffer("dropout", torch.tensor(rates, dtype=torch.float32, device=device))

    def tensor(self, name: str) -> torch.Tensor:
        """The stacked parameter or buffer ``name`` (one of ``param_names``, ``buffer_names``)."""
        return cast(torch.Tensor, getattr(self, name))

    @property
    def device(self) -> torch.device:
        """Where the members' weights are."""
        return self.tensor("linear0_weight").device

    @property
    def size(self) -> int:
        """K, the number of members."""
        return len(self._rates)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(K, B, F) (own rows per member) or (B, F) (the same rows for all) -> (K, B, outputs)."""
        if x.dim() == 2:
            x = x.expand(self.size, *x.shape)
        # Inside, a member's rows are columns, (K, features, B): see _linear.
        h = (self._embed(x) if self.num_embedded else x).transpose(1, 2)
        for i in range(self.hidden):
            h = self._linear(h, i)
            if self.batch_norm:
                h = self._norm(h, i)
            h = self.activation(h)
            if self.training and self._any_dropout:
                h = self._dropout(h)
        return self._linear(h, self.hidden).transpose(1, 2)

    def _embed(self, x: torch.Tensor) -> torch.Tensor:
        n = self.num_embedded
        angle = 2 * torch.pi * x[..., :n, None] * self.tensor("embedding_frequencies")[:, None]
        periodic = torch.cat([torch.cos(angle), torch.sin(angle)], dim=-1)
        mixed = torch.einsum("kbnf,knfd->kbnd", periodic, self.tensor("embedding_weight"))
        out = torch.relu(mixed + self.tensor("embedding_bias")[:, None])
        return torch.cat([out.flatten(2), x[..., n:]], dim=-1)

    def _linear(self, h: torch.Tensor, i: int) -> torch.Tensor:
        """(K, in, B) -> (K, out, B). As W @ h, the weight's gradient (grad @ h^T) comes out
        in the weight's own layout; h^T @ W^T's would need a transposed copy every step."""
        weight, bias = self.tensor(f"linear{i}_weight"), self.tensor(f"linear{i}_bias")
        return torch.baddbmm(bias.unsqueeze(2), weight, h)

    def _norm(self, h: torch.Tensor, i: int) -> torch.Tensor:
        """Batch norm per member: each (member, unit) pair is a channel of one batch_norm."""
        k, w, b = h.shape
        flat = h.reshape(1, k * w, b)
        # Views of the (K, W) buffers: batch_norm updates the running stats in place.
        out = F.batch_norm(
            flat,
            self.tensor(f"norm{i}_running_mean").view(-1),
            self.tensor(f"norm{i}_running_var").view(-1),
            self.tensor(f"norm{i}_weight").view(-1),
            self.tensor(f"norm{i}_bias").view(-1),
            self.training,
            self.momentum,
            self.eps,
        )
        if self.training:
            self.tensor(f"norm{i}_num_batches_tracked").add_(1)
        return out.view(k, w, b)

    def _dropout(self, h: torch.Tensor) -> torch.Tensor:
        """Inverted dropout at each member's own rate (rate 0: exactly the identity)."""
        keep = (1.0 - self.tensor("dropout"))[:, None, None]
        mask = torch.rand_like(h) < keep
        return h * (mask.to(h.dtype) * keep.reciprocal())

    def layout(self, hp: HParams) -> Layout:
        """(state_dict key of ``build_mlp(..., hp, embedded)``, stacked tensor name) pairs.

        Only dropout changes the layout within a pack: a Dropout layer shifts the
        Sequential indices after it.
        """
        with_dropout = hp.dropout > 0
        if with_dropout not in self._layouts:
            self._layouts[with_dropout] = self._build_layout(with_dropout)
        return self._layouts[with_dropout]

    def _build_layout(self, with_dropout: bool) -> Layout:
        """build_mlp's Sequential: [embedding], (linear, [norm], activation, [dropout])*, linear."""
        pairs: Layout = []
        index = 0

        def add(prefix: str) -> None:
            nonlocal index
            pairs.extend((f"{index}.{attr}", name) for attr, name in self._blocks[prefix])
            index += 1

        if self.num_embedded:
            add("embedding")
        for i in range(self.hidden):
            add(f"linear{i}")
            if self.batch_norm:
                add(f"norm{i}")
            index += 1 + with_dropout  # the activation, then the dropout
        add(f"linear{self.hidden}")
        return pairs

    def member_state_dict(self, k: int, hp: HParams) -> dict[str, torch.Tensor]:
        """Member ``k``'s weights and buffers (cloned), keyed as ``build_mlp(..., hp, embedded)``'s
        state_dict: it loads with ``strict=True``."""
        return {key: self.tensor(name).detach()[k].clone() for key, name in self.layout(hp)}

    def keep(self, index: Sequence[int]) -> None:
        """Keep only the members ``index``, in that order (new Parameter objects)."""
        rows = torch.as_tensor(list(index), dtype=torch.long, device=self.device)
        with torch.no_grad():
            for name in self.param_names:
                param = self.tensor(name).detach().index_select(0, rows)
                setattr(self, name, nn.Parameter(param))
            for name in self.buffer_names:
                setattr(self, name, self.tensor(name).index_select(0, rows))
        self._set_rates([self._rates[i] for i in index])


# The per-parameter state each optimizer keeps, in the order torch writes it.
_STATE_KEYS = {
    "adam": ("exp_avg", "exp_avg_sq"),
    "adamw": ("exp_avg", "exp_avg_sq"),
    "sgd": ("momentum_buffer",),
    "rmsprop": ("square_avg",),
}
_BETA1, _BETA2, _ADAM_EPS = 0.9, 0.999, 1e-8
_ALPHA, _RMS_EPS = 0.99, 1e-8


class _Params(nn.Module):
    def __init__(self, count: int) -> None:
        super().__init__()
        self.params = nn.ParameterList([nn.Parameter(torch.zeros(())) for _ in range(count)])


@functools.lru_cache(maxsize=256)
def _param_group(hp: HParams, count: int) -> dict[str, Any]:
    """The param group torch writes for ``build_optimizer(model, hp)`` over ``count`` parameters."""
    group: dict[str, Any] = build_optimizer(_Params(count), hp).state_dict()["param_groups"][0]
    return group


class PackedOptimizer:
    """The members' optimizers (``build_optimizer``) as one update over the stacked parameters.

    lr, weight decay, momentum and nesterov are per member; each member's step
    follows torch's own update rule for ``hps[0].optimizer`` and touches only its slice.
    """

    def __init__(
        self,
        model: PackedMLP,
        hps: Sequence[HParams],
        states: Sequence[dict[str, Any] | None] | None = None,
    ) -> None:
        self.model = model
        self.kind = hps[0].optimizer
        if self.kind not in _STATE_KEYS:
            raise ValueError(f"unknown optimizer {self.kind!r}")
        device = model.device
        self.lr = torch.tensor([hp.lr for hp in hps], dtype=torch.float64, device=device)
        self.lr_now = self.lr.clone()  # the last applied lr, as torch's param group holds it
        self.weight_decay = torch.tensor(
            [hp.weight_decay for hp in hps], dtype=torch.float64, device=device
        )
        momenta = [float(hp.momentum) if self.kind == "sgd" else 0.0 for hp in hps]
        nesterovs = [bool(hp.nesterov and m > 0) for hp, m in zip(hps, momenta, strict=True)]
        self.momentum = torch.tensor(momenta, dtype=torch.float64, device=device)
        self.nesterov = torch.tensor(nesterovs, dtype=torch.bool, device=device)
        self.steps = torch.zeros(len(hps), dtype=torch.float32, device=device)
        self.has_buffer = torch.zeros(len(hps), dtype=torch.bool, device=device)
        self.state: dict[str, dict[str, torch.Tensor]] = {
            name: {key: torch.zeros_like(model.tensor(name)) for key in _STATE_KEYS[self.kind]}
            for name in model.param_names
        }
        self._set_flags([hp.weight_decay for hp in hps], momenta, nesterovs)
        for k, state in enumerate(states or []):
            if state is not None:
                self._load(k, state)

    def _set_flags(self, decays: list[float], momenta: list[float], nesterovs: list[bool]) -> None:
        # Python copies, so that a step skips work no member needs without a device sync.
        self._decays, self._momenta, self._nesterovs = decays, momenta, nesterovs
        self._any_decay = any(d != 0 for d in decays)
        self._any_momentum = any(m != 0 for m in momenta)
        self._any_nesterov = any(nesterovs)

    def _load(self, k: int, state: dict[str, Any]) -> None:
        """Member ``k`` continues from a torch optimizer's state_dict."""
        self.lr_now[k] = float(state["param_groups"][0]["lr"])
        per_param = state["state"]
        for i, name in enumerate(self.model.param_names):
            for key, value in per_param.get(i, {}).items():
                if key == "step":
                    self.steps[k] = float(value)
                elif key in self.state[name] and value is not None:
                    self.state[name][key][k] = value
                    if key == "momentum_buffer":
                        self.has_buffer[k] = True

    def zero_grad(self) -> None:
        """Drop the gradients (torch's ``set_to_none=True``)."""
        for name in self.model.param_names:
            self.model.tensor(name).grad = None

    @torch.no_grad()
    def step(self, lr_factor: torch.Tensor) -> None:
        """One update; member k uses ``lr_k * lr_factor[k]``."""
        lr = self.lr * lr_factor.to(self.lr)
        self.lr_now = lr
        params = [
            (n, p) for n in self.model.param_names if (p := self.model.tensor(n)).grad is not None
        ]
        if not params:
            return
        if self.kind == "sgd":
            self._sgd(params, lr)
        elif self.kind == "rmsprop":
            self._rmsprop(params, lr)
        else:
            self._adam(params, lr, decoupled=self.kind == "adamw")

    def _grads(
        self, params: list[tuple[str, torch.Tensor]], decay: torch.Tensor, l2: bool = True
    ) -> Iterator[tuple[str, torch.Tensor, torch.Tensor, tuple[int, ...]]]:
        """Each parameter, its gradient (plus weight decay as L2, as torch adds it for
        every optimizer but AdamW) and the shape that broadcasts a per-member value."""
        for name, param in params:
            grad, shape = param.grad, _member_shape(param)
            assert grad is not None
            if l2 and self._any_decay:
                grad = grad.addcmul(param, decay.view(shape))
            yield name, param, grad, shape

    def _adam(
        self, params: list[tuple[str, torch.Tensor]], lr: torch.Tensor, decoupled: bool
    ) -> None:
        self.steps += 1
        step = self.steps.double()
        dtype = params[0][1].dtype
        neg_step_size = (-lr / (1 - _BETA1**step)).to(dtype)
        bias2_sqrt = (1 - _BETA2**step).sqrt().to(dtype)
        decay = self.weight_decay.to(dtype)
        shrink = (1 - lr * self.weight_decay).to(dtype)
        for name, param, grad, shape in self._grads(params, decay, l2=not decoupled):
            if self._any_decay and decoupled:
                param.mul_(shrink.view(shape))
            exp_avg, exp_avg_sq = self.state[name]["exp_avg"], self.state[name]["exp_avg_sq"]
            exp_avg.lerp_(grad, 1 - _BETA1)
            exp_avg_sq.mul_(_BETA2).addcmul_(grad, grad, value=1 - _BETA2)
            denom = exp_avg_sq.sqrt().div_(bias2_sqrt.view(shape)).add_(_ADAM_EPS)
            param.addcmul_(exp_avg / denom, neg_step_size.view(shape))

    def _rmsprop(self, params: list[tuple[str, torch.Tensor]], lr: torch.Tensor) -> None:
        self.steps += 1
        dtype = params[0][1].dtype
        neg_lr, decay = (-lr).to(dtype), self.weight_decay.to(dtype)
        for name, param, grad, shape in self._grads(params, decay):
            square_avg = self.state[name]["square_avg"]
            square_avg.mul_(_ALPHA).addcmul_(grad, grad, value=1 - _ALPHA)
            avg = square_avg.sqrt().add_(_RMS_EPS)
            param.addcmul_(grad / avg, neg_lr.view(shape))

    def _sgd(self, params: list[tuple[str, torch.Tensor]], lr: torch.Tensor) -> None:
        dtype = params[0][1].dtype
        neg_lr, decay = (-lr).to(dtype), self.weight_decay.to(dtype)
        for name, param, grad, shape in self._grads(params, decay):
            if self._any_momentum:
                # torch's buffer starts as the first gradient; momentum 0 keeps none.
                buf = self.state[name]["momentum_buffer"]
                momentum = self.momentum.to(dtype).view(shape)
                buf.copy_(torch.where(self.has_buffer.view(shape), buf * momentum + grad, grad))
                if self._any_nesterov:
                    grad = torch.where(self.nesterov.view(shape), grad + momentum * buf, buf)
                else:
                    grad = buf
            param.addcmul_(grad, neg_lr.view(shape))
        self.has_buffer |= self.momentum != 0

    def keep(self, index: Sequence[int]) -> None:
        """Keep only the members ``index``, in that order (as :meth:`PackedMLP.keep`)."""
        rows = torch.as_tensor(list(index), dtype=torch.long, device=self.lr.device)
        for attr in ("lr", "lr_now", "weight_decay", "momentum", "nesterov", "steps", "has_buffer"):
            setattr(self, attr, getattr(self, attr).index_select(0, rows))
        for per_param in self.state.values():
            for key, value in per_param.items():
                per_param[key] = value.index_select(0, rows)
        self._set_flags(
            [self._decays[i] for i in index],
            [self._momenta[i] for i in index],
            [self._nesterovs[i] for i in index],
        )

    def member_state_dict(self, k: int, hp: HParams) -> dict[str, Any]:
        """Member ``k``'s state as ``build_optimizer(build_mlp(..., hp, ...), hp).state_dict()``."""
        group = dict(_param_group(hp, len(self.model.param_names)))
        group["params"] = list(group["params"])
        group["lr"] = float(self.lr_now[k])
        return {"state": self._member_state(k), "param_groups": [group]}

    def _member_state(self, k: int) -> dict[int, dict[str, torch.Tensor]]:
        if self.kind == "sgd":
            if self._momenta[k] == 0 or not bool(self.has_buffer[k]):
                return {}  # torch keeps no buffer without momentum, nor before the first step
        elif float(self.steps[k]) == 0:
            return {}  # torch creates the state at the first step
        state: dict[int, dict[str, torch.Tensor]] = {}
        for i, name in enumerate(self.model.param_names):
            entry: dict[str, torch.Tensor] = {}
            if self.kind != "sgd":
                entry["step"] = self.steps[k].detach().cpu().clone()
            for key, value in self.state[name].items():
                entry[key] = value[k].clone()
            state[i] = entry
        return state


def _member_shape(param: torch.Tensor) -> tuple[int, ...]:
    """The shape a per-member (K,) tensor takes to broadcast over ``param``."""
    return (param.shape[0],) + (1,) * (param.dim() - 1)

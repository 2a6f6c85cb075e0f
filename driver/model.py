"""Learn2Talk's student regressor: a FaceFormer-style autoregressive decoder (REFERENCE.md §4).

Per motion frame i the decoder takes one token: the style embedding for i = 0, otherwise the
motion encoder applied to the previous output plus the style embedding; tokens get a periodic
positional encoding (period 30). One transformer decoder layer (4 heads, FFN 2d, post-norm as in
FaceFormer) with
- self-attention: causal, with FaceFormer's periodic ALiBi bias -floor((i-j)/p)*slope_h, limited
  to the last `self_attn_window` tokens so a step costs the same at minute 10 as at second 1;
- cross-attention: alignment mask, frame i sees audio frames [i - audio_lookback,
  i + audio_lookahead] (FaceFormer: i only).
Masks and biases are built on the fly from frame indices: there is no sequence-length limit.

The output head is zero-initialised (an untrained model rests at neutral) and predicts either
rig parameters (`mode="params"`: named blocks such as expr (E) and jaw_pose (3)) or vertex
offsets from the template (`mode="vertices"`, V*3, FaceFormer's original head).

Three ways to run the same math, which agree to float precision:
`forward_teacher` (training, all frames at once), `generate` (offline autoregressive) and
`start` + `step` (streaming, one frame per call, bounded work).
"""
from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from torch import nn

from driver.audio import MOTION_FPS
from driver.frontends import FrontEnd, LogMelFrontEnd, build_frontend
from splat.rig import POSE_PARAM_SIZES


@dataclass
class RegressorConfig:
    """Architecture of a Learn2TalkRegressor; stored as JSON inside checkpoints."""

    outputs: list[tuple[str, int]] = field(default_factory=lambda: [("expr", 27), ("jaw_pose", 3)])
    mode: str = "params"                  # "params" (rig parameters) or "vertices" (V*3 offsets)
    d_model: int = 64
    n_heads: int = 4
    ffn_mult: int = 2
    period: int = 30
    n_styles: int = 1
    self_attn_window: int = 90            # tokens of history one frame attends to
    audio_lookback: int = 0               # audio frames before i that frame i sees
    audio_lookahead: int = 0              # audio frames after i that frame i sees
    dropout: float = 0.1
    fps: float = float(MOTION_FPS)       # a float in config.json, as it always was
    frontend: dict[str, Any] = field(default_factory=lambda: LogMelFrontEnd().config_dict())

    def __post_init__(self) -> None:
        self.outputs = [(str(n), int(s)) for n, s in self.outputs]
        if self.mode not in ("params", "vertices"):
            raise ValueError(f"mode must be 'params' or 'vertices', not {self.mode!r}")
        if self.mode == "vertices" and [n for n, _ in self.outputs] != ["vertices"]:
            raise ValueError("vertices mode has exactly one output block named 'vertices'")
        if self.mode == "params":
            for name, size in self.outputs:
                if name != "expr" and POSE_PARAM_SIZES.get(name) != size:
                    raise ValueError(f"output {name!r} ({size}) is not a rig parameter; use expr "
                                     f"or one of {POSE_PARAM_SIZES}")
        if self.d_model % self.n_heads:
            raise ValueError("d_model must be divisible by n_heads")
        if self.self_attn_window < 1 or self.audio_lookback < 0 or self.audio_lookahead < 0:
            raise ValueError("windows must be non-negative (self_attn_window >= 1)")

    @property
    def out_dim(self) -> int:
        return sum(size for _, size in self.outputs)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["outputs"] = [list(o) for o in self.outputs]
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "RegressorConfig":
        known = {f for f in cls.__dataclass_fields__}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"unknown regressor config keys: {sorted(unknown)}")
        return cls(**d)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    @classmethod
    def from_json(cls, text: str) -> "RegressorConfig":
        return cls.from_dict(json.loads(text))


def alibi_slopes(n_heads: int) -> torch.Tensor:
    """FaceFormer's (ALiBi's) geometric per-head slopes."""
    def power_of_2(n: int) -> list[float]:
        start = 2 ** (-2 ** -(math.log2(n) - 3))
        return [start * start ** i for i in range(n)]
    if math.log2(n_heads).is_integer():
        return torch.tensor(power_of_2(n_heads))
    closest = 2 ** math.floor(math.log2(n_heads))
    extra = power_of_2(2 * closest)[0::2][:n_heads - closest]
    return torch.tensor(power_of_2(closest) + extra)


class PeriodicPositionalEncoding(nn.Module):
    """Sinusoidal encoding of (frame index mod period): FaceFormer's PPE, with no length cap."""

    def __init__(self, d_model: int, period: int, dropout: float) -> None:
        super().__init__()
        pos = torch.arange(period, dtype=torch.float32)[:, None]
        div = torch.exp(torch.arange(0, d_model, 2, dtype=torch.float32)
                        * (-math.log(10000.0) / d_model))
        pe = torch.zeros(period, d_model)
        pe[:, 0::2] = torch.sin(pos * div)
        pe[:, 1::2] = torch.cos(pos * div)
        self.register_buffer("pe", pe, persistent=False)
        self.period = period
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
        return self.dropout(x + self.pe[positions % self.period])


@dataclass
class DecoderState:
    """Per-stream decoder memory for `step`: the last tokens (bounded) and the next index."""

    tokens: torch.Tensor          # (B, n<=window, d) layer inputs of the most recent frames
    style_emb: torch.Tensor       # (B, d)
    next_index: int = 0
    last_output: torch.Tensor | None = None   # (B, P) prediction for frame next_index - 1


class Learn2TalkRegressor(nn.Module):
    """Audio front end + FaceFormer-style decoder -> per-frame rig parameters or vertex offsets."""

    def __init__(self, config: RegressorConfig, frontend: FrontEnd | None = None) -> None:
        super().__init__()
        self.config = config
        self.frontend = frontend if frontend is not None else build_frontend(config.frontend)
        config.frontend = self.frontend.config_dict()   # a passed-in front end defines it
        d, P = config.d_model, config.out_dim
        self.audio_map = nn.Linear(self.frontend.feature_dim, d)
        self.motion_encoder = nn.Linear(P, d)
        self.style_map = nn.Linear(config.n_styles, d, bias=False)
        self.ppe = PeriodicPositionalEncoding(d, config.period, config.dropout)
        self.self_attn = nn.MultiheadAttention(d, config.n_heads, dropout=config.dropout,
                                               batch_first=True)
        self.cross_attn = nn.MultiheadAttention(d, config.n_heads, dropout=config.dropout,
                                                batch_first=True)
        self.ffn = nn.Sequential(nn.Linear(d, config.ffn_mult * d), nn.ReLU(),
                                 nn.Dropout(config.dropout), nn.Linear(config.ffn_mult * d, d))
        self.norm1, self.norm2, self.norm3 = nn.LayerNorm(d), nn.LayerNorm(d), nn.LayerNorm(d)
        self.drop = nn.Dropout(config.dropout)
        self.head = nn.Linear(d, P)
        nn.init.zeros_(self.head.weight)
        nn.init.zeros_(self.head.bias)
        self.register_buffer("slopes", alibi_slopes(config.n_heads), persistent=False)

    # ------------------------------------------------------------------------------ helpers
    @property
    def lookahead_s(self) -> float:
        """Audio after a frame's time that its prediction depends on."""
        return self.frontend.lookahead_s + self.config.audio_lookahead / self.config.fps

    def split_outputs(self, y: torch.Tensor) -> dict[str, torch.Tensor]:
        """(..., P) -> {name: (..., size)} in config order."""
        sizes = [s for _, s in self.config.outputs]
        return dict(zip([n for n, _ in self.config.outputs], y.split(sizes, dim=-1)))

    def style_embedding(self, style: int | torch.Tensor, batch: int,
                        device: torch.device) -> torch.Tensor:
        idx = torch.as_tensor(style, device=device, dtype=torch.long).reshape(-1)
        if idx.numel() == 1:
            idx = idx.expand(batch)
        if int(idx.max()) >= self.config.n_styles or int(idx.min()) < 0:
            raise ValueError(f"style index out of range 0..{self.config.n_styles - 1}")
        onehot = nn.functional.one_hot(idx, self.config.n_styles).float()
        return self.style_map(onehot)

    def audio_features(self, audio: torch.Tensor, n_frames: int) -> torch.Tensor:
        """Front-end features (B, n_frames + audio_lookahead, D) of whole clips (B, S)."""
        return self.frontend.offline(audio, n_frames + self.config.audio_lookahead)

    def _self_bias(self, q_pos: torch.Tensor, k_pos: torch.Tensor, batch: int) -> torch.Tensor:
        """(B*H, Lq, Lk) additive mask: periodic ALiBi, causal, bounded window."""
        diff = (q_pos[:, None] - k_pos[None, :]).to(self.slopes.dtype)
        bias = -torch.floor(diff / self.config.period)[None] * self.slopes[:, None, None]
        allowed = (diff >= 0) & (diff < self.config.self_attn_window)
        bias = bias.masked_fill(~allowed[None], float("-inf"))
        return bias.repeat(batch, 1, 1)

    def _cross_mask(self, q_pos: torch.Tensor, m_pos: torch.Tensor) -> torch.Tensor:
        """(Lq, Lm) boolean mask, True = blocked: the alignment band around each frame."""
        diff = m_pos[None, :] - q_pos[:, None]
        return ~((diff >= -self.config.audio_lookback) & (diff <= self.config.audio_lookahead)
                 & (m_pos[None, :] >= 0))

    def _layer(self, q: torch.Tensor, q_pos: torch.Tensor, kv: torch.Tensor,
               kv_pos: torch.Tensor, mem: torch.Tensor, mem_pos: torch.Tensor) -> torch.Tensor:
        """The one decoder layer (post-norm) for queries q attending to tokens kv and memory."""
        sa, _ = self.self_attn(q, kv, kv, attn_mask=self._self_bias(q_pos, kv_pos, q.shape[0]),
                               need_weights=False)
        x = self.norm1(q + self.drop(sa))
        ca, _ = self.cross_attn(x, mem, mem, attn_mask=self._cross_mask(q_pos, mem_pos),
                                need_weights=False)
        x = self.norm2(x + self.drop(ca))
        return self.norm3(x + self.drop(self.ffn(x)))

    # ----------------------------------------------------------------------------- training
    def forward_teacher(self, feats: torch.Tensor, target: torch.Tensor,
                        style: int | torch.Tensor = 0) -> torch.Tensor:
        """Teacher-forced pass: feats (B, T + audio_lookahead, D), target (B, T, P) -> (B,T,P).

        Tokens are built from the ground-truth previous frames, so all T frames run at once.
        """
        B, T, _ = target.shape
        dev = feats.device
        style_emb = self.style_embedding(style, B, dev)[:, None]
        prev = self.motion_encoder(target[:, :-1]) + style_emb
        tokens = torch.cat([style_emb, prev], dim=1)
        pos = torch.arange(T, device=dev)
        tokens = self.ppe(tokens, pos)
        mem = self.audio_map(feats)
        out = self._layer(tokens, pos, tokens, pos, mem, torch.arange(mem.shape[1], device=dev))
        return self.head(out)

    def forward(self, audio: torch.Tensor, target: torch.Tensor,
                style: int | torch.Tensor = 0) -> torch.Tensor:
        """Teacher-forced pass from raw 16 kHz audio (B, S) and targets (B, T, P)."""
        return self.forward_teacher(self.audio_features(audio, target.shape[1]), target, style)

    # ----------------------------------------------------------------------- autoregressive
    def start(self, batch: int = 1, style: int | torch.Tensor = 0,
              device: torch.device | str | None = None) -> DecoderState:
        """A fresh stream state; frame 0's token is the style embedding alone."""
        device = device if device is not None else self.head.weight.device
        style_emb = self.style_embedding(style, batch, torch.device(device))
        tokens = torch.empty(batch, 0, self.config.d_model, device=device)
        return DecoderState(tokens=tokens, style_emb=style_emb)

    def step(self, state: DecoderState, feats: torch.Tensor) -> torch.Tensor:
        """Predict frame i = state.next_index (B, P) and advance the state.

        feats (B, L, D) are the front-end features of audio frames
        [i - audio_lookback, i + audio_lookahead] (L = lookback + 1 + lookahead), rows for
        frames before 0 being ignored. Work is bounded by the self-attention window.
        """
        i = state.next_index
        dev = feats.device
        if i == 0:
            token = state.style_emb
        else:
            token = self.motion_encoder(state.last_output) + state.style_emb
        token = self.ppe(token[:, None], torch.tensor([i], device=dev))
        tokens = torch.cat([state.tokens, token], dim=1)[:, -self.config.self_attn_window:]
        kv_pos = torch.arange(i - tokens.shape[1] + 1, i + 1, device=dev)
        mem_pos = torch.arange(i - self.config.audio_lookback,
                               i - self.config.audio_lookback + feats.shape[1], device=dev)
        out = self._layer(token, torch.tensor([i], device=dev), tokens, kv_pos,
                          self.audio_map(feats), mem_pos)
        y = self.head(out)[:, 0]
        state.tokens = tokens
        state.last_output = y
        state.next_index = i + 1
        return y

    def generate(self, feats: torch.Tensor, n_frames: int,
                 style: int | torch.Tensor = 0) -> torch.Tensor:
        """Autoregressive inference: feats (B, n_frames + audio_lookahead, D) -> (B, T, P)."""
        cfg = self.config
        state = self.start(feats.shape[0], style, feats.device)
        pad = feats.new_zeros(feats.shape[0], cfg.audio_lookback, feats.shape[2])
        padded = torch.cat([pad, feats], dim=1)
        L = cfg.audio_lookback + 1 + cfg.audio_lookahead
        return torch.stack([self.step(state, padded[:, i:i + L]) for i in range(n_frames)], 1)

    @torch.no_grad()
    def infer(self, audio: torch.Tensor, n_frames: int,
              style: int | torch.Tensor = 0) -> torch.Tensor:
        """Offline inference from whole clips (B, S) -> (B, n_frames, P), eval mode assumed."""
        return self.generate(self.audio_features(audio, n_frames), n_frames, style)

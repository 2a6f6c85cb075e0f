"""Streaming inference: audio blocks of any size in, 30 fps MotionFrames out, bounded work.

Frame k (stream time t_origin + k/30) is emitted as soon as the audio up to its look-ahead has
arrived: the front end's own look-ahead plus the decoder's audio look-ahead frames
(`model.lookahead_s`, 82.5 ms for the default log-mel front end). Per block the engine
- computes front-end features only for the newly complete frames, from a bounded audio slice
  (the front end's receptive field; older audio is dropped),
- runs one decoder `step` per new frame, each attending to a bounded window of history.
Audio before the stream and after `flush()` is silence, exactly what offline inference assumes,
so streaming a file in random block sizes reproduces `infer_offline` to float precision.
"""
from __future__ import annotations

import math
from typing import TYPE_CHECKING, Protocol

import numpy as np
import torch

from driver.audio import MOTION_FPS, SAMPLE_RATE
from driver.frontends import frame_sample
from driver.model import Learn2TalkRegressor
from driver.motion import MotionFrame
from splat.errors import UserInputError

if TYPE_CHECKING:
    from splat.rig import RigData

GAP_TOLERANCE_S = 0.05   # audio arriving later than this after the last block: fill silence


class MotionEngine(Protocol):
    """What a live consumer drives: `StreamingEngine`, or `driver.retarget.RetargetedStream`
    wrapping one. Blocks of 16 kHz audio in, the MotionFrames they complete out."""

    def push(self, block: np.ndarray, t0: float) -> list[MotionFrame]: ...

    def flush(self) -> list[MotionFrame]: ...

    def reset(self) -> None: ...


def warm_up(engine: MotionEngine) -> MotionEngine:
    """Run a second of silence through a fresh engine, then reset it.

    torch's first calls allocate and pick kernels (hundreds of ms on a CPU); doing that while
    loading means the first words spoken to a live window animate at once.
    """
    engine.push(np.zeros(SAMPLE_RATE, np.float32), 0.0)
    engine.flush()
    engine.reset()
    return engine


class OutputMapper:
    """Model outputs (T, P) -> rig parameters: named blocks, or a vertex fit for vertex heads."""

    def __init__(self, model: Learn2TalkRegressor, rig: "RigData | None" = None) -> None:
        self.names = [n for n, _ in model.config.outputs]
        self.fitter = None
        self.n_expr = rig.n_expr if rig is not None else None
        if model.config.mode == "vertices":
            if rig is None:
                raise UserInputError("a vertex-output checkpoint needs the avatar's rig to fit "
                                     "its motion into rig parameters")
            from driver.fit import RigFitter
            self.fitter = RigFitter(rig)
        self.model = model

    def __call__(self, y: torch.Tensor, t0: float, k0: int, fps: float) -> list[MotionFrame]:
        if self.fitter is not None:
            params = self.fitter.fit(y.reshape(y.shape[0], -1, 3))
        else:
            params = self.model.split_outputs(y)
        arrays = {k: v.detach().cpu().numpy().astype(np.float32) for k, v in params.items()}
        T = y.shape[0]
        expr = arrays.pop("expr", np.zeros((T, self.n_expr or 0), np.float32))
        if self.n_expr is not None and expr.shape[1] != self.n_expr:
            fixed = np.zeros((T, self.n_expr), np.float32)
            n = min(self.n_expr, expr.shape[1])
            fixed[:, :n] = expr[:, :n]
            expr = fixed
        return [MotionFrame(t=t0 + (k0 + i) / fps, expr=expr[i],
                            **{k: v[i] for k, v in arrays.items()}) for i in range(T)]


def n_frames_for(n_samples: int, fps: float = MOTION_FPS) -> int:
    """Frames whose time lies inside a clip: k with k/fps < duration."""
    return math.ceil(n_samples * fps / SAMPLE_RATE)


class StreamingEngine:
    """Push audio blocks, receive MotionFrames; one engine per audio stream (not thread-safe).

    `rig` (the RigData the model drives) sizes the expression vector to the avatar's rig and is
    required for vertex-output models. `lookahead_ms` is the look-ahead budget: a model needing
    more is refused; the engine then waits exactly the model's need (`self.lookahead_ms`).
    """

    def __init__(self, model: Learn2TalkRegressor, rig: "RigData | None" = None, lookahead_ms: float = 100.0,
                 device: torch.device | str | None = None, style: int = 0) -> None:
        need_ms = model.lookahead_s * 1000.0
        if need_ms > lookahead_ms + 1e-6:
            raise UserInputError(f"the model needs {need_ms:.1f} ms of audio look-ahead, more "
                                 f"than the allowed {lookahead_ms:.1f} ms")
        self.device = torch.device(device) if device is not None else torch.device("cpu")
        self.model = model.to(self.device).eval()
        self.frontend = model.frontend
        self.cfg = model.config
        self.style = style
        self.lookahead_ms = need_ms
        self.mapper = OutputMapper(model, rig)
        self.reset()

    def reset(self) -> None:
        """Forget the stream: the next push starts a new one at its own t0."""
        self._origin: float | None = None
        self._received = 0                       # real samples pushed (absolute end)
        self._a0 = -self.frontend.past_samples   # absolute index of self._audio[0]
        self._audio = np.zeros(self.frontend.past_samples, np.float32)
        self._feat_next = 0                       # next feature frame to compute
        self._feats = torch.empty(0, self.frontend.feature_dim, device=self.device)
        self._feat_lo = 0                         # frame index of self._feats[0]
        with torch.no_grad():
            self._state = self.model.start(1, self.style, self.device)
        self._flushed = False

    @property
    def stream_time(self) -> float:
        """Stream time just after the last pushed sample (origin = first push's t0)."""
        return (self._origin or 0.0) + self._received / SAMPLE_RATE

    def push(self, block: np.ndarray, t0: float) -> list[MotionFrame]:
        """Add float32 mono 16 kHz samples whose first sample is at stream time t0."""
        if self._flushed:
            self.reset()
        block = np.asarray(block, np.float32).reshape(-1)
        if self._origin is None:
            self._origin = float(t0)
        else:
            gap = t0 - self.stream_time
            if gap > GAP_TOLERANCE_S:       # dropped audio: keep the timeline, fill silence
                self._append(np.zeros(int(round(gap * SAMPLE_RATE)), np.float32))
        self._append(np.nan_to_num(block, nan=0.0, posinf=0.0, neginf=0.0))
        return self._advance(final=False)

    def flush(self) -> list[MotionFrame]:
        """End of stream: pad with silence and emit every frame inside the pushed audio."""
        frames = self._advance(final=True) if self._origin is not None else []
        self._flushed = True
        return frames

    def _append(self, samples: np.ndarray) -> None:
        self._audio = np.concatenate([self._audio, samples])
        self._received += samples.size

    @torch.no_grad()
    def _advance(self, final: bool) -> list[MotionFrame]:
        fe, cfg = self.frontend, self.cfg
        ahead = cfg.audio_lookahead
        if final:
            n_out = n_frames_for(self._received, cfg.fps)
            n_feat = n_out + ahead
            _, hi = fe.required_range(0, max(n_feat, 1))
            end = self._a0 + self._audio.size
            if hi > end:
                self._audio = np.concatenate([self._audio, np.zeros(hi - end, np.float32)])
        else:
            # Feature frame k is computable once ceil(s_k) + future <= received.
            n_feat = math.floor((self._received - fe.future_samples) * cfg.fps / SAMPLE_RATE) + 1
            while n_feat > 0 and math.ceil(frame_sample(n_feat - 1, cfg.fps)) + \
                    fe.future_samples > self._received:
                n_feat -= 1
            n_out = max(n_feat - ahead, 0)
        if n_feat > self._feat_next:
            new = fe.features(torch.as_tensor(self._audio, device=self.device)[None], self._a0,
                              self._feat_next, n_feat - self._feat_next)[0]
            self._feats = torch.cat([self._feats, new])
            self._feat_next = n_feat
        outputs, k0 = [], self._state.next_index
        L = cfg.audio_lookback + 1 + ahead
        while self._state.next_index < n_out:
            i = self._state.next_index
            lo = i - cfg.audio_lookback
            rows = self._feats[max(lo, self._feat_lo) - self._feat_lo:i + ahead + 1 - self._feat_lo]
            if lo < self._feat_lo:           # frames before 0: masked by the model anyway
                rows = torch.cat([rows.new_zeros(self._feat_lo - lo, rows.shape[1]), rows])
            outputs.append(self.model.step(self._state, rows[None, :L]))
        self._trim()
        if not outputs:
            return []
        return self.mapper(torch.cat(outputs), self._origin, k0, cfg.fps)

    def _trim(self) -> None:
        """Drop audio and features no future frame can read: bounded memory and work."""
        keep_from, _ = self.frontend.required_range(self._feat_next, 1)
        drop = keep_from - self._a0
        if drop > 0:
            self._audio = self._audio[drop:]
            self._a0 = keep_from
        first_needed = self._state.next_index - self.cfg.audio_lookback
        drop_f = first_needed - self._feat_lo
        if drop_f > 0:
            self._feats = self._feats[drop_f:]
            self._feat_lo = first_needed


@torch.no_grad()
def infer_offline(model: Learn2TalkRegressor, audio: np.ndarray, rig: "RigData | None" = None,
                  device: torch.device | str | None = None, style: int = 0,
                  t0: float = 0.0) -> list[MotionFrame]:
    """Whole-clip inference with the same look-ahead and windows as the streaming engine."""
    device = torch.device(device) if device is not None else torch.device("cpu")
    model = model.to(device).eval()
    n = n_frames_for(len(audio), model.config.fps)
    x = torch.as_tensor(np.asarray(audio, np.float32), device=device)[None]
    y = model.infer(x, n, style)[0]
    return OutputMapper(model, rig)(y, t0, 0, model.config.fps)

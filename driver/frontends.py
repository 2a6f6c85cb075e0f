"""Audio front ends: 16 kHz audio -> one feature vector per motion frame (30 fps).

Both front ends are *windowed* functions: the feature of motion frame k depends only on the
audio in [s_k - past_samples, s_k + future_samples], where s_k = k * 16000 / fps is the frame's
time in samples on an absolute grid. That one rule is what lets the streaming engine compute a
frame from a bounded slice of audio and get exactly the number offline inference gets from the
whole (zero-padded) file: both call `features()` with audio indexed in absolute samples.

- `LogMelFrontEnd`: 80-bin log-mel (25 ms window, 10 ms hop, transformers' mel filters) and a
  small dilated conv stack at 100 Hz, linearly interpolated to frame times. ~0.3 s of context,
  a few hundred microseconds per frame on a CPU: the embedded default.
- `Wav2Vec2FrontEnd`: transformers' Wav2Vec2Model (FaceFormer's encoder) run over a bounded
  window ending `lookahead_s` after the frame, 50 Hz hidden states interpolated to the frame
  time. Faithful to Learn2Talk for users with the pretrained weights; heavy without a GPU.
"""
from __future__ import annotations

import math
from abc import abstractmethod
from pathlib import Path
from typing import Any

import torch
from torch import nn

from driver.audio import MOTION_FPS, SAMPLE_RATE
from splat.errors import UserInputError


def frame_sample(k: int, fps: float = MOTION_FPS) -> float:
    """Time of motion frame k in samples (fractional: 30 fps does not divide 16 kHz)."""
    return k * SAMPLE_RATE / fps


class FrontEnd(nn.Module):
    """Common interface; subclasses implement `features` and `config_dict`."""

    kind: str = ""
    feature_dim: int
    fps: float = MOTION_FPS
    past_samples: int     # audio needed before a frame's time
    future_samples: int   # audio needed after a frame's time: the front end's look-ahead

    @property
    def lookahead_s(self) -> float:
        return self.future_samples / SAMPLE_RATE

    @abstractmethod
    def features(self, audio: torch.Tensor, a0: int, k0: int, n: int) -> torch.Tensor:
        """Features (B,n,D) of frames k0..k0+n-1 from `audio` (B,S) whose sample 0 is absolute
        sample `a0`. The slice must cover [s_k0 - past_samples, s_last + future_samples]."""

    @abstractmethod
    def config_dict(self) -> dict[str, Any]:
        """Everything needed to rebuild this front end's structure (weights come separately)."""

    def required_range(self, k0: int, n: int) -> tuple[int, int]:
        """Absolute sample range [lo, hi) that `features(.., k0, n)` reads."""
        lo = math.floor(frame_sample(k0, self.fps)) - self.past_samples
        hi = math.ceil(frame_sample(k0 + n - 1, self.fps)) + self.future_samples
        return lo, hi

    def offline(self, audio: torch.Tensor, n_frames: int) -> torch.Tensor:
        """Features of frames 0..n_frames-1 of a whole clip (B,S); silence is assumed before
        the clip and after its end, exactly as the streaming engine assumes."""
        lo, hi = self.required_range(0, n_frames)
        padded = torch.nn.functional.pad(audio, (-lo, max(0, hi - audio.shape[-1])))
        return self.features(padded, lo, 0, n_frames)

    def _check_range(self, audio: torch.Tensor, a0: int, k0: int, n: int) -> None:
        lo, hi = self.required_range(k0, n)
        if lo < a0 or hi > a0 + audio.shape[-1]:
            raise ValueError(f"audio [{a0}, {a0 + audio.shape[-1]}) does not cover frames "
                             f"{k0}..{k0 + n - 1}, which need [{lo}, {hi})")


# ------------------------------------------------------------------------------------ log-mel

class LogMelFrontEnd(FrontEnd):
    """Log-mel + dilated conv stack; cheap enough to run per 33 ms hop on a laptop CPU.

    Mel frame m is centred on absolute sample m*hop. The conv stack is 'valid' (no padding), so
    its output for mel frame m sees mel frames [m - past_mel, m + future_mel]: the asymmetric
    split gives ~0.3 s of past context with a small look-ahead.
    """

    kind = "logmel"

    def __init__(self, n_mels: int = 80, win_ms: float = 25.0, hop_ms: float = 10.0,
                 channels: int = 128, dilations: tuple[int, ...] = (1, 2, 4, 8),
                 future_mel: int = 6) -> None:
        super().__init__()
        self.n_mels, self.channels, self.dilations = n_mels, channels, tuple(dilations)
        self.win = int(round(win_ms * SAMPLE_RATE / 1000))
        self.hop = int(round(hop_ms * SAMPLE_RATE / 1000))
        self.n_fft = 1 << (self.win - 1).bit_length()
        self.receptive_mel = 1 + 2 * sum(self.dilations)
        half = self.win // 2
        lowest = self.lowest_future_mel(self.win, self.hop)
        if not lowest <= future_mel < self.receptive_mel:
            raise ValueError(f"future_mel must be in {lowest}..{self.receptive_mel - 1}")
        self.future_mel = future_mel
        self.past_mel = self.receptive_mel - 1 - future_mel
        self.feature_dim = channels
        # Interpolating at frame time x needs conv outputs floor(x) and floor(x)+1.
        self.past_samples = self.hop * (self.past_mel + 1) + half
        self.future_samples = self.hop * (self.future_mel + 1) + (self.win - half)

        from transformers.audio_utils import mel_filter_bank
        fb = mel_filter_bank(num_frequency_bins=self.n_fft // 2 + 1, num_mel_filters=n_mels,
                             min_frequency=20.0, max_frequency=SAMPLE_RATE / 2,
                             sampling_rate=SAMPLE_RATE, norm="slaney", mel_scale="slaney")
        self.register_buffer("mel_fb", torch.as_tensor(fb, dtype=torch.float32), persistent=False)
        self.register_buffer("window", torch.hann_window(self.win, periodic=True),
                             persistent=False)
        layers: list[nn.Module] = []
        c_in = n_mels
        for i, d in enumerate(self.dilations):
            layers.append(nn.Conv1d(c_in, channels, kernel_size=3, dilation=d))
            if i < len(self.dilations) - 1:
                layers.append(nn.GELU())
            c_in = channels
        self.convs = nn.Sequential(*layers)

    @staticmethod
    def lowest_future_mel(win: int, hop: int) -> int:
        """The most negative `future_mel` whose window still ends at or after the frame time.

        A negative value makes the conv stack purely causal: output m sees only mel frames up to
        m + future_mel < m, so the front end needs almost no audio after the frame (2.5 ms at
        25 ms windows and 10 ms hops); anything lower would need audio the frame never waits for.
        """
        return -((win - win // 2) // hop) - 1

    @classmethod
    def future_mel_for(cls, lookahead_ms: float, win_ms: float = 25.0,
                       hop_ms: float = 10.0) -> int:
        """The largest `future_mel` whose look-ahead is at most `lookahead_ms`: how a training
        run turns a latency budget into the front end's structure."""
        win = int(round(win_ms * SAMPLE_RATE / 1000))
        hop = int(round(hop_ms * SAMPLE_RATE / 1000))
        budget = lookahead_ms * SAMPLE_RATE / 1000
        future = math.floor((budget - (win - win // 2)) / hop) - 1
        lowest = cls.lowest_future_mel(win, hop)
        if future < lowest:
            least_ms = (hop * (lowest + 1) + win - win // 2) * 1000 / SAMPLE_RATE
            raise UserInputError(f"a look-ahead of {lookahead_ms:g} ms is below the log-mel "
                                 f"front end's least ({least_ms:g} ms)")
        return future

    def config_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "n_mels": self.n_mels,
                "win_ms": self.win * 1000 / SAMPLE_RATE, "hop_ms": self.hop * 1000 / SAMPLE_RATE,
                "channels": self.channels, "dilations": list(self.dilations),
                "future_mel": self.future_mel}

    def log_mel(self, audio: torch.Tensor, a0: int, m_lo: int, m_hi: int) -> torch.Tensor:
        """Log-mel (B, n_mels, m_hi-m_lo) of absolute mel frames m_lo..m_hi-1."""
        start = m_lo * self.hop - self.win // 2 - a0
        length = (m_hi - m_lo - 1) * self.hop + self.win
        frames = audio[:, start:start + length].unfold(-1, self.win, self.hop)  # (B,M,win)
        spec = torch.fft.rfft(frames * self.window, n=self.n_fft).abs().pow(2)
        mel = spec @ self.mel_fb
        # Fixed (not per-utterance) scaling keeps the front end causal and stream-exact.
        return ((torch.log10(mel.clamp_min(1e-8)) + 4.0) / 4.0).transpose(1, 2)

    def features(self, audio: torch.Tensor, a0: int, k0: int, n: int) -> torch.Tensor:
        self._check_range(audio, a0, k0, n)
        x = torch.tensor([frame_sample(k, self.fps) / self.hop for k in range(k0, k0 + n)],
                         dtype=torch.float64)
        base = torch.floor(x).long()
        frac = (x - base).to(audio.dtype).to(audio.device)
        c_lo = int(base[0])                                  # conv outputs c_lo..c_hi
        c_hi = int(base[-1]) + 1
        mel = self.log_mel(audio, a0, c_lo - self.past_mel, c_hi + self.future_mel + 1)
        h = self.convs(mel).transpose(1, 2)                  # (B, c_hi-c_lo+1, C)
        idx = (base - c_lo).to(audio.device)
        frac = frac[None, :, None]
        return h[:, idx] * (1 - frac) + h[:, idx + 1] * frac


# ----------------------------------------------------------------------------------- wav2vec2

W2V_STRIDE = 320      # samples per 50 Hz hidden state (product of the CNN strides)
W2V_FIELD = 400       # samples one hidden state's CNN sees


class Wav2Vec2FrontEnd(FrontEnd):
    """transformers' Wav2Vec2Model over a bounded window per motion frame.

    Each frame k runs the encoder on [floor(s_k) - context, floor(s_k) + lookahead), normalised
    to zero mean / unit variance as wav2vec2 expects, and interpolates its 50 Hz states at s_k.
    A fixed window per frame (rather than one pass over the whole file) is what makes streaming
    give the same numbers as offline; frames are batched for speed offline.
    """

    kind = "wav2vec2"

    def __init__(self, model_dir: str | Path | None = None, *, hf_config: dict | None = None,
                 context_s: float = 0.8, lookahead_s: float = 0.06,
                 batch_windows: int = 32) -> None:
        super().__init__()
        from transformers import Wav2Vec2Config, Wav2Vec2Model

        if model_dir is not None:
            path = Path(model_dir)
            if not (path / "config.json").is_file():
                raise UserInputError(f"{path}: not a wav2vec2 model folder (no config.json)")
            try:
                self.encoder = Wav2Vec2Model.from_pretrained(str(path), local_files_only=True)
            except (OSError, ValueError, RuntimeError) as exc:
                raise UserInputError(f"{path}: cannot load wav2vec2 weights ({exc})") from None
        elif hf_config is not None:
            self.encoder = Wav2Vec2Model(Wav2Vec2Config.from_dict(hf_config))
        else:
            raise ValueError("Wav2Vec2FrontEnd needs model_dir or hf_config")
        cfg = self.encoder.config
        if tuple(cfg.conv_stride) != (5, 2, 2, 2, 2, 2, 2) or tuple(cfg.conv_kernel) != (
                10, 3, 3, 3, 3, 2, 2):
            raise UserInputError("wav2vec2 model has a non-standard CNN; 50 Hz states expected")
        self.encoder.freeze_feature_encoder()     # FaceFormer: the CNN stays frozen
        self.feature_dim = int(cfg.hidden_size)
        self.context = int(round(context_s * SAMPLE_RATE))
        self.ahead = int(round(lookahead_s * SAMPLE_RATE))
        if self.ahead < W2V_FIELD:
            raise ValueError(f"lookahead_s must be >= {W2V_FIELD / SAMPLE_RATE} s")
        self.window_len = self.context + self.ahead
        self.batch_windows = batch_windows
        self.past_samples = self.context + 1
        self.future_samples = self.ahead

    def config_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "hf_config": self.encoder.config.to_dict(),
                "context_s": self.context / SAMPLE_RATE, "lookahead_s": self.ahead / SAMPLE_RATE}

    def features(self, audio: torch.Tensor, a0: int, k0: int, n: int) -> torch.Tensor:
        self._check_range(audio, a0, k0, n)
        B = audio.shape[0]
        times = [frame_sample(k, self.fps) for k in range(k0, k0 + n)]
        starts = [math.floor(t) - self.context - a0 for t in times]
        windows = torch.stack([audio[:, s:s + self.window_len] for s in starts], dim=1)
        windows = windows.reshape(B * n, self.window_len)
        mean = windows.mean(-1, keepdim=True)
        var = windows.var(-1, unbiased=False, keepdim=True)
        windows = (windows - mean) / torch.sqrt(var + 1e-7)
        hidden = torch.cat([self.encoder(chunk).last_hidden_state
                            for chunk in windows.split(self.batch_windows)])  # (B*n, F, H)
        # Hidden state i is centred on sample i*stride + field/2 of its window.
        pos = torch.tensor([(t - (math.floor(t) - self.context) - W2V_FIELD / 2) / W2V_STRIDE
                            for t in times], dtype=torch.float64)
        i0 = torch.floor(pos).long()
        w = (pos - i0).to(hidden.dtype).to(hidden.device).repeat(B)[:, None]
        i0 = i0.repeat(B).to(hidden.device)
        rows = torch.arange(B * n, device=hidden.device)
        out = hidden[rows, i0] * (1 - w) + hidden[rows, i0 + 1] * w
        return out.reshape(B, n, -1)


def build_frontend(cfg: dict[str, Any]) -> FrontEnd:
    """Rebuild a front end's structure from `config_dict()` output (checkpoints use this)."""
    cfg = dict(cfg)
    kind = cfg.pop("kind", None)
    if kind == LogMelFrontEnd.kind:
        if "dilations" in cfg:
            cfg["dilations"] = tuple(cfg["dilations"])
        return LogMelFrontEnd(**cfg)
    if kind == Wav2Vec2FrontEnd.kind:
        return Wav2Vec2FrontEnd(hf_config=cfg.pop("hf_config"), **cfg)
    raise UserInputError(f"unknown audio front end {kind!r} (expected logmel or wav2vec2)")


def tiny_wav2vec2_config(hidden: int = 32, layers: int = 2) -> dict[str, Any]:
    """A small randomly-initialisable Wav2Vec2Config dict (tests, cost benchmarks): standard
    50 Hz CNN geometry, everything else shrunk. `hidden=768, layers=12` is base-sized."""
    from transformers import Wav2Vec2Config

    base = hidden >= 768
    return Wav2Vec2Config(
        hidden_size=hidden, num_hidden_layers=layers,
        num_attention_heads=12 if base else 2, intermediate_size=hidden * 4,
        conv_dim=(512,) * 7 if base else (32,) * 7,
        num_conv_pos_embeddings=128 if base else 16,
        num_conv_pos_embedding_groups=16 if base else 2,
        mask_time_prob=0.0, layerdrop=0.0,
    ).to_dict()


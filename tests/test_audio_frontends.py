"""Front ends: features at 30 fps from a bounded window, identical whether computed offline or
from a slice (what streaming relies on); wav2vec2 from a local folder only."""
import pytest
import torch

from driver.frontends import (LogMelFrontEnd, Wav2Vec2FrontEnd, build_frontend,
                              tiny_wav2vec2_config)
from splat.errors import UserInputError


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def slice_matches_offline(fe, seconds=1.5, k0=17, n=6):
    audio = torch.randn(1, int(seconds * 16000)) * 0.1
    total = int(seconds * 30)
    with torch.no_grad():
        full = fe.offline(audio, total)
        lo, hi = fe.required_range(k0, n)
        a0 = fe.required_range(0, total)[0]
        padded = torch.nn.functional.pad(audio, (-a0, 4000))
        part = fe.features(padded[:, lo - a0:hi - a0], lo, k0, n)
    assert full.shape == (1, total, fe.feature_dim)
    assert torch.allclose(part, full[:, k0:k0 + n], atol=1e-5)
    with pytest.raises(ValueError, match="does not cover"):
        fe.features(padded[:, lo - a0 + 1:hi - a0], lo + 1, k0, n)
    return full


def test_logmel_front_end_window_and_lookahead():
    fe = LogMelFrontEnd().eval()
    assert fe.feature_dim == 128 and fe.fps == 30.0
    assert fe.lookahead_s < 0.1 and fe.past_samples > fe.future_samples
    slice_matches_offline(fe)
    again = build_frontend(fe.config_dict())
    assert again.config_dict() == fe.config_dict()


def test_logmel_depends_only_on_its_receptive_field():
    fe = LogMelFrontEnd(n_mels=16, channels=8).eval()
    audio = torch.randn(1, 32000) * 0.1
    k = 30                                          # t = 1.0 s = sample 16000
    changed = audio.clone()
    changed[:, 16000 + fe.future_samples + 1:] = 0.7     # beyond the look-ahead
    changed[:, :16000 - fe.past_samples - 1] = -0.3     # before the context
    with torch.no_grad():
        a, b = fe.offline(audio, 60), fe.offline(changed, 60)
    assert torch.allclose(a[:, k], b[:, k], atol=1e-6)
    assert not torch.allclose(a[:, k + 4], b[:, k + 4])


@pytest.mark.parametrize("future_mel", [-2, 0])
def test_short_lookahead_front_end_ignores_audio_after_its_window(future_mel):
    """A negative future_mel makes the conv stack causal: a frame's feature must not move when
    anything after its 2.5 ms (or 22.5 ms) look-ahead changes, and slices still equal offline."""
    fe = LogMelFrontEnd(n_mels=16, channels=8, future_mel=future_mel).eval()
    assert fe.future_samples == {-2: 40, 0: 360}[future_mel]
    slice_matches_offline(fe)
    audio = torch.randn(1, 32000) * 0.1
    changed = audio.clone()
    changed[:, 16000 + fe.future_samples + 1:] = 0.7
    with torch.no_grad():
        a, b = fe.offline(audio, 60), fe.offline(changed, 60)
    assert torch.allclose(a[:, 30], b[:, 30], atol=1e-6)
    assert not torch.allclose(a[:, 31], b[:, 31])


def test_lookahead_budget_picks_the_largest_window_that_fits():
    picks = {ms: LogMelFrontEnd.future_mel_for(ms) for ms in (2.5, 22.5, 40, 62.5, 82.5)}
    assert picks == {2.5: -2, 22.5: 0, 40: 1, 62.5: 4, 82.5: 6}
    for ms, future in picks.items():
        assert LogMelFrontEnd(future_mel=future).lookahead_s * 1000 <= ms + 1e-9
    with pytest.raises(UserInputError, match="below the log-mel front end's least"):
        LogMelFrontEnd.future_mel_for(1.0)
    with pytest.raises(ValueError, match="future_mel must be in -2"):
        LogMelFrontEnd(future_mel=-3)


def test_wav2vec2_from_local_folder(tmp_path):
    from transformers import Wav2Vec2Config, Wav2Vec2Model

    Wav2Vec2Model(Wav2Vec2Config.from_dict(tiny_wav2vec2_config())).save_pretrained(tmp_path)
    fe = Wav2Vec2FrontEnd(tmp_path, context_s=0.3, lookahead_s=0.05).eval()
    assert fe.feature_dim == 32
    assert not any(p.requires_grad for p in fe.encoder.feature_extractor.parameters())
    assert any(p.requires_grad for p in fe.encoder.encoder.parameters())
    slice_matches_offline(fe, seconds=1.0, k0=5, n=4)
    rebuilt = build_frontend(fe.config_dict())
    rebuilt.load_state_dict(fe.state_dict())
    rebuilt.eval()
    audio = torch.randn(1, 8000)
    with torch.no_grad():
        assert torch.allclose(rebuilt.offline(audio, 5), fe.offline(audio, 5), atol=1e-5)
        # Input normalisation: loudness does not change the features.
        assert torch.allclose(fe.offline(audio * 5, 5), fe.offline(audio, 5), atol=1e-3)


def test_wav2vec2_folder_errors(tmp_path):
    with pytest.raises(UserInputError, match="not a wav2vec2 model folder"):
        Wav2Vec2FrontEnd(tmp_path)
    (tmp_path / "config.json").write_text('{"model_type": "wav2vec2"}')
    with pytest.raises(UserInputError, match="cannot load"):
        Wav2Vec2FrontEnd(tmp_path)
    with pytest.raises(UserInputError, match="unknown audio front end"):
        build_frontend({"kind": "mfcc"})

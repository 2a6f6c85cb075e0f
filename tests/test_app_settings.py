"""Settings persist in $XDG_CONFIG_HOME and survive damaged files."""
from __future__ import annotations

import json

from avatar_app.settings import Settings, load_settings, save_settings, settings_path


def test_round_trip_in_xdg_config_home(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    s = Settings(input_device="USB mic", render_size=384, blink=False, background=[0, 0.5, 1])
    save_settings(s)
    assert settings_path() == tmp_path / "talking-splat" / "settings.json"
    assert load_settings() == s


def test_bad_values_fall_back_to_defaults(tmp_path):
    path = tmp_path / "settings.json"
    path.write_text(json.dumps({"render_size": "big", "blink": 1, "gate_mode": "noise",
                                "background": [1, 2], "unknown": 3}))
    s = load_settings(path)
    assert s.render_size == 512 and s.blink is True and s.background == [1.0, 1.0, 1.0]
    assert s.gate_mode == "noise"
    path.write_text("{not json")
    assert load_settings(path) == Settings()


def test_identity_sliders_round_trip_and_bad_entries_are_dropped(tmp_path):
    path = tmp_path / "settings.json"
    s = Settings(identity={"": {"jaw_width": 0.5}, "/heads/human_avatar": {"nose_size": -1.0}})
    save_settings(s, path)
    assert load_settings(path) == s
    path.write_text(json.dumps({"identity": {
        "a": {"nose_size": 0.25, "big": 9.0, "flag": True, "text": "x"},
        "b": {"nose_size": float("nan")}, "c": [1.0], "d": {}}}))
    assert load_settings(path).identity == {"a": {"nose_size": 0.25}}
    path.write_text(json.dumps({"identity": [1, 2]}))
    assert load_settings(path).identity == {}

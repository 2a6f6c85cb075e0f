"""Everything a person touches: the window, microphone, playback, recording, CLI commands."""

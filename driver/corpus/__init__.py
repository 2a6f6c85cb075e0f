"""The synthetic audio-visual corpus: text, TTS with exact phone timings, augmentation, the
articulatory motion model, external aligned speech, VOCASET, and the training dataset."""

"""Audio to motion: audio I/O and features, the Learn2Talk regressor, streaming, training."""

"""Settings and data shared by the tests. No Qt: core tests import this too."""

from __future__ import annotations

#: Small, fast settings that still separate the synthetic classes.
#: float32 so that a saved model (always float32) predicts exactly what the trained one did.
TINY = dict(backbone="none", image_size=32, stem_stride=1, blocks=3, base_filters=16, convs_per_block=1, epochs=4, batch_size=16,
            patience=10, learning_rate=3e-3, precision="float32")

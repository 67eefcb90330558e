"""Named grids. `bench run` with no arguments runs DEFAULT: it must finish in under 10 minutes on a
2-core CPU with the embedded data (no GPU, no download)."""

from __future__ import annotations

DEFAULT = {
    # With the RecBole baselines the whole suite took 3.5 minutes here (cold cache: text vectors computed too).
    "methods": ["random", "like-ratio", "popularity", "gru4rec", "caser", "sasrec", "gru4rec-text", "sasrec-text"],
    "shots": [16, 64, 256],
    "seeds": [0, 1, 2, 3, 4],
    "train": ["movie"],
    "test": ["movie"],
}

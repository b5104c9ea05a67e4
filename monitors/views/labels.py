"""How cooperation types are named and coloured in pictures, tables and feeds."""

from __future__ import annotations

# Okabe-Ito colours: told apart by most colour-blind readers.
TYPE_COLOURS = {
    "meeting_visit": "#0072B2",
    "exercise": "#D55E00",
    "arms_transfer": "#CC79A7",
    "agreement": "#009E73",
    "industry": "#E69F00",
    "training": "#56B4E9",
    "aid": "#F0E442",
    "other": "#999999",
}
TYPE_LABELS = {
    "meeting_visit": "meeting/visit",
    "exercise": "exercise",
    "arms_transfer": "arms transfer",
    "agreement": "agreement",
    "industry": "industry",
    "training": "training",
    "aid": "aid",
    "other": "other",
}

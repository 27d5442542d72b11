"""The fixture dataset (fixtures/dataset) as snapshots a driver saves: arrays and images loaded."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

DATASET = Path(__file__).resolve().parent.parent / "fixtures" / "dataset"


def users() -> list[dict[str, Any]]:
    return json.loads((DATASET / "users.json").read_text())  # type: ignore[no-any-return]


def snapshots() -> list[dict[str, Any]]:
    """Each snapshot with its colour image as a PIL image and its depth map as an array."""
    loaded = []
    for snapshot in json.loads((DATASET / "snapshots.json").read_text()):
        color, depth = snapshot["color_image"], snapshot["depth_image"]
        with Image.open(DATASET / color.pop("path")) as image:
            color["data"] = image.copy()
        depth["data"] = np.load(DATASET / depth.pop("path"))
        loaded.append(snapshot)
    return loaded

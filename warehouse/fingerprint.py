"""Short content fingerprints of JSON-encodable parts (inputs of a stage, parameters of a run)."""

from __future__ import annotations

import hashlib
import json
from typing import Any


def digest(*parts: Any) -> str:
    """A short sha256 of JSON-encodable parts (keys sorted; other objects by `str`)."""
    text = json.dumps(parts, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]

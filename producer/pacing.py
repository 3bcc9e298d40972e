"""When each record is due: a fixed rate, the original timing sped up, or as fast as possible."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime

from connectors.config import OptionError


@dataclass
class Pacer:
    """When each record is due: at ``rate`` records per second, at the file's own timing sped up, or at once."""

    rate: float | None = None  # records per second
    speedup: float | None = None  # original inter-event gaps divided by this
    _first_time: datetime | None = None

    def __post_init__(self) -> None:
        if self.rate is not None and self.speedup is not None:
            raise OptionError("choose --rate or --speedup, not both")
        for name in ("rate", "speedup"):
            value = getattr(self, name)
            # NaN compares false with everything, so "<= 0" alone would let it through (and hang)
            if value is not None and not (math.isfinite(value) and value > 0):
                raise OptionError(f"--{name} must be a finite number above 0, got {value}")

    @property
    def paced(self) -> bool:
        """Whether records wait for their time at all."""
        return self.rate is not None or self.speedup is not None

    def due(self, index: int, event_time: datetime) -> float:
        """Seconds after the start at which record number ``index`` (0-based) should be sent.

        With ``speedup``, an event earlier than the first one (out-of-order input) is due at once.
        """
        if self.rate is not None:
            return index / self.rate
        if self.speedup is not None:
            if self._first_time is None:
                self._first_time = event_time
            return max(0.0, (event_time - self._first_time).total_seconds() / self.speedup)
        return 0.0

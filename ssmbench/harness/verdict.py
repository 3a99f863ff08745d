"""A check's outcome: :class:`Verdict` (its claim, CONFIRMED/REFUTED/INCONCLUSIVE, the number
judged, its interval and the claim's scope)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .spec import Check

__all__ = ["Verdict", "CONFIRMED", "REFUTED", "INCONCLUSIVE"]

CONFIRMED = "CONFIRMED"
REFUTED = "REFUTED"
INCONCLUSIVE = "INCONCLUSIVE"


@dataclass
class Verdict:
    """The outcome of one check: its claim, CONFIRMED/REFUTED/INCONCLUSIVE and the evidence."""

    check: Check
    status: str
    message: str
    measured: dict[str, Any] = field(default_factory=dict)

    @property
    def claim(self) -> str:
        """The check's claim, as the suite states it."""
        return self.check.claim

    @property
    def verdict(self) -> str:
        """CONFIRMED, REFUTED or INCONCLUSIVE (the same as ``status``)."""
        return self.status

    @property
    def scope(self) -> str | None:
        """The claim's scope (e.g. "our derivation", "reduced setting"), if the suite gives one."""
        return self.check.scope or None

    @property
    def estimate(self) -> float | None:
        """The judged number: a threshold's value, a ratio check's difference ``a - k b``, a
        slope; None for checks judged over several entries (each, ordering)."""
        for k in ("value", "diff", "slope"):
            if k in self.measured:
                return float(self.measured[k])
        return None

    @property
    def interval(self) -> tuple[float, float] | None:
        """The estimate's interval ``(lo, hi)`` at the check's confidence, if it has one."""
        if "lo" in self.measured and "hi" in self.measured:
            return float(self.measured["lo"]), float(self.measured["hi"])
        return None

    def line(self) -> str:
        """The verdict line of the summary: verdict, claim, evidence and the claim's scope."""
        scope = f" [scope: {self.check.scope}]" if self.check.scope else ""
        return f"**{self.status}**{scope}: {self.check.claim} — {self.message}"

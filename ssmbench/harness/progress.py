"""Progress of a run: a tqdm bar on a terminal, plain per-cell lines otherwise.

The time left is estimated per experiment: the cells still to run of each experiment times the
mean wall time of that experiment's finished cells (the mean over all finished cells for an
experiment with none finished yet). Cells of different experiments differ by orders of magnitude,
so one average over all cells misleads.
"""

from __future__ import annotations

import math
import time
from collections import Counter, defaultdict
from typing import Any, TextIO

from .spec import Cell

__all__ = ["Progress", "hms"]


def hms(s: float) -> str:
    """Seconds as ``h:mm:ss``."""
    s = int(round(s))
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


class Progress:
    """Report each cell's start and finish, with the elapsed time and the estimated time left."""

    def __init__(self, cells: list[Cell], stream: TextIO | None):
        self.total, self.stream, self.done, self.t0 = len(cells), stream, 0, time.perf_counter()
        self.left = Counter(c.experiment for c in cells)
        self.walls: dict[str, list[float]] = defaultdict(list)
        self.bar = None
        if stream is not None and getattr(stream, "isatty", lambda: False)():
            try:
                from tqdm import tqdm

                self.bar = tqdm(total=self.total, file=stream, unit="cell", dynamic_ncols=True)
            except ImportError:  # tqdm is a core dependency; a stripped install gets lines
                self.bar = None

    def eta(self) -> float:
        """Seconds left: per experiment, its cells to run times its mean finished cell."""
        every = [w for ws in self.walls.values() for w in ws]
        if not every:
            return float("nan")
        overall = sum(every) / len(every)
        return sum(
            n * (sum(self.walls[e]) / len(self.walls[e]) if self.walls[e] else overall)
            for e, n in self.left.items()
        )

    def start(self, cell: Cell) -> None:
        """Announce that ``cell`` starts."""
        if self.bar is not None:
            self.bar.set_description_str(cell.label()[:60])
        elif self.stream:
            self.stream.write(f"[{self.done + 1}/{self.total}] {cell.label()} ...\n")
            self.stream.flush()

    def finish(self, cell: Cell, rec: dict[str, Any]) -> None:
        """Report a finished cell's status and wall time, and the estimated time left."""
        self.done += 1
        self.left[cell.experiment] -= 1
        if rec.get("wall_s") is not None:
            self.walls[cell.experiment].append(float(rec["wall_s"]))
        eta = self.eta()
        eta_text = "?" if math.isnan(eta) else hms(eta)
        if self.bar is not None:
            self.bar.set_postfix_str(f"{rec['status']}, ETA {eta_text}")
            self.bar.update(1)
            return
        if not self.stream:
            return
        el = time.perf_counter() - self.t0
        wall = rec.get("wall_s")
        msg = f"    {cell.label()}: {rec['status']}" + ("" if wall is None else f" in {wall:.1f}s")
        if rec["error"]:
            msg += f" ({rec['error'][:120]})"
        msg += f" | {self.done}/{self.total} done, elapsed {hms(el)}, ETA {eta_text}\n"
        self.stream.write(msg)
        self.stream.flush()

    def close(self) -> None:
        """Close the terminal bar, if any."""
        if self.bar is not None:
            self.bar.close()

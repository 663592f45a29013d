"""Evaluating one map: the potential at one node per symmetry orbit, in chunks, until the frontier is closed.

:class:`MapEvaluation` keeps the evaluated orbits of one map; :meth:`MapEvaluation.run`
evaluates the allowed nodes (or the coarse grid first, with ``refine``), then
repeats the frontier check of :mod:`ionnet.core.frontier` until every node the
minimum reaches below the ceiling has all its neighbours evaluated, and
assembles the map (+inf where a node was excluded and not needed).
"""
from __future__ import annotations

import time
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from ..core import frontier
from ..core.symmetry import orbit_representatives
from ..errors import ModelError
from .checkpoint import Checkpoint

if TYPE_CHECKING:
    from pymatgen.core import Structure

    from ..potentials import Potential

__all__ = [
    "DEFAULT_CEILING_EV",
    "AUTO_CEILING_MAX_EV",
    "AUTO_CEILING_STEP_EV",
    "FRONTIER_SOURCE_TOL_EV",
    "REFINE_MARGIN_EV",
    "CHUNK_POINTS",
    "MapEvaluation",
]

#: Starting ``ceiling`` (eV above the grid minimum) of the frontier check with ``ceiling='auto'``.
DEFAULT_CEILING_EV = 3.0
#: ``ceiling='auto'`` raises the ceiling to the map's MPE (1D threshold), but not above this.
AUTO_CEILING_MAX_EV = 6.0
#: ... in steps of at most this many eV (when the current MPE is +inf or far above).
AUTO_CEILING_STEP_EV = 1.0
#: The frontier check counts every node within this of the minimum as a source.
FRONTIER_SOURCE_TOL_EV = 0.05
#: With ``refine=True`` a fine node is evaluated when a corner of its coarse cell is
#: below ``ceiling + REFINE_MARGIN_EV``.
REFINE_MARGIN_EV = 0.5
#: Points handed to the potential per call (checkpoint granularity).
CHUNK_POINTS = 512
#: Points of the first chunk when a progress bar is shown (doubling up to :data:`CHUNK_POINTS`).
FIRST_CHUNK_POINTS = 32


class MapEvaluation:
    """The evaluated symmetry orbits of one map.

    Parameters
    ----------
    index : int
        Map number (checkpoint entry, progress label).
    framework : pymatgen Structure
        The frozen atoms (probe excluded).
    pot : Potential
    ion : str
    shape : (3,) ints
    int_ops : ((k, 3, 3), (k, 3)) int arrays, or None
        The symmetry operations on node indices (None: every node its own orbit).
    excluded : (na, nb, nc) bool ndarray
        Nodes not evaluated unless the frontier check needs them.
    checkpoint : Checkpoint
    batch_size : int or None
        Passed to the potential.
    sites_frac : (S, 3) fractional positions or None
        The mobile-ion sites of this map: their basin minima are sources of the
        frontier check beside the minimum (the analysis' default ``'sites'`` sources).
    """

    def __init__(self, index: int, framework: Structure, pot: Potential, ion: str, shape: tuple[int, int, int],
                 int_ops: tuple[NDArray[np.int64], NDArray[np.int64]] | None, excluded: NDArray[np.bool_],
                 checkpoint: Checkpoint, *, batch_size: int | None = None, sites_frac=None):
        t0 = time.perf_counter()
        self.index, self.framework, self.pot, self.ion, self.shape = index, framework, pot, ion, tuple(shape)
        self.checkpoint, self.batch_size = checkpoint, batch_size
        self.sites_frac = sites_frac
        self.n_ops = 0 if int_ops is None else len(int_ops[0])
        rep = orbit_representatives(shape, *int_ops) if int_ops is not None else np.arange(int(np.prod(shape)))
        self.reps, inv = np.unique(rep, return_inverse=True)
        self.inv = inv.reshape(-1)
        self.excluded = excluded.reshape(-1)
        self.excluded_rep = self.excluded[self.reps]
        self.known = np.zeros(len(self.reps), dtype=bool)
        self.energy = np.full(len(self.reps), np.nan)
        idx, e = checkpoint.resumed(index, len(self.reps))
        self.known[idx], self.energy[idx] = True, e
        self.n_resumed, self.n_new, self.t_potential = int(idx.size), 0, 0.0
        self.t_setup = time.perf_counter() - t0
        self.bar = None
        self.n_chunks = 0

    # ------------------------------------------------------------------ evaluation
    def evaluate(self, rep_ids: NDArray[np.int64]) -> None:
        """Evaluate the orbits ``rep_ids`` not known yet, in chunks of :data:`CHUNK_POINTS`.

        Every finished chunk is kept in the checkpoint, also when the potential fails or is interrupted.
        """
        rep_ids = np.unique(rep_ids)
        rep_ids = rep_ids[~self.known[rep_ids]]
        if rep_ids.size == 0:
            return
        if self.bar is not None and self.bar.total is not None and self.bar.n + rep_ids.size > self.bar.total:
            self.bar.total = int(self.bar.n + rep_ids.size)  # rare: the frontier reached excluded nodes
            self.bar.refresh()
        try:
            start = 0
            while start < rep_ids.size:
                # with a visible bar the first chunks are small, so the rate and ETA show within seconds
                size = CHUNK_POINTS if self.bar is None else min(CHUNK_POINTS, FIRST_CHUNK_POINTS << self.n_chunks)
                self._chunk(rep_ids[start:start + size])
                self.n_chunks += 1
                start += size
        except BaseException:
            self.checkpoint.update(self.index, self.known, self.energy, force=True)  # keep every finished point
            raise

    def _chunk(self, chunk: NDArray[np.int64]) -> None:
        from ..potentials import potential_name

        frac = np.stack(np.unravel_index(self.reps[chunk], self.shape), axis=-1) / np.asarray(self.shape)
        t1 = time.perf_counter()
        e = np.asarray(
            self.pot.energies(self.framework, self.ion, frac, batch_size=self.batch_size, progress=False),
            dtype=np.float64,
        ).reshape(-1)
        self.t_potential += time.perf_counter() - t1
        if e.shape != (chunk.size,):
            raise ModelError(f"potential {potential_name(self.pot)!r} returned {e.shape} energies for {chunk.size} points")
        self.energy[chunk] = e
        self.known[chunk] = True
        self.n_new += int(chunk.size)
        if self.bar is not None:
            self.bar.update(int(chunk.size))
        self.checkpoint.update(self.index, self.known, self.energy)

    def _allowed(self, rep_ids: NDArray[np.int64]) -> NDArray[np.int64]:
        return rep_ids[~self.excluded_rep[rep_ids]]

    def grid(self, fill: float = np.nan) -> NDArray[np.float64]:
        """(na, nb, nc) energies of the known nodes, ``fill`` elsewhere."""
        return np.where(self.known[self.inv], self.energy[self.inv], fill).reshape(self.shape)

    # ---------------------------------------------------------------------- passes
    def first_pass(self, refine: bool) -> None:
        """All allowed orbits, or those of the coarse grid with ``refine``."""
        cand = np.unique(self.inv[frontier.coarse_mask(self.shape).reshape(-1)]) if refine else np.arange(len(self.reps))
        self.evaluate(self._allowed(cand))

    def refine_pass(self, ceiling_ev: float | None) -> None:
        """Full resolution inside the coarse cells with a corner below ceiling + :data:`REFINE_MARGIN_EV`."""
        e = self.grid(np.inf)
        e[~np.isfinite(e)] = np.inf
        if not np.isfinite(e).any():
            return
        cut = float(e.min()) + (DEFAULT_CEILING_EV if ceiling_ev is None else ceiling_ev) + REFINE_MARGIN_EV
        self.evaluate(self._allowed(np.unique(self.inv[(frontier.coarse_corner_min(e) <= cut).reshape(-1)])))

    def close_frontier(self, ceiling_ev: float) -> int:
        """Evaluate neighbours until every node reachable below ``min + ceiling_ev`` has all 26 known; the rounds."""
        rounds = 0
        while True:
            kn = self.known[self.inv].reshape(self.shape)
            e = self.grid()
            if not np.isfinite(e).any():
                return rounds
            reach = frontier.reachable_below(e, ceiling_ev, source_tol_ev=FRONTIER_SOURCE_TOL_EV, sites_frac=self.sites_frac)
            need = frontier.dilate26(reach) & ~kn
            if not need.any():
                return rounds
            rounds += 1
            self.evaluate(np.unique(self.inv[need.reshape(-1)]))

    def frontier_pass(self, ceiling_ev: float | None, auto_max_ev: float | None) -> tuple[float | None, int]:
        """The frontier check; with ``auto_max_ev`` the ceiling rises to the map's MPE (capped) so the
        MPE is exact.  Returns the ceiling reached and the rounds."""
        rounds, c = 0, ceiling_ev
        while c is not None:
            rounds += self.close_frontier(c)
            if auto_max_ev is None or c >= auto_max_ev:
                break
            t1 = frontier.mpe(self.grid(np.inf), self.sites_frac)
            if not t1 > c:  # also a NaN, which must never become the ceiling (it would never rise again)
                break
            # t1 (unknown nodes at +inf) is an upper bound: one more pass at t1 makes it exact
            c = min(t1, c + AUTO_CEILING_STEP_EV, auto_max_ev)
        return c, rounds

    def assemble(self, refine: bool) -> tuple[NDArray[np.float64], int]:
        """The map: +inf where excluded or never needed, refine-skipped nodes interpolated; and their count."""
        energies = self.grid(np.inf)
        if not refine:
            return energies, 0
        skipped = (~self.known[self.inv] & ~self.excluded).reshape(self.shape)
        if skipped.any():
            energies[skipped] = frontier.coarse_interpolate(self.grid())[skipped]
        return energies, int(skipped.sum())

    # ------------------------------------------------------------------------- all
    def run(self, *, refine: bool, ceiling_ev: float | None, auto_max_ev: float | None,
            progress: bool = False) -> tuple[NDArray[np.float64], dict]:
        """Evaluate the map; its energies (eV) and counts for the metadata.

        ``progress`` is any mode of :func:`ionnet.progress.progress_bar`.  Its total
        is fixed at the start (every allowed node not known yet: an upper bound, as
        ``refine`` and the frontier evaluate only what they need) and the bar ends
        at 100 % when the map is done.
        """
        from ..progress import progress_bar, resolve_mode

        bar = progress_bar(int((~self.known & ~self.excluded_rep).sum()), f"scan {self.ion} map {self.index + 1}",
                           unit="pt", mode=progress)
        self.bar = bar if resolve_mode(progress) != "off" else None
        try:
            self.first_pass(refine)
            if refine:
                self.refine_pass(ceiling_ev)
            c, rounds = self.frontier_pass(ceiling_ev, auto_max_ev)
            energies, n_interp = self.assemble(refine)
            bar.total = int(bar.n)  # done: whatever the upper bound was, the map is complete
            if hasattr(bar, "refresh"):
                bar.refresh()
        finally:
            bar.close()
            self.bar = None
        self.checkpoint.update(self.index, self.known, self.energy, force=True)
        return energies, {
            "n_nodes": int(np.prod(self.shape)),
            "n_orbits": len(self.reps),
            "n_symmetry_ops": self.n_ops,
            "n_evaluated": int(self.known.sum()),
            "n_evaluated_this_run": self.n_new,
            "n_resumed": self.n_resumed,
            "n_excluded": int(self.excluded.sum()),
            "n_excluded_evaluated": int((self.excluded_rep & self.known).sum()),
            "n_forbidden": int(np.isinf(energies).sum()),
            "frontier_rounds": rounds,
            "ceiling_ev": c,
            "n_interpolated": n_interp,
            "setup_s": round(self.t_setup, 4),
            "potential_s": round(self.t_potential, 4),
        }

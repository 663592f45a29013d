"""Text of the scenes: element colours and radii, names of formulae, models and directions, ticks, titles."""
from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

#: Jmol colours, except P (VESTA's lavender: Jmol's P and Fe are both orange).
_COLOR_OVERRIDES = {"P": (0.75, 0.61, 0.76)}


def _element_style(symbol: str) -> tuple[tuple[float, float, float], float]:
    """(RGB colour, sphere radius in Å) of an element: Jmol colours, 0.4 x covalent radius."""
    try:
        from ase.data import atomic_numbers, covalent_radii
        from ase.data.colors import jmol_colors

        z = atomic_numbers.get(symbol, 0)
        rgb = _COLOR_OVERRIDES.get(symbol, tuple(float(c) for c in jmol_colors[z]))
        r = float(np.clip(0.4 * covalent_radii[z], 0.22, 0.9)) if z else 0.35
        return rgb, r  # type: ignore[return-value]
    except ImportError:  # pragma: no cover - ase is in the structures extra
        import colorsys

        h = sum(map(ord, symbol)) * 0.137 % 1.0
        return colorsys.hsv_to_rgb(h, 0.6, 0.9), 0.4


def _symbols(structure) -> NDArray:
    out = []
    for site in structure.sites:
        sp = site.specie if hasattr(site, "specie") else site.species.elements[0]
        el = getattr(sp, "element", sp)
        out.append(str(getattr(el, "symbol", sp)))
    return np.asarray(out)


def _formula(result) -> str:
    """Reduced formula of the scanned compound (framework plus the removed mobile ions)."""
    st = result.grid.structure
    md = result.grid.metadata
    if st is None or not hasattr(st, "composition"):
        return ""
    try:
        comp = st.composition
        ion, n = md.get("ion"), int(md.get("n_removed") or 0)
        if ion and n and md.get("framework") == "empty":
            from pymatgen.core import Composition

            comp = comp + Composition({ion: n})
        return comp.reduced_formula
    except Exception:  # noqa: BLE001 - a title is decoration
        return ""


def _model_name(md: dict) -> str:
    model = str(md.get("model") or "")
    head = model.split(":")[0].lower()
    return {"bvse": "BVSE", "m3gnet": "M3GNet", "chgnet": "CHGNet"}.get(head, model)


def _direction_name(vectors) -> str:
    """Human name of the winding vectors of a component: 'b', '[110]', 'ab plane', '(011) plane', '3D'."""
    w = np.asarray(vectors, dtype=np.int64).reshape(-1, 3)
    if len(w) == 0:
        return ""
    rank = int(np.linalg.matrix_rank(w.astype(np.float64)))
    if rank >= 3:
        return "a, b, c"
    if rank == 1:
        v = w[np.argmin(np.abs(w).sum(axis=1) + 1000 * (np.abs(w).sum(axis=1) == 0))]
        v = v // np.gcd.reduce(np.abs(v))
        if v[np.flatnonzero(v)[0]] < 0:
            v = -v
        if (np.abs(v) == 1).sum() == 1 and (v != 0).sum() == 1:
            return "abc"[int(np.flatnonzero(v)[0])]
        return "[" + "".join(f"{x:d}" if x >= 0 else f"\u0305{-x:d}" for x in v) + "]"
    # a plane: Miller indices from the cross product of two independent windings
    best = None
    for i in range(len(w)):
        for j in range(i + 1, len(w)):
            n = np.cross(w[i], w[j])
            if np.any(n) and (best is None or np.abs(n).sum() < np.abs(best).sum()):
                best = n
    n = best // np.gcd.reduce(np.abs(best))
    if n[np.flatnonzero(n)[0]] < 0:
        n = -n
    if (n != 0).sum() == 1:
        return {0: "bc plane", 1: "ac plane", 2: "ab plane"}[int(np.flatnonzero(n)[0])]
    return "(" + " ".join(str(int(x)) for x in n) + ") plane"


def _nice_scale(lo: float, hi: float, n: int = 6) -> tuple[float, float, int, str]:
    """Round colour-bar limits: (vmin, vmax, number of labels, printf format) with round ticks."""
    from matplotlib.ticker import MaxNLocator

    lo, hi = float(lo), float(hi)
    if not hi > lo:
        lo, hi = lo - 0.05, hi + 0.05
    ticks = np.asarray(MaxNLocator(nbins=n - 1, steps=[1, 2, 5, 10]).tick_values(lo, hi), dtype=np.float64)
    step = float(ticks[1] - ticks[0])
    first = float(ticks[ticks <= lo + 1e-9 * step].max())  # the locator brackets [lo, hi]
    last = float(ticks[ticks >= hi - 1e-9 * step].min())
    count = int(round((last - first) / step)) + 1
    decimals = max(0, int(np.ceil(-np.log10(step) - 1e-9)))
    return first, last, count, f"%.{decimals}f"


def _threshold_text(result) -> str:
    pe = result.percolation_energy
    dirs = result.percolation_directions
    if not np.isfinite(pe[1]):
        return "no percolation within the scanned range"
    top = max(d for d in (1, 2, 3) if pe[d] <= pe[1] + 1e-6)  # 2D/3D already at the MPE
    if top == 1:
        bits = [f"MPE {pe[1]:.2f} eV along {_direction_name(dirs[1])}"]
    elif top == 2:
        bits = [f"MPE {pe[1]:.2f} eV, 2D in the {_direction_name(dirs[2])}"]
    else:
        bits = [f"MPE {pe[1]:.2f} eV, 3D"]
    for d in range(top + 1, 4):
        if np.isfinite(pe[d]):
            bits.append(f"{d}D {pe[d]:.2f} eV")
    return ", ".join(bits)


def _auto_title(result, t_main: float) -> str:
    md = result.grid.metadata
    head = [b for b in (_formula(result), md.get("ion") and f"{md['ion']} probe", _model_name(md)) if b]
    if md.get("framework") == "empty":
        head.append("empty framework")
    lines = []
    if head:
        lines.append(", ".join(head))
    lines.append(_threshold_text(result))
    lines.append(f"surface: E - E_min <= {t_main:.2f} eV")
    return "\n".join(lines)


def _origin_text(origin_frac) -> str:
    """'cell box from (0.32, 0, 0.39)' when the shown cells do not start at the origin, else ''."""
    o = np.asarray(origin_frac, dtype=np.float64)
    if not np.any(np.abs(o) > 1e-9):
        return ""
    return "cell box from (" + ", ".join("0" if abs(x) < 1e-9 else f"{x:.2f}" for x in o) + "), fractional"

"""Kinetic Monte Carlo (rejection-free, BKL) on a periodic hopping network: the cross-check of the exact D."""
from __future__ import annotations

import numpy as np
from numba import njit

__all__ = ["kmc_diffusion"]


@njit(cache=True)
def _kmc_walk(indptr, target, cum_rate, hop_cart, start, t_check, seed, max_hops):
    """Walk every walker until t_check[-1]; displacement (nw, K, 3) at each checkpoint time."""
    np.random.seed(seed)
    nw = start.shape[0]
    nk = t_check.shape[0]
    out = np.zeros((nw, nk, 3))
    hops = np.zeros(nw, dtype=np.int64)
    for w in range(nw):
        i = start[w]
        t = 0.0
        nh = 0
        d0 = 0.0
        d1 = 0.0
        d2 = 0.0
        kc = 0
        while kc < nk:
            lo = indptr[i]
            hi = indptr[i + 1]
            k = cum_rate[hi - 1] if hi > lo else 0.0
            if k > 0.0 and nh < max_hops:
                t_next = t - np.log(1.0 - np.random.random()) / k
            else:
                t_next = np.inf
            while kc < nk and t_check[kc] < t_next:  # checkpoints passed before the next hop
                out[w, kc, 0] = d0
                out[w, kc, 1] = d1
                out[w, kc, 2] = d2
                kc += 1
            if kc >= nk:
                break
            t = t_next
            r = np.random.random() * k
            a = lo
            b = hi - 1
            while a < b:  # first hop whose cumulative rate exceeds r
                mid = (a + b) // 2
                if cum_rate[mid] > r:
                    b = mid
                else:
                    a = mid + 1
            d0 += hop_cart[a, 0]
            d1 += hop_cart[a, 1]
            d2 += hop_cart[a, 2]
            i = target[a]
            nh += 1
        hops[w] = nh
    return out, hops


def _hop_table(n_sites, edges, images, log_w, log_pi, frac, lattice):
    """Both directions of every edge grouped by departure site (CSR).

    Returns ``indptr`` (S + 1,), ``target`` (2M,), the cumulative rates of each
    site's hops ``cum_rate`` (2M,, 1/s), the hop vectors ``hop`` (2M, 3, Å)
    and each site's total escape rate ``total`` (S,, 1/s).
    """
    i, j = edges[:, 0], edges[:, 1]
    d = (frac[j] + images - frac[i]) @ lattice
    src = np.concatenate([i, j])
    dst = np.concatenate([j, i])
    hop = np.concatenate([d, -d])
    with np.errstate(invalid="ignore"):
        rate = np.exp(np.concatenate([log_w - log_pi[i], log_w - log_pi[j]]))
    rate = np.where(np.isfinite(rate), rate, 0.0)
    order = np.argsort(src, kind="stable")
    src, dst, hop, rate = src[order], dst[order], hop[order], rate[order]
    indptr = np.zeros(n_sites + 1, dtype=np.int64)
    np.add.at(indptr, src + 1, 1)
    indptr = np.cumsum(indptr)
    cum = np.empty_like(rate)
    for s in range(n_sites):
        lo, hi = indptr[s], indptr[s + 1]
        cum[lo:hi] = np.cumsum(rate[lo:hi])
    total = np.zeros(n_sites)
    np.add.at(total, src, rate)
    return indptr, dst.astype(np.int64), cum, hop, total


def kmc_diffusion(
    n_sites: int,
    edges: np.ndarray,
    images: np.ndarray,
    log_w: np.ndarray,
    log_pi: np.ndarray,
    frac_coords: np.ndarray,
    lattice: np.ndarray,
    *,
    n_walkers: int = 2000,
    n_hops: int = 20000,
    seed: int | np.random.Generator | None = None,
) -> tuple[np.ndarray, np.ndarray, dict]:
    """Tracer D from kinetic Monte Carlo (rejection-free, BKL) on the same network.

    Walkers start from ``π`` and run for the time ``t`` in which an equilibrium
    walker makes ``n_hops`` hops on average.  ``D`` is the slope of the mean
    squared displacement between ``t/2`` and ``t``,
    ``<Δr Δrᵀ>(t) - <Δr Δrᵀ>(t/2) = 2 D t/2``, which cancels the bounded
    local (rattling) part of the displacement that biases ``<Δr Δrᵀ>/(2t)``
    along slow directions; the standard error is over walkers.

    Parameters
    ----------
    log_w : (M,) ndarray
        ln of the flux weights ``π_i k_ij`` (1/s); the rate of ``i -> j`` is
        ``exp(log_w - log_pi[i])``.
    log_pi : (S,) ndarray
        ln of the normalised site occupation ``π``.
    frac_coords : (S, 3) ndarray, fractional
    lattice : (3, 3) ndarray, Å

    Returns
    -------
    D : (3, 3) ndarray, Å²/s
    stderr : (3, 3) ndarray, Å²/s
    info : dict
        ``t_end_s``, ``mean_hops``, ``n_walkers``.
    """
    rng = np.random.default_rng(seed)
    edges = np.asarray(edges, dtype=np.int64).reshape(-1, 2)
    images = np.asarray(images, dtype=np.float64).reshape(-1, 3)
    frac = np.asarray(frac_coords, dtype=np.float64).reshape(-1, 3)
    lattice = np.asarray(lattice, dtype=np.float64)
    log_pi = np.asarray(log_pi, dtype=np.float64)
    log_w = np.asarray(log_w, dtype=np.float64)
    indptr, target, cum, hop, total = _hop_table(int(n_sites), edges, images, log_w, log_pi, frac, lattice)
    pi = np.exp(log_pi - log_pi.max())
    pi /= pi.sum()
    mean_rate = float(np.dot(pi, total))
    if not mean_rate > 0:
        return np.zeros((3, 3)), np.zeros((3, 3)), {"t_end_s": float("inf"), "mean_hops": 0.0, "n_walkers": n_walkers}
    t_end = float(n_hops) / mean_rate
    start = rng.choice(n_sites, size=int(n_walkers), p=pi).astype(np.int64)
    t_check = np.array([0.5 * t_end, t_end])
    disp, hops = _kmc_walk(
        indptr, target, cum, hop, start, t_check, int(rng.integers(2**31 - 1)), int(50 * n_hops + 1000)
    )
    x1, x2 = disp[:, 0], disp[:, 1]
    m = (np.einsum("wa,wb->wab", x2, x2) - np.einsum("wa,wb->wab", x1, x1)) / (2.0 * (t_end - t_check[0]))
    dmean = m.mean(axis=0)
    se = m.std(axis=0, ddof=1) / np.sqrt(len(m)) if len(m) > 1 else np.full((3, 3), np.inf)
    return dmean, se, {"t_end_s": t_end, "mean_hops": float(hops.mean()), "n_walkers": int(n_walkers)}

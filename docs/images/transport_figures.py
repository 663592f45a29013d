"""Figures of docs/transport.md: Arrhenius plot and percolation-path energy profile of LiFePO4 (BVSE).

Run from the repository root:  python docs/images/transport_figures.py
"""
from __future__ import annotations

import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

import ionnet  # noqa: E402
from ionnet.io import example_grid  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))


def arrhenius(res, grid_res, kmc):
    T = res.temperatures
    x = 1000.0 / T
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9.0, 3.8), constrained_layout=True)
    ev = res.eigenvalues
    ax1.semilogy(x, ev[:, 2], "-", color="C0", lw=2, label=r"$D_b$ (fast axis), harmonic $\nu=10^{13}$ Hz")
    ax1.semilogy(x, res.D_mean, "-", color="C1", lw=3, alpha=0.7, label=r"$D_{mean}=\mathrm{tr}\,D/3$")
    ax1.semilogy(x, res.D0 * np.exp(-res.ea / (ionnet.diffusion.KB_EV * T)), ":", color="k", lw=0.9,
                 label=f"Arrhenius fit of $D_{{mean}}$: $E_a$ = {res.ea:.3f} eV")
    ax1.semilogy(x, grid_res.eigenvalues[:, 2], "--", color="C2", lw=1.5, label=r"$D_b$, grid TST rates")
    kb = np.array([np.linalg.eigvalsh(d)[-1] for d in kmc.D])
    kse = np.array([kmc.D_stderr[k][1, 1] for k in range(len(kmc.temperatures))])
    ax1.errorbar(1000.0 / kmc.temperatures, kb, yerr=3 * kse, fmt="o", ms=5, color="C3", capsize=3,
                 label=r"$D_b$, KMC ($\pm 3$ SE)")
    ax1.set_xlabel("1000 / T (1/K)")
    ax1.set_ylabel(r"D (cm$^2$/s)")
    ax1.set_title("LiFePO$_4$ (BVSE, empty FePO$_4$ framework)", fontsize=10)
    ax1.legend(fontsize=7.5, loc="lower left")
    ax1.grid(alpha=0.3, which="both")
    top = ax1.secondary_xaxis("top", functions=(lambda v: 1000.0 / np.maximum(v, 1e-9), lambda t: 1000.0 / np.maximum(t, 1e-9)))
    top.set_xlabel("T (K)", fontsize=8)
    top.set_xticks([300, 400, 500, 700, 1000])
    ax2.semilogy(x, res.sigma, "-", color="C0", lw=2, label=r"Nernst–Einstein $\sigma$, $H_R = 1$")
    ax2.axhspan(1e-9, 1e-8, color="0.8", alpha=0.6, label="measured bulk LiFePO$_4$, 300 K")
    ax2.plot([1000.0 / 300], [res.sigma[0]], "o", color="C0")
    ax2.annotate(f"{res.sigma[0]:.1e} S/cm", (1000.0 / 300, res.sigma[0]), xytext=(-70, 12),
                 textcoords="offset points", fontsize=8)
    ax2.set_xlabel("1000 / T (1/K)")
    ax2.set_ylabel(r"$\sigma$ (S/cm)")
    ax2.set_title(f"n = {res.carrier_density:.2e} cm$^{{-3}}$ (4 Li per cell), dilute limit", fontsize=10)
    ax2.legend(fontsize=7.5, loc="upper right")
    ax2.grid(alpha=0.3, which="both")
    out = os.path.join(HERE, "transport_arrhenius.png")
    fig.savefig(out, dpi=110)
    return out


def profile(res, path):
    fig, ax = plt.subplots(figsize=(8.0, 3.4), constrained_layout=True)
    ax.plot(path.path_arc, path.path_energies, "-", color="0.4", lw=1.2, label="grid path (steepest descent)")
    ax.plot(path.arc_length, path.energies, "o", color="C3", ms=6, label=f"{path.n_images} NEB images + end points")
    ec = res.percolation_energy[1]
    ax.axhline(ec, color="C0", ls=":", lw=1, label=f"site-graph MPE {ec:.3f} eV")
    s = res.sites
    # mark the sites the path visits
    k = 0
    for site in path.sites:
        pos = np.flatnonzero(np.all(np.isclose(path.path_frac - np.floor(path.path_frac + 1e-9),
                                               s.frac_coords[site], atol=1e-6), axis=1))
        if pos.size:
            xk = path.path_arc[pos[0] if k == 0 else pos[-1] if site == path.sites[-1] and k == len(path.sites) - 1
                               else pos[0]]
            ax.annotate(f"site {site}", (xk, path.path_energies[pos[0]]), xytext=(0, -14), textcoords="offset points",
                        ha="center", fontsize=7, color="0.3")
        k += 1
    ax.set_xlabel("distance along the path (Å)")
    ax.set_ylabel("E − E$_{min}$ (eV)")
    ax.set_title(f"LiFePO$_4$ percolation path along b (one period, {path.path_arc[-1]:.2f} Å)", fontsize=10)
    ax.set_ylim(-0.08, ec + 0.25)
    ax.legend(fontsize=8, loc="upper center", ncol=3)
    ax.grid(alpha=0.3)
    out = os.path.join(HERE, "transport_path_profile.png")
    fig.savefig(out, dpi=110)
    return out


def main():
    g = example_grid("LiFePO4_bvse")
    a = ionnet.analyze(g)
    T = np.array([300, 350, 400, 450, 500, 600, 700, 800, 900, 1000], dtype=float)
    res = ionnet.transport(a, T)
    grid_res = ionnet.transport(a, T, rates="grid")
    kmc = ionnet.transport(a, [500.0, 700.0, 1000.0], method="kmc", n_walkers=4000, kmc_hops=20000, seed=1)
    path = res.percolation_path(n_images=11)
    for f in (arrhenius(res, grid_res, kmc), profile(res, path)):
        print(f"wrote {f} ({os.path.getsize(f) / 1024:.0f} KB)")


if __name__ == "__main__":
    main()

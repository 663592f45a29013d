"""The validation report: ``report.md``, ``metrics.json``, ``structures.csv`` and the figures."""
from __future__ import annotations

import csv
import json
import math
import os

import numpy as np

from .datasets import SUPERIONIC_S_CM
from .metrics import DESCRIPTORS, descriptor_value, roc_auc, roc_curve, spearman
from .runs import GROUP_NAMES, Options

__all__ = ["plots", "write"]

_LABELS = {
    "mpe": "MPE (eV)", "e2d": "2D threshold (eV)", "e3d": "3D threshold (eV)",
    "fv_0.5": "FV(0.5 eV)", "fv_0.9": "FV(0.9 eV)", "fv_1.5": "FV(1.5 eV)",
    "xi": "Xi (authors)", "xi_cell": "Xi (periodic FVc)",
}



def _fmt(v: float | None, nd: int = 2) -> str:
    return "–" if v is None or not np.isfinite(v) else f"{v:.{nd}f}"


def _json_default(o: object) -> object:
    if isinstance(o, (np.floating, np.integer)):
        return o.item()
    if isinstance(o, tuple):
        return list(o)
    return str(o)


def _scatter(out_dir: str, tag: str, records: list[dict], names: list[str]) -> str:
    """``scatter_<tag>.png``: each descriptor against measured log10 σ."""
    import matplotlib.pyplot as plt

    y = np.array([r["log10_sigma"] for r in records])
    cens = np.array([r["censored"] for r in records])
    sup = np.array([r["superionic"] for r in records], dtype=float)
    ncol = min(3, len(names))
    nrow = int(math.ceil(len(names) / ncol))
    fig, axes = plt.subplots(nrow, ncol, figsize=(4.2 * ncol, 3.6 * nrow), squeeze=False)
    for ax, name in zip(axes.ravel(), names):
        x = np.array([descriptor_value(r["row"], name) for r in records])
        fin = np.isfinite(x)
        xp = x.copy()
        note = ""
        if np.isinf(x).any():  # never percolates: drawn at the right edge
            right = (np.max(x[fin]) * 1.08 + 0.05) if fin.any() else 1.0
            xp[np.isinf(x)] = right
            ax.axvline(right, color="grey", lw=0.5, ls=":")
            note = f"; {int(np.isinf(x).sum())} never (right edge)"
        logx = False
        if DESCRIPTORS[name]:  # FV and Xi span decades: log axis, zeros at the left edge
            pos = xp[(xp > 0) & np.isfinite(xp)]
            if pos.size and pos.max() / pos.min() > 100:
                logx = True
                floor = pos.min() / 3
                if (xp <= 0).any():
                    note += f"; {int((xp <= 0).sum())} zero (left edge)"
                xp = np.where(xp <= 0, floor, xp)
        for mask, marker in ((~cens, "o"), (cens, "v")):
            m = mask & ~np.isnan(xp)
            ax.scatter(xp[m], y[m], s=18, marker=marker, alpha=0.7,
                       c=np.where(sup[m] > 0, "tab:red", "tab:blue"))
        if logx:
            ax.set_xscale("log")
        ax.axhline(math.log10(SUPERIONIC_S_CM), color="k", lw=0.6, ls="--")
        ax.set_xlabel(_LABELS.get(name, name))
        ax.set_ylabel("log10 σ (S/cm)")
        rho = spearman(x, y)
        ax.set_title(f"{name}: ρ = {_fmt(rho)}  (n = {int((~np.isnan(x)).sum())}{note})", fontsize=8)
    for ax in axes.ravel()[len(names):]:
        ax.axis("off")
    from matplotlib.lines import Line2D

    handles = [Line2D([], [], ls="", marker="o", color="grey", label="measured"),
               Line2D([], [], ls="", marker="v", color="grey", label="upper bound (<)"),
               Line2D([], [], ls="", marker="s", color="tab:red", label="≥ 1e-4 S/cm"),
               Line2D([], [], ls="", marker="s", color="tab:blue", label="< 1e-4 S/cm")]
    fig.legend(handles=handles, loc="lower center", ncol=4, fontsize=8, frameon=False)
    fig.suptitle(f"{tag}: descriptor vs measured room-temperature conductivity (OBELiX)", fontsize=10)
    fig.tight_layout(rect=(0, 0.05, 1, 1))
    path = os.path.join(out_dir, f"scatter_{tag}.png")
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path

def _roc(out_dir: str, tag: str, records: list[dict], names: list[str]) -> str:
    """``roc_<tag>.png``: the ROC curve of each descriptor for superionic vs the rest."""
    import matplotlib.pyplot as plt

    sup = np.array([r["superionic"] for r in records], dtype=float)
    fig, ax = plt.subplots(figsize=(4.8, 4.4))
    for name in names:
        x = np.array([descriptor_value(r["row"], name) for r in records])
        ok = ~np.isnan(x)
        score = x[ok] if DESCRIPTORS[name] else -x[ok]
        fpr, tpr, _ = roc_curve(score, sup[ok])
        ax.plot(fpr, tpr, label=f"{name} (AUC {_fmt(roc_auc(score, sup[ok]))})", lw=1.2)
    ax.plot([0, 1], [0, 1], color="grey", lw=0.6, ls="--")
    ax.set_xlabel("false positive rate")
    ax.set_ylabel("true positive rate")
    ax.set_title(f"{tag}: superionic (≥ 1e-4 S/cm) vs rest", fontsize=10)
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    path = os.path.join(out_dir, f"roc_{tag}.png")
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plots(out_dir: str, tag: str, records: list[dict]) -> list[str]:
    """The scatter and ROC figures of one population (matplotlib, no window)."""
    import matplotlib

    matplotlib.use("Agg")
    names = ["mpe", "e3d", "fv_0.9", "fv_0.5", "xi", "xi_cell"]
    return [_scatter(out_dir, tag, records, names), _roc(out_dir, tag, records, names)]




def _header(res: dict, opts: Options) -> list[str]:
    subset = ""
    if opts.subset and opts.subset_models:
        pool = "ordered-CIF" if opts.subset_from == "ordered" else "scorable"
        subset = (f"; {', '.join(opts.subset_models)} on a random subset of {opts.subset} structures (the first "
                  f"{opts.subset} of numpy default_rng({opts.seed}).permutation of the sorted {pool} ids) at "
                  f"{opts.subset_spacing or opts.spacing} Å")
    L = ["# ionnet validation against OBELiX", ""]
    if res.get("command"):
        L += ["Command:", "", "```", res["command"], "```", ""]
    return L + [
        f"Models: {', '.join(opts.models)}; spacing {opts.spacing} Å{subset}. Wall time {res['elapsed_s'] / 60:.1f} min.",
        "",
        "Superionic: measured room-temperature σ ≥ 1e-4 S/cm. Censored values (`<1E-10`) are used at their bound "
        "(they are all far below 1e-4 S/cm, so labels are unaffected). Spearman ρ is of the raw descriptor with "
        "log10 σ (expected sign: negative for MPE/E2D/E3D, positive for FV and Xi); AUC and the top-10 % fraction "
        "rank by the descriptor's good direction (low energy, high FV/Xi); a structure that never percolates has "
        "threshold +inf (last). 95 % bootstrap intervals in brackets.",
        "",
    ]


def _coverage(res: dict, opts: Options) -> list[str]:
    cov = res["coverage"]
    L = [
        "## Coverage",
        "",
        f"- OBELiX rows: {cov['obelix_rows']}; with a CIF: {cov['with_cif']}",
        f"- ordered CIFs: {cov['groups'].get('ordered', 0)} (framework per model, see Runs); "
        f"disordered on Li sites only: "
        f"{cov['groups'].get('ion', 0)} (framework='empty': all Li removed, one map); disordered framework: "
        f"{cov['groups'].get('framework', 0)} ("
        + {"order": "order=True: ionnet.scan's Ewald-ranked ordering in a supercell of <= 200 sites (framework per model, see Runs)",
           "skip": "skipped",
           "majority": "majority approximant (each site its majority element, split sites dropped), "
                       "framework='empty'",
           "order+majority": "order=True where ionnet.scan can order it, else the majority approximant "
                             "(each site its majority element, split sites dropped) with framework='empty'",
           }[opts.disordered] + ")",
        f"- not scorable: {', '.join(f'{k}: {v}' for k, v in cov['unscored'].items()) or 'none'}",
        f"- scorable structures in this run: {cov['scorable']}",
        "",
        "Scored / attempted per group (a structure that order=True cannot order and the approximant then scores "
        "counts as attempted in both groups, scored once):",
        "",
        "| model | structures | scored | " + " | ".join(GROUP_NAMES[g] for g in GROUP_NAMES) + " |",
        "|---|---|---|" + "---|" * len(GROUP_NAMES),
    ]
    for m, c in cov["per_model"].items():
        bg = c["by_group"]
        cells = [f"{bg[g]['ok']}/{bg[g]['attempted']}" if g in bg else "–" for g in GROUP_NAMES]
        L.append(f"| {m} | {c['attempted']} | {c['ok']} | " + " | ".join(cells) + " |")
    L.append("")
    for m, c in cov["per_model"].items():
        if c["failed"]:
            L.append(f"Not scored with {m}:")
            L.append("")
            for reason, ids in sorted(c["failed"].items(), key=lambda kv: -len(kv[1])):
                shown = ", ".join(ids[:12]) + (" ..." if len(ids) > 12 else "")
                L.append(f"- {len(ids)} × {reason} ({shown})")
            L.append("")
    return L


def _tables(res: dict) -> list[str]:
    L = ["## Metrics", ""]
    for tag, m in res["metrics"].items():
        L += [f"### {tag} (n = {m['n']}, superionic {m['n_superionic']})", "",
              "| descriptor | n | Spearman ρ | ROC AUC | superionic in top 10 % | base rate | never percolates |",
              "|---|---|---|---|---|---|---|"]
        for name, d in m["descriptors"].items():
            L.append(
                f"| {name} | {d['n']} | {_fmt(d['spearman'])} [{_fmt(d['spearman_ci'][0])}, {_fmt(d['spearman_ci'][1])}]"
                f" | {_fmt(d['auc'])} [{_fmt(d['auc_ci'][0])}, {_fmt(d['auc_ci'][1])}] | {_fmt(d['top10'])}"
                f" | {_fmt(d['base_rate'])} | {d['n_inf']} |")
        L.append("")
        L += _transport_lines(m)
    L += ["## Figures", ""]
    for f in res["files"]:
        L.append(f"![{f}]({f})")
    L += ["", "## Runs", "",
          "| model | group | framework | order | spacing (Å) | structures | computed now | settings | seconds |",
          "|---|---|---|---|---|---|---|---|---|"]
    for r in res["runs"]:
        L.append(f"| {r['model']} | {r['group']} | {r['framework']} | {r['order']} | {r['spacing']} | {r['n']} | "
                 f"{r['computed']} | `{r['settings_hash']}` | {r['elapsed_s']} |")
    L.append("")
    return L


def _transport_lines(m: dict) -> list[str]:
    """Predicted vs measured activation energy and σ(300 K) of one population."""
    L = []
    act = m.get("activation")
    if act:
        L += ["Against the measured activation energy (Laskowski 2023, joined by ICSD id):", "",
              "| predicted | n | Spearman ρ | MAE (eV) | never percolates |", "|---|---|---|---|---|"]
        for name, a in act.items():
            L.append(f"| {name} | {a['n']} | {_fmt(a['spearman'])} | {_fmt(a['mae_ev'])} | {a['n_inf']} |")
        L.append("")
    s = m.get("sigma_300")
    if s and s["n"]:
        L += [f"Predicted log10 σ(300 K) against measured log10 σ (uncensored, n = {s['n']}): Spearman "
              f"{_fmt(s['spearman'])}, MAE {_fmt(s['mae_decades'])} decades, median offset "
              f"{_fmt(s['median_offset_decades'])} decades (predicted − measured).", ""]
    return L


def _markdown(res: dict, opts: Options) -> str:
    return "\n".join(_header(res, opts) + _coverage(res, opts) + _tables(res))


def write(out: str, res: dict, table: dict[str, list[dict]], opts: Options) -> None:
    """``structures.csv`` (one row per model and structure), ``metrics.json`` and ``report.md`` in ``out``."""
    names = list(DESCRIPTORS)
    with open(os.path.join(out, "structures.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["id", "formula", "model", "group", "status", "log10_sigma", "censored", "superionic", *names,
                    "error"])
        for model in opts.models:
            for r in table.get(model, []):
                values = [(descriptor_value(r["row"], n) if r["status"] == "ok" else "") for n in names]
                w.writerow([r["id"], r["formula"], model, r["group"], r["status"], f"{r['log10_sigma']:.4f}",
                            r["censored"], r["superionic"], *values, r["error"] or ""])
    with open(os.path.join(out, "metrics.json"), "w") as f:
        json.dump(res, f, indent=1, default=_json_default)
    with open(os.path.join(out, "report.md"), "w") as f:
        f.write(_markdown(res, opts))

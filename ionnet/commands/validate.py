"""``ionnet validate``: score screening descriptors against measured conductivity (OBELiX)."""
from __future__ import annotations

import argparse
import json
import shlex

from ..settings import ScanSettings
from ._common import add_connectivity_argument, positive_int


def register(sub) -> None:
    p = sub.add_parser(
        "validate",
        help="screen the OBELiX CIFs and score descriptors against measured conductivity",
        description=(
            "Screen every scorable OBELiX CIF (ordered: occupied framework for ML models, empty for BVSE; disordered on Li sites only: "
            "framework='empty'; disordered framework: order=True or skipped), join with the measured "
            "room-temperature conductivity and report, per model and descriptor, Spearman rho with "
            "log10 sigma, ROC AUC for sigma >= 1e-4 S/cm and the superionic fraction in the top 10%%. "
            "Writes report.md, metrics.json, structures.csv and PNG figures to --out."
        ),
        epilog="Example: ionnet validate --data shared/data/obelix --models bvse,m3gnet --subset 20 "
               "--subset-spacing 0.4 --db val.sqlite --out report/",
    )
    p.add_argument("--data", required=True, help="OBELiX folder with obelix.csv and cifs/")
    p.add_argument("--models", default="bvse", help="comma-separated potentials (default: bvse)")
    p.add_argument("--spacing", type=float, default=ScanSettings.spacing,
                   help=f"grid spacing of the full runs, Å (default: {ScanSettings.spacing})")
    p.add_argument("--subset", type=int, default=None, help="run --subset-models on N random structures only")
    p.add_argument("--subset-models", default=None,
                   help="comma-separated models limited to the subset (default: all but bvse)")
    p.add_argument("--subset-spacing", type=float, default=None, help="grid spacing of the subset runs, Å")
    p.add_argument("--subset-from", choices=["scorable", "ordered"], default="scorable",
                   help="draw the subset from every scorable CIF or from the ordered CIFs only")
    p.add_argument("--seed", type=int, default=0, help="subset and bootstrap seed (default 0)")
    p.add_argument("--ion", default=ScanSettings.ion, help=f"mobile ion (default: {ScanSettings.ion})")
    p.add_argument("--disordered", choices=["order", "skip", "majority", "order+majority"], default="order",
                   help="framework-disordered CIFs: order=True (default), skip, a majority-element approximant "
                        "with framework='empty', or order=True with the approximant as fallback")
    p.add_argument("--framework", choices=["auto", "occupied", "empty", "vacancy"], default="auto",
                   help="framework mode of ordered CIFs: auto = empty for bvse, occupied (old name: vacancy) for ML models")
    p.add_argument("--missing-ion", choices=["error", "framework"], default="error",
                   help="a CIF without the mobile ion (empty-framework runs): unscored (error, default), or "
                        "screened again as given as its own empty framework")
    p.add_argument("--n-configurations", type=positive_int, default=1,
                   help="ordered configurations per framework-disordered CIF (mean and spread stored; default 1)")
    p.add_argument("--activation", default="auto", metavar="FOLDER",
                   help="Laskowski 2023 folder of measured activation energies, joined by ICSD id "
                        "(default auto: laskowski2023 beside --data; 'none' to skip)")
    p.add_argument("--timeout", type=float, default=None, metavar="SECONDS",
                   help="give up on a structure after this long (stored as failed)")
    p.add_argument("--limit", type=int, default=None, help="only the first N scorable ids (quick trial)")
    p.add_argument("--workers", type=int, default=1, help="local worker processes (default 1)")
    add_connectivity_argument(p)
    p.add_argument("--refine", action="store_true", help="coarse-to-fine scans (exact below the ceiling)")
    p.add_argument("--n-boot", type=int, default=1000, help="bootstrap resamples (default 1000)")
    p.add_argument("--task", default=None, metavar="MODULE:FUNC", help="advanced: replace the scan (tests)")
    p.add_argument("--db", required=True, help="SQLite results file (reused across runs)")
    p.add_argument("--out", required=True, help="report folder")
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=True)
    p.add_argument("--json", action="store_true", help="print metrics.json to stdout")
    p.set_defaults(func=run)


def _command(args: argparse.Namespace) -> str:
    """The equivalent command line, every option spelled out (for the report)."""
    parts = ["ionnet", "validate", "--data", args.data, "--models", args.models, "--spacing", str(args.spacing)]
    for opt in ("subset", "subset_models", "subset_spacing", "limit", "timeout", "task"):
        v = getattr(args, opt)
        if v is not None:
            parts += ["--" + opt.replace("_", "-"), str(v)]
    if args.subset:
        parts += ["--subset-from", args.subset_from]
    parts += ["--seed", str(args.seed), "--ion", args.ion, "--disordered", args.disordered,
              "--framework", args.framework, "--missing-ion", args.missing_ion,
              "--n-configurations", str(args.n_configurations),
              "--workers", str(args.workers), "--connectivity", str(args.connectivity)]
    if args.refine:
        parts.append("--refine")
    parts += ["--db", args.db, "--out", args.out]
    return " ".join(shlex.quote(p) for p in parts)


def run(args: argparse.Namespace) -> int:
    from ..validation import validate

    split = lambda s: [x.strip() for x in s.split(",") if x.strip()]  # noqa: E731
    res = validate(
        args.data, args.db, args.out,
        models=split(args.models),
        spacing=args.spacing,
        subset=args.subset,
        subset_models=split(args.subset_models) if args.subset_models else None,
        subset_spacing=args.subset_spacing,
        subset_from=args.subset_from,
        seed=args.seed,
        ion=args.ion,
        disordered=args.disordered,
        framework=args.framework,
        limit=args.limit,
        workers=args.workers,
        connectivity=args.connectivity,
        refine=args.refine,
        n_boot=args.n_boot,
        timeout_s=args.timeout,
        task=args.task,
        progress=args.progress,
        command=_command(args),
        activation=args.activation,
        missing_ion=args.missing_ion,
        n_configurations=args.n_configurations,
    )
    if args.json:
        print(json.dumps(res, default=str))
        return 0
    print(f"report: {args.out}/report.md")
    for tag, m in res["metrics"].items():
        line = "  ".join(f"{n} ρ={d['spearman']:+.2f} AUC={d['auc']:.2f}" for n, d in m["descriptors"].items()
                         if n in ("mpe", "fv_0.9", "xi"))
        print(f"{tag:<18} n={m['n']:<4} {line}")
    return 0

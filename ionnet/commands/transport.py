"""``ionnet transport``: D(T), activation energy and conductivity of a grid (or a structure, scanned first)."""
from __future__ import annotations

import argparse
import json

from ._common import add_connectivity_argument, add_scan_arguments, check_output, is_grid_file, load_grids, save_scan, scan_from_args

EPILOG = """examples:
  ionnet transport lifepo4.npz --temperatures 300,400,...,1000
  ionnet transport lifepo4.npz --temperatures 300,600,1000 --rates grid --json
  ionnet transport lifepo4.npz --temperatures 600,1000 --method kmc --walkers 2000 --seed 1
  ionnet transport ionnet/data/LiFePO4.cif --model bvse --framework empty --json
"""


def temperature_list(text: str) -> list[float]:
    """``300,400,500`` or ``300,400,...,1000`` (arithmetic progression) in K (argparse type)."""
    parts = [p.strip() for p in text.replace(" ", ",").split(",") if p.strip()]
    try:
        if "..." in parts:
            k = parts.index("...")
            if k < 2 or k != len(parts) - 2:
                raise ValueError
            head = [float(p) for p in parts[:k]]
            end = float(parts[-1])
            step = head[-1] - head[-2]
            if step == 0 or (end - head[-1]) / step < 0:
                raise ValueError
            n = int(round((end - head[-1]) / step))
            vals = head + [head[-1] + step * (i + 1) for i in range(n)]
        else:
            vals = [float(p) for p in parts]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected temperatures in K like 300,400,500 or 300,400,...,1000 (got {text!r})"
        ) from None
    if not vals or min(vals) <= 0:
        raise argparse.ArgumentTypeError(f"temperatures must be positive, in K (got {text!r})")
    return vals


def add_network_arguments(p: argparse.ArgumentParser) -> None:
    """Options shared by ``transport`` and ``path``: which map, which site graph."""
    add_connectivity_argument(p)
    p.add_argument("--min-depth", type=float, default=0.02,
                   help="merge minima shallower than this (eV) into their neighbour basin (default: 0.02)")
    p.add_argument("--map", type=int, default=None, metavar="N",
                   help="map index in a multi-map (vacancy-mode) file (default: the lowest-energy map)")


def grids_from_args(args: argparse.Namespace):
    """The grid to use: a .npz file, or the structure scanned with the scan options."""
    from .export import pick_map

    if is_grid_file(args.input):
        return pick_map(load_grids(args.input), args.map)
    check_output(getattr(args, "output_grid", None), args.input, args.checkpoint, option="--output-grid",
                 suffixes=(".npz",))  # before the scan
    grids = scan_from_args(args.input, args)
    if getattr(args, "output_grid", None):
        save_scan(grids, args.output_grid)
    return pick_map(grids, args.map)


def register(sub) -> None:
    p = sub.add_parser(
        "transport",
        help="diffusion tensor D(T), activation energy and conductivity from the site graph",
        description="Exact dilute-limit tracer diffusion of the mobile ion on the site graph of an energy grid "
                    "(.npz from 'ionnet scan'), or of a structure scanned first; Nernst-Einstein conductivity.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("input", metavar="GRID|STRUCTURE", help="grid .npz, or a CIF/POSCAR/JSON structure")
    p.add_argument("--temperatures", type=temperature_list, default=temperature_list("300,400,...,1000"),
                   help="temperatures in K: 300,400,500 or 300,400,...,1000 (default: 300,400,...,1000)")
    p.add_argument("--rates", choices=["harmonic", "grid"], default="harmonic",
                   help="harmonic: nu exp(-barrier/kT); grid: transition-state theory from the grid (default: harmonic)")
    p.add_argument("--method", choices=["exact", "kmc"], default="exact",
                   help="exact: dilute-limit solve (default); kmc: kinetic Monte Carlo cross-check")
    p.add_argument("--attempt-frequency", type=float, default=1e13, metavar="HZ", help="nu in Hz (default: 1e13)")
    p.add_argument("--haven-ratio", type=float, default=1.0, help="D_tracer / D_sigma (default: 1)")
    p.add_argument("--carrier-density", type=float, default=None, metavar="CM3",
                   help="mobile ions per cm^3 (default: from the structure or the scan)")
    p.add_argument("--ea-range", type=float, nargs=2, metavar=("T_LOW", "T_HIGH"), default=None,
                   help="temperatures (K) of the Arrhenius fit (default: all)")
    p.add_argument("--walkers", type=int, default=1000, help="KMC walkers (default: 1000)")
    p.add_argument("--kmc-hops", type=int, default=20000, help="KMC hops per walker on average (default: 20000)")
    p.add_argument("--seed", type=int, default=None, help="KMC random seed")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    p.add_argument("-o", "--output-grid", metavar="NPZ", help="also save the scanned grid(s) (structure input)")
    add_network_arguments(p)
    add_scan_arguments(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..diffusion import transport

    grid = grids_from_args(args)
    structure = None if is_grid_file(args.input) else args.input
    result = transport(
        grid, args.temperatures, attempt_frequency=args.attempt_frequency, rates=args.rates, method=args.method,
        haven_ratio=args.haven_ratio, carrier_density=args.carrier_density, structure=structure,
        ion=(grid.metadata or {}).get("ion") or getattr(args, "ion", None), ea_range=args.ea_range,
        connectivity=args.connectivity, min_depth=args.min_depth, n_walkers=args.walkers, kmc_hops=args.kmc_hops,
        seed=args.seed,
    )
    print(json.dumps(result.to_dict()) if args.json else result.summary())
    return 0

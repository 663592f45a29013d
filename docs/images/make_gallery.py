"""
Regenerate the gallery pictures of docs/gallery.md
===================================================

Three conductors, each scanned in its empty framework (every Li removed: the
dilute-carrier landscape, whose thresholds are migration barriers):

* ``lifepo4_*.png`` - LiFePO4, BVSE (the bundled 0.2 Å grid): a 1D channel along b;
* ``li7p3s11_*.png`` - Li7P3S11, BVSE: a 3D network (drawn 0.02 eV above its 3D threshold);
* ``li3n_*.png`` - alpha-Li3N, CHGNet: 2D layers in the Li2N plane.

LiFePO4 ships with ionnet; the other two CIFs are read from
``../shared/data/structures`` beside the repository (``IONNET_SHARED``
overrides ``../shared``).  Every PNG is kept under 500 kB (a larger one is
re-encoded with a 256-colour palette, which bands smooth colour bars).

Run:  python docs/images/make_gallery.py [--out DIR] [--spacing Å] [--size W H] [--only NAME ...]

``--spacing`` rescans every structure (LiFePO4 too) at that node spacing; the
test suite uses a coarse one so the script runs in seconds.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))  # run from a clone without installing

import ionnet  # noqa: E402
from ionnet import render  # noqa: E402

SHARED = Path(os.environ.get("IONNET_SHARED", ROOT.parent / "shared"))
STRUCTURES = SHARED / "data" / "structures"
MAX_BYTES = 490_000

#: name -> how its grid is made (structure, model, spacing in Å, BVSE oxidation states) and rendered
GALLERY = {
    "lifepo4": dict(
        structure=ROOT / "ionnet" / "data" / "LiFePO4.cif", grid=ROOT / "ionnet" / "data" / "LiFePO4_bvse.npz",
        model="bvse", spacing=0.2, oxidation_states=None, repeat=(2, 2, 2),
    ),
    "li7p3s11": dict(
        structure=STRUCTURES / "Li7P3S11_obelix_mdp.cif", grid=None, model="bvse", spacing=0.25,
        oxidation_states={"Li": 1, "P": 5, "S": -2}, repeat=(2, 1, 1), above=3,
    ),
    "li3n": dict(
        structure=STRUCTURES / "Li3N_obelix_gvd.cif", grid=None, model="chgnet", spacing=0.25,
        oxidation_states=None, repeat=(2, 2, 2),
    ),
}


def make_grid(entry: dict, spacing: float | None):
    """The entry's EnergyGrid: the bundled file, or an empty-framework scan."""
    if entry["grid"] is not None and spacing is None:
        return ionnet.load_grids(entry["grid"])
    model = entry["model"]
    if entry["oxidation_states"]:
        # BVSE charges of the whole compound (the framework alone has too few cations to guess them)
        model = ionnet.potentials.get_potential("bvse", oxidation_states=entry["oxidation_states"])
    return ionnet.scan(str(entry["structure"]), "Li", model, spacing=spacing or entry["spacing"],
                       framework="empty", progress=False)


def shrink_png(path: Path, max_bytes: int = MAX_BYTES) -> None:
    """Re-encode a PNG with an adaptive 256-colour palette when it is larger than ``max_bytes``."""
    from PIL import Image

    if path.stat().st_size <= max_bytes:
        return
    img = Image.open(path).convert("RGB")
    img.quantize(colors=256, method=Image.Quantize.FASTOCTREE, dither=Image.Dither.NONE).save(path, optimize=True)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0].strip(), formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--out", default=str(Path(__file__).resolve().parent), help="folder (default: docs/images)")
    p.add_argument("--spacing", type=float, default=None, help="rescan everything at this spacing (Å)")
    p.add_argument("--size", type=int, nargs=2, default=[1000, 750], metavar=("W", "H"))
    p.add_argument("--only", nargs="+", choices=sorted(GALLERY), default=None)
    args = p.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for name in args.only or GALLERY:
        entry = GALLERY[name]
        if not Path(entry["structure"]).exists():
            print(f"skipped {name}: {entry['structure']} not found (set IONNET_SHARED)")
            continue
        result = ionnet.analyze(make_grid(entry, args.spacing))
        print(f"{name}: MPE {result.mpe:.3f} eV along {result.percolation_directions[1]}, "
              f"2D {result.percolation_energy[2]:.3f} eV, 3D {result.percolation_energy[3]:.3f} eV")
        # a 3D conductor is drawn just above its 3D threshold, so the picture shows the 3D network
        above = entry.get("above")
        margin = 0.05 if above is None else result.percolation_energy[above] - result.mpe + 0.02
        plotter = render.pathways(result, supercell=entry["repeat"], window_size=args.size, margin=margin)
        pictures = [out / f"{name}_pathways.png"]
        render.save(plotter, pictures[0])
        plotter.close()
        if name == "lifepo4":
            t = round(result.mpe + 0.25, 2)  # the value docs/gallery.md gives to --components
            plotter = render.components(result, t, window_size=args.size)
            pictures.append(out / f"{name}_components.png")
            render.save(plotter, pictures[-1])
            plotter.close()
            for kind, fig in (("fv", render.fv_plot(result, log=True)), ("slice", render.slice_plot(result))):
                pictures.append(out / f"{name}_{kind}.png")
                fig.savefig(pictures[-1], dpi=110)
        for path in pictures:
            shrink_png(path)
            print(f"wrote {path} ({path.stat().st_size / 1e3:.0f} kB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Generate ``m3gnet_reference.json``: M3GNet energies from matgl 1.1.3 (DGL), the independent reference.

The published M3GNet PES weights were trained with matgl's DGL implementation
(matgl <= 1.x).  matgl >= 2 (PyG) gives different, wrong energies for them, so
ionnet's ``m3gnet`` back end re-implements the 1.x forward
(``ionnet/potentials/_m3gnet_torch.py``) and ``tests/test_potentials.py``
checks it against the numbers this script writes.

This script does NOT run in ionnet's environment.  It needs matgl 1.1.3 with
DGL (e.g. dgl 2.1.0) in a throw-away virtual environment, for example::

    python -m venv /tmp/venv_dgl
    /tmp/venv_dgl/bin/pip install "torch==<the torch you have>" "matgl==1.1.3" "dgl==2.1.0" pymatgen ase
    # (dgl 2.1 may need a small import patch on recent torch)
    /tmp/venv_dgl/bin/python tests/data/make_m3gnet_reference.py \\
        --models /work/shared/models/M3GNet-MP-2021.2.8-PES /work/shared/models/M3GNet-MatPES-PBE-v2025.1-PES \\
        --structures /work/shared/data/structures --out tests/data/m3gnet_reference.json

Each case is a framework (lattice, species, fractional coordinates) plus one
probe ion at a few fractional positions in [0, 1).  Every energy is matgl 1.1.3's
``PESCalculator`` (float32) on ``Structure(framework) + probe appended last``,
converted with ``AseAtomsAdaptor`` -- the same structures ionnet builds.
"""
from __future__ import annotations

import argparse
import json
import re
import sys
import warnings
from pathlib import Path

import numpy as np


def _without_first(s, el):
    idx = next(i for i, site in enumerate(s) if site.specie.symbol == el)
    fw = s.copy()
    fw.remove_sites([idx])
    return fw, s[idx].frac_coords.copy()


def _case(name, fw, ion, probes, note):
    probes = np.asarray(probes, dtype=float)
    probes = probes - np.floor(probes)  # ionnet wraps the probe into [0, 1)
    return {
        "name": name,
        "note": note,
        "lattice": np.asarray(fw.lattice.matrix, dtype=float).tolist(),
        "species": [site.specie.symbol for site in fw],
        "frac_coords": np.asarray(fw.frac_coords, dtype=float).tolist(),
        "ion": ion,
        "probe_frac": probes.tolist(),
        "energies_ev": {},
    }


def cases(structures: Path) -> list[dict]:
    from pymatgen.core import Lattice, Structure

    out = []
    nacl = Structure.from_spacegroup("Fm-3m", Lattice.cubic(5.69), ["Na", "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    fw = nacl.copy()
    fw.remove_sites([len(fw) - 1])
    out.append(_case("NaCl", fw, "Cl", [nacl[-1].frac_coords], "conventional rock-salt NaCl (a = 5.69 A): last Cl as the probe"))
    out.append(_case("NaCl+Li", nacl, "Li", [[0.25, 0.25, 0.25], [0.3, 0.2, 0.1]], "Li probe in NaCl: tetrahedral hole and a general point"))
    li = Structure(Lattice.cubic(3.43), ["Li"], [[0, 0, 0]])
    out.append(_case("Li-bcc", li, "Li", [[0.5, 0.5, 0.5]], "bcc Li (a = 3.43 A), elemental: matgl >= 2 agrees here"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        lfp = Structure.from_file(str(structures / "LiFePO4_pymatgen.cif"))
        lps = Structure.from_file(str(structures / "Li7P3S11_obelix_mdp.cif"))
    fw, site = _without_first(lfp, "Li")
    out.append(_case("LiFePO4", fw, "Li", [site, site + [0.03, -0.02, 0.05], [0.3, 0.2, 0.6], [0.75, 0.5, 0.1]],
                     "LiFePO4_pymatgen.cif minus its first Li; probe on the vacant site, displaced, and at two interstitial points"))
    fw, site = _without_first(lps, "Li")
    out.append(_case("Li7P3S11", fw, "Li", [site, site + [0.02, 0.04, -0.03]],
                     "Li7P3S11_obelix_mdp.cif minus its first Li; probe on the vacant site and displaced"))
    # an O whose only bond within the three-body cutoff (4 A) is to P, listed before other atoms:
    # exercises matgl 1.x's segment-id skip after a bond without three-body partners
    box = Lattice.cubic(11.0)
    sparse = Structure(box, ["P", "O", "S"], [[5.5, 5.5, 5.5], [5.5, 5.5, 2.0], [5.5, 5.5, 7.5]], coords_are_cartesian=True)
    out.append(_case("sparse-PO-S", sparse, "Li", np.array([[5.5, 7.5, 7.5], [7.0, 5.5, 8.0]]) / 11.0,
                     "synthetic, 11 A box: the O has exactly one neighbour within 4 A"))
    short = Structure(Lattice.orthorhombic(3.0, 4.2, 4.4), ["O", "O"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    out.append(_case("short-axis-O2", short, "Li", [[0.5, 0.0, 0.25], [0.1, 0.3, 0.7]],
                     "3 A axis: the probe bonds to its own periodic images"))
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", nargs="+", required=True, help="matgl model folders")
    ap.add_argument("--structures", default="/work/shared/data/structures")
    ap.add_argument("--out", default=str(Path(__file__).with_name("m3gnet_reference.json")))
    a = ap.parse_args(argv)

    import ase
    import matgl
    import pymatgen.core
    import torch
    from matgl.ext.ase import PESCalculator
    from pymatgen.core import Structure
    from pymatgen.io.ase import AseAtomsAdaptor

    if not matgl.__version__.startswith("1."):
        sys.exit(f"this script needs matgl 1.x (DGL) as the independent reference; found matgl {matgl.__version__}")
    import dgl

    warnings.filterwarnings("ignore")
    all_cases = cases(Path(a.structures))
    for folder in a.models:
        calc = PESCalculator(matgl.load_model(folder))
        for c in all_cases:
            fw = Structure(c["lattice"], c["species"], c["frac_coords"])
            es = []
            for p in c["probe_frac"]:
                s = fw.copy()
                s.append(c["ion"], p, coords_are_cartesian=False)
                atoms = AseAtomsAdaptor.get_atoms(s)
                atoms.calc = calc
                es.append(float(atoms.get_potential_energy()))
            c["energies_ev"][Path(folder).name] = es
            print(Path(folder).name, c["name"], es, file=sys.stderr)
    doc = {
        "format_version": 1,
        "description": (
            "Total energies (eV) of framework + probe (probe appended as the last site) from matgl 1.1.3's DGL "
            "M3GNet via matgl.ext.ase.PESCalculator, float32, CPU: an independent implementation used as the "
            "known answer for ionnet's m3gnet back end. Produced by tests/data/make_m3gnet_reference.py "
            "(runs only in a venv with matgl 1.x + DGL)."
        ),
        "generated_with": {
            "matgl": matgl.__version__,
            "dgl": dgl.__version__,
            "torch": torch.__version__,
            "pymatgen": pymatgen.core.__version__,
            "ase": ase.__version__,
            "calculator": "matgl.ext.ase.PESCalculator",
        },
        "models": [Path(f).name for f in a.models],
        "cases": all_cases,
    }
    text = json.dumps(doc, indent=1)
    # one line per innermost list (coordinates, energies): floats keep their exact repr
    text = re.sub(r"\[\s+([^\[\]{}]*?)\s+\]", lambda m: "[" + re.sub(r"\s+", " ", m.group(1)) + "]", text)
    Path(a.out).write_text(text + "\n")
    print(f"wrote {a.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

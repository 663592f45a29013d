"""ionnet.validate: metrics against hand-computed answers, OBELiX parsing, the validation pipeline."""
from __future__ import annotations

import json
import math
import os

import numpy as np
import pytest

from ionnet.validation import (
    bootstrap_ci,
    parse_conductivity,
    roc_auc,
    roc_curve,
    spearman,
    top_fraction,
)

HERE = os.path.dirname(os.path.abspath(__file__))


# --------------------------------------------------------------------- metrics
@pytest.mark.parametrize(
    "x, y, expected",
    [
        ([1, 2, 3, 4, 5], [2, 4, 6, 8, 10], 1.0),
        ([1, 2, 3, 4, 5], [5, 4, 3, 2, 1], -1.0),
        ([1, 2, 3], [1, 3, 2], 0.5),  # d = (0, 1, 1): 1 - 6*2/(3*8) = 0.5
        ([1, 2, 3, 4], [1, 2, 4, 3], 0.8),  # 1 - 6*2/(4*15)
        ([1, 2, 2, 3], [1, 2, 3, 4], 0.9486832980505138),  # ties: Pearson of ranks (1, 2.5, 2.5, 4) vs (1..4)
        ([1, 2, np.inf, 4], [1, 2, 4, 3], 1.0),  # +inf ranks last: ranks (1, 2, 4, 3) on both sides
    ],
)
def test_spearman_known_answers(x, y, expected):
    assert spearman(x, y) == pytest.approx(expected, abs=1e-12)


def test_spearman_matches_scipy_and_drops_nan():
    from scipy.stats import spearmanr

    rng = np.random.default_rng(0)
    x = rng.normal(size=40)
    y = x + rng.normal(size=40)
    x[[3, 7]] = x[[5, 9]]  # ties
    assert spearman(x, y) == pytest.approx(spearmanr(x, y).statistic, abs=1e-12)
    xn = np.r_[x, np.nan]
    assert spearman(xn, np.r_[y, 0.0]) == pytest.approx(spearman(x, y))
    assert math.isnan(spearman([1, 1, 1], [1, 2, 3]))


@pytest.mark.parametrize(
    "scores, labels, expected",
    [
        ([0.1, 0.2, 0.8, 0.9], [0, 0, 1, 1], 1.0),  # perfect
        ([0.9, 0.8, 0.2, 0.1], [0, 0, 1, 1], 0.0),  # reversed
        ([0.5, 0.5, 0.5, 0.5], [0, 1, 0, 1], 0.5),  # all tied
        ([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1], 0.75),  # pairs (pos > neg): 0.35>0.1, 0.8>0.1, 0.8>0.4 -> 3/4
        ([1, 2, 2, 3], [0, 0, 1, 1], 0.875),  # one tied pair counts 1/2: (1 + 0.5 + 1 + 1) / 4
        ([-np.inf, 1, 2], [0, 1, 1], 1.0),  # -inf (never percolates) is the worst score
    ],
)
def test_roc_auc_known_answers(scores, labels, expected):
    assert roc_auc(scores, labels) == pytest.approx(expected, abs=1e-12)


def test_roc_auc_single_class_is_nan():
    assert math.isnan(roc_auc([1, 2, 3], [1, 1, 1]))


def test_roc_curve_area_equals_auc():
    rng = np.random.default_rng(1)
    s = np.round(rng.normal(size=60), 1)  # with ties
    lab = (s + rng.normal(size=60) > 0).astype(int)
    fpr, tpr, thr = roc_curve(s, lab)
    assert fpr[0] == tpr[0] == 0 and fpr[-1] == tpr[-1] == 1
    assert np.all(np.diff(fpr) >= 0) and np.all(np.diff(tpr) >= 0)
    assert np.trapezoid(tpr, fpr) == pytest.approx(roc_auc(s, lab), abs=1e-12)  # trapezoids = ties count 1/2


@pytest.mark.parametrize(
    "scores, labels, frac, expected",
    [
        (list(range(20)), [0] * 18 + [1, 1], 0.1, 1.0),  # the top 2 of 20 are the positives
        (list(range(20)), [1, 1] + [0] * 18, 0.1, 0.0),  # the positives are last
        (list(range(20)), [0] * 17 + [1, 0, 1], 0.1, 0.5),  # top 2: scores 19 (pos) and 18 (neg)
        ([1.0] * 10, [1] + [0] * 9, 0.1, 0.1),  # one slot, all tied: the base rate
        ([3, 2, 2, 2, 1, 0, 0, 0, 0, 0, 0], [0, 1, 1, 0] + [0] * 7, 0.2, 1 / 3 * (0 + 2 * 2 / 3)),
        # 11 items -> k = ceil(2.2) = 3: score 3 (neg) + 2 of the 3 tied at 2 (2 of which positive)
    ],
)
def test_top_fraction_known_answers(scores, labels, frac, expected):
    assert top_fraction(scores, labels, frac) == pytest.approx(expected, abs=1e-12)


def test_top_fraction_rejects_bad_fraction():
    with pytest.raises(ValueError, match="`frac` must be in"):
        top_fraction([1, 2], [0, 1], 0.0)


def test_bootstrap_ci_brackets_the_estimate():
    rng = np.random.default_rng(2)
    x = rng.normal(size=80)
    y = x + 0.5 * rng.normal(size=80)
    lo, hi = bootstrap_ci(spearman, x, y, n_boot=300, seed=0)
    assert lo < spearman(x, y) < hi <= 1.0
    assert bootstrap_ci(spearman, x, y, n_boot=300, seed=0) == (lo, hi)  # seeded


@pytest.mark.parametrize(
    "text, expected",
    [("1.58489e-06", (1.58489e-06, False)), ("<1E-10", (1e-10, True)), ("<1E-8", (1e-8, True)),
     ("0.001", (1e-3, False))],
)
def test_parse_conductivity(text, expected):
    assert parse_conductivity(text) == expected


def test_parse_conductivity_errors():
    with pytest.raises(ValueError, match="cannot parse conductivity"):
        parse_conductivity("fast")
    with pytest.raises(ValueError, match="must be > 0"):
        parse_conductivity("0")
    v, c = parse_conductivity("")
    assert math.isnan(v) and not c


# -------------------------------------------------------------------- pipeline
def lattice_task(path, settings):
    """Analytic stand-in for ionnet.scan: MPE = |a| / 5 eV, |a| the length of the first lattice vector (Å)."""
    import warnings

    from pymatgen.core import Structure

    from ionnet import EnergyGrid, StructureError
    from ionnet.data import cosine_field

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        s = Structure.from_file(path)
    if not s.is_ordered and not settings["order"] and settings["framework"] != "empty":
        raise StructureError("disordered structure: pass order=True")
    if not s.is_ordered and settings["order"] and os.environ.get("IONNET_TEST_ORDER_FAILS"):
        raise StructureError("order=True: no supercell of <= 200 sites makes the occupancies integral")
    if s.composition["Li"] == 0 and not (settings.get("missing_ion") == "framework"
                                         and settings["framework"] == "empty"):
        raise StructureError(f"the structure ({s.composition.reduced_formula}) contains no Li; pass the mobile ion")
    if s.composition["Br"] >= 1:  # LiBr: a structure the model cannot do (LiCl0.5Br0.5 is fine)
        raise StructureError("model cannot do Br-rich structures")
    amp = s.lattice.a / 10  # a / sqrt(2) of the cubic edge: monotonic in it
    return EnergyGrid(cosine_field((6, 6, 6), (amp, 2 * amp, 3 * amp)), s.lattice.matrix)


@pytest.fixture(scope="module")
def obelix_dir(tmp_path_factory):
    pytest.importorskip("pymatgen")
    return _obelix(tmp_path_factory.mktemp("data"))


def _obelix(tmp_path):
    """Ordered rock salts (a = 4.0 ... 5.2 Å, smaller a = faster), one Li-disordered, one framework-
    disordered, one failing, one without a CIF, one censored."""
    from pymatgen.core import Lattice, Structure

    d = tmp_path / "obelix"
    (d / "cifs").mkdir(parents=True)
    rows = []

    def rocksalt(a, cl=None, li=None):  # primitive fcc cell, 2 sites
        lat = Lattice(0.5 * a * np.array([[0, 1, 1], [1, 0, 1], [1, 1, 0]], dtype=float))
        return Structure(lat, [li or "Li", cl or "Cl"], [[0, 0, 0], [0.5, 0.5, 0.5]])

    sigmas = ["1e-2", "3e-3", "1e-4", "1e-6", "1e-8", "<1E-10"]
    for i, (a, sig) in enumerate(zip([4.0, 4.2, 4.4, 4.6, 4.8, 5.0], sigmas)):
        rocksalt(a).to(filename=str(d / "cifs" / f"o{i}.cif"))
        rows.append((f"o{i}", "LiCl", sig, "True", "True"))
    rocksalt(4.1, li={"Li": 0.5}).to(filename=str(d / "cifs" / "li1.cif"))  # Li sites half occupied
    rows.append(("li1", "Li0.5Cl", "5e-3", "True", "False"))
    rocksalt(4.3, cl={"Cl": 0.6, "Br": 0.4}).to(filename=str(d / "cifs" / "fw1.cif"))
    rows.append(("fw1", "LiClBr", "2e-4", "True", "False"))
    rocksalt(4.5, cl="Br").to(filename=str(d / "cifs" / "br1.cif"))
    rows.append(("br1", "LiBr", "1e-5", "True", "True"))
    rows.append(("nocif", "LiX", "1e-3", "False", ""))
    with open(d / "obelix.csv", "w") as f:
        f.write("id,reduced_composition,ionic_conductivity_S_cm,has_cif,cif_ordered,family\n")
        for r in rows:
            f.write(",".join(r) + ",rocksalt\n")
    return d


def test_classify_disorder(obelix_dir):
    from ionnet.validation import classify_disorder

    d = obelix_dir
    assert classify_disorder(d / "cifs" / "o0.cif") == "ordered"
    assert classify_disorder(d / "cifs" / "li1.cif") == "ion"
    assert classify_disorder(d / "cifs" / "fw1.cif") == "framework"


def test_validate_pipeline_end_to_end(obelix_dir, tmp_path):
    pytest.importorskip("matplotlib")
    from ionnet.screening import read_results
    from ionnet.validation import validate

    d = obelix_dir
    out = tmp_path / "report"
    db = tmp_path / "val.sqlite"
    task = f"{os.path.join(HERE, 'test_validate.py')}:lattice_task"
    res = validate(d, db, out, models=["toy"], task=task, n_boot=50)
    cov = res["coverage"]
    assert cov["obelix_rows"] == 10 and cov["with_cif"] == 9
    assert cov["groups"] == {"ordered": 7, "ion": 1, "framework": 1}
    assert cov["unscored"] == {"no CIF in OBELiX": 1}
    pm = cov["per_model"]["toy"]
    assert (pm["attempted"], pm["ok"]) == (9, 8)
    assert list(pm["failed"]) == ["StructureError: model cannot do Br-rich structures"]
    # each group screened with its own settings
    settings = {r["structure_id"]: r["settings"] for r in read_results(db, status=None)}
    assert settings["li1"]["framework"] == "empty" and not settings["li1"]["order"]
    assert settings["fw1"]["framework"] == "occupied" and settings["fw1"]["order"]
    assert settings["o0"]["framework"] == "occupied" and not settings["o0"]["order"]
    # conductivity falls monotonically with a, and MPE = 2a/10 rises: a perfect (negative) rank correlation
    m = res["metrics"]["toy"]["descriptors"]
    assert m["mpe"]["n"] == 8
    assert m["mpe"]["spearman"] == pytest.approx(-1.0)
    assert m["e3d"]["spearman"] == pytest.approx(-1.0)
    # superionic (>= 1e-4): o0, o1, o2, li1, fw1 -> the 5 smallest a; AUC of -MPE is 1
    assert m["mpe"]["n_superionic"] == 5
    assert m["mpe"]["auc"] == pytest.approx(1.0)
    assert m["mpe"]["top10"] == pytest.approx(1.0)  # ceil(0.8) = 1 slot: the smallest a
    assert m["mpe"]["base_rate"] == pytest.approx(5 / 8)
    for f in ("report.md", "metrics.json", "structures.csv", "scatter_toy.png", "roc_toy.png"):
        assert (out / f).stat().st_size > 0
    report = (out / "report.md").read_text()
    assert "| toy | 9 | 8 |" in report and "model cannot do Br-rich" in report
    assert json.loads((out / "metrics.json").read_text())["metrics"]["toy"]["n"] == 8
    # rerun: nothing recomputed
    res2 = validate(d, db, out, models=["toy"], task=task, n_boot=50)
    assert all(r["computed"] == 0 for r in res2["runs"])


def test_validate_subset_is_seeded_and_documented(obelix_dir, tmp_path):
    from ionnet.validation import validate

    d = obelix_dir
    task = f"{os.path.join(HERE, 'test_validate.py')}:lattice_task"
    kw = dict(models=["toyfull", "toysub"], subset=3, subset_models=["toysub"], task=task, n_boot=20,
              disordered="skip")
    r1 = validate(d, tmp_path / "a.sqlite", tmp_path / "ra", seed=0, **kw)
    r2 = validate(d, tmp_path / "b.sqlite", tmp_path / "rb", seed=0, **kw)
    ids = r1["coverage"]["subset_ids"]
    assert ids == r2["coverage"]["subset_ids"] and len(ids) == 3
    assert r1["coverage"]["unscored"] == {"no CIF in OBELiX": 1, "framework disorder (disordered='skip')": 1}
    assert r1["coverage"]["per_model"]["toysub"]["attempted"] == 3
    assert r1["coverage"]["per_model"]["toyfull"]["attempted"] == 8
    assert {"toyfull", "toysub", "toyfull@subset"} <= set(r1["metrics"])
    assert "toysub@common" not in r1["metrics"]  # toysub scored its whole subset: same set as "toysub", not repeated
    assert r1["metrics"]["toyfull@subset"]["n"] == r1["metrics"]["toysub"]["n"] == 3
    r3 = validate(obelix_dir, tmp_path / "c.sqlite", tmp_path / "rc", seed=0, subset_from="ordered", **kw)
    assert set(r3["coverage"]["subset_ids"]) <= {"o0", "o1", "o2", "o3", "o4", "o5", "br1"}


def test_validate_order_then_majority_fallback(obelix_dir, tmp_path, monkeypatch):
    from ionnet.validation import validate

    monkeypatch.setenv("IONNET_TEST_ORDER_FAILS", "1")  # order=True fails: the approximant takes over
    task = f"{os.path.join(HERE, 'test_validate.py')}:lattice_task"
    res = validate(obelix_dir, tmp_path / "v.sqlite", tmp_path / "rep", models=["toy"], task=task, n_boot=20,
                   disordered="order+majority")
    bg = res["coverage"]["per_model"]["toy"]["by_group"]
    assert bg["framework"] == {"attempted": 1, "ok": 0} and bg["majority"] == {"attempted": 1, "ok": 1}
    assert res["coverage"]["per_model"]["toy"]["ok"] == 8
    assert {"toy", "toy@ordered", "toy@no-majority"} <= set(res["metrics"])
    assert res["metrics"]["toy"]["n"] == 8 and res["metrics"]["toy@no-majority"]["n"] == 7
    from pymatgen.core import Structure

    approx = Structure.from_file(str(tmp_path / "rep" / "approximants" / "fw1.cif"))
    assert approx.is_ordered and approx.composition.reduced_formula == "LiCl"


def test_roc_curve_ties_at_infinity():
    fpr, tpr, _ = roc_curve([-np.inf, -np.inf, 1.0, 2.0], [1, 0, 0, 1])
    assert fpr.tolist() == [0.0, 0.0, 0.5, 1.0] and tpr.tolist() == [0.0, 0.5, 0.5, 1.0]


def test_majority_approximant_keeps_a_mobile_ion(tmp_path):
    from pymatgen.core import Lattice, Structure

    from ionnet.validation import majority_approximant

    # perovskite-like: A sites Li/La, never Li-majority
    s = Structure(Lattice.cubic(3.9), [{"La": 0.55, "Li": 0.35}, "Ti", "O", "O", "O"],
                  [[0, 0, 0], [0.5, 0.5, 0.5], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]])
    path = tmp_path / "llto.cif"
    s.to(filename=str(path))
    a = majority_approximant(path)
    assert a.composition.reduced_formula == "LiTiO3" and a.is_ordered


def test_majority_approximant_drops_split_sites(tmp_path):
    from pymatgen.core import Lattice, Structure

    from ionnet.validation import majority_approximant

    s = Structure(Lattice.cubic(6.0), ["Li", {"Li": 0.5}, {"O": 0.6}, {"O": 0.4}, {"Ti": 0.3, "Zr": 0.7},
                                       {"S": 0.2}],
                  [[0, 0, 0], [0.5, 0, 0], [0.25, 0.25, 0.25], [0.3, 0.25, 0.25], [0.5, 0.5, 0.5], [0, 0.5, 0.5]])
    path = tmp_path / "d.cif"
    s.to(filename=str(path))
    a = majority_approximant(path)
    assert a.is_ordered
    assert sorted(a.composition.as_dict().items()) == [("Li", 2.0), ("O", 1.0), ("Zr", 1.0)]
    (o,) = [site for site in a if site.specie.symbol == "O"]
    assert np.allclose(o.frac_coords, [0.25, 0.25, 0.25])  # the 0.6 site wins, its 0.3 Å neighbour goes


@pytest.mark.parametrize("model, choice, expected", [("bvse", "auto", "empty"), ("m3gnet", "auto", "occupied"),
                                                     ("chgnet", "auto", "occupied"), ("bvse", "occupied", "occupied"),
                                                     ("bvse", "vacancy", "vacancy")])
def test_framework_choice(model, choice, expected):
    from ionnet.validation.runs import framework_for

    assert framework_for(model, choice) == expected


def test_validate_cli(obelix_dir, tmp_path):
    from ionnet.cli import main

    d = obelix_dir
    task = f"{os.path.join(HERE, 'test_validate.py')}:lattice_task"
    rc = main(["validate", "--data", str(d), "--models", "toy", "--task", task, "--db", str(tmp_path / "v.sqlite"),
               "--out", str(tmp_path / "rep"), "--n-boot", "20", "--no-progress", "--limit", "4"])
    assert rc == 0
    report = (tmp_path / "rep" / "report.md").read_text()
    assert "ionnet validate --data" in report and "--limit 4" in report
    assert main(["validate", "--data", str(tmp_path), "--db", "x.sqlite", "--out", str(tmp_path / "r")]) == 1


def test_validate_missing_ion_and_measured_activation_energies(tmp_path):
    """A CIF without Li is rescored as its own empty framework only on request, without recomputing the
    others; measured Ea (Laskowski layout, joined by ICSD id) is compared with MPE and the transport ea."""
    pytest.importorskip("matplotlib")
    from pymatgen.core import Lattice, Structure

    from ionnet.validation import validate

    d = _obelix(tmp_path)
    a = 4.15
    Structure(Lattice(0.5 * a * np.array([[0, 1, 1], [1, 0, 1], [1, 1, 0]], dtype=float)), ["Na", "Cl"],
              [[0, 0, 0], [0.5, 0.5, 0.5]]).to(filename=str(d / "cifs" / "noli.cif"))
    lines = (d / "obelix.csv").read_text().splitlines()
    rows = [lines[0] + ",icsd_id"] + [f"{ln},{1000 + k}" for k, ln in enumerate(lines[1:])]
    rows.append("noli,Li0.1NaCl,1e-3,True,True,rocksalt,2000")
    (d / "obelix.csv").write_text("\n".join(rows) + "\n")
    las = tmp_path / "laskowski2023"
    las.mkdir()
    # o0..o5 (ICSD 1000..1005): measured Ea rising with a, as the toy MPE does
    (las / "laskowski2023_si_semiformatted_filtered.csv").write_text(
        "".join(f"LiCl,1e-3,{0.2 + 0.1 * k:.2f},Fm-3m,225,,{1000 + k},1\n" for k in range(6)))
    task = f"{os.path.join(HERE, 'test_validate.py')}:lattice_task"
    kw = dict(models=["toy"], task=task, n_boot=20, framework="empty")
    r1 = validate(d, tmp_path / "v.sqlite", tmp_path / "r1", **kw)
    pm = r1["coverage"]["per_model"]["toy"]
    assert any("contains no Li" in k and v == ["noli"] for k, v in pm["failed"].items())
    r2 = validate(d, tmp_path / "v.sqlite", tmp_path / "r2", missing_ion="framework", **kw)
    pm2 = r2["coverage"]["per_model"]["toy"]
    assert pm2["ok"] == pm["ok"] + 1 and not any("contains no Li" in k for k in pm2["failed"])
    assert sum(r["computed"] for r in r2["runs"]) == 1  # only noli again; every other row kept its settings hash
    assert pm2["by_group"]["ordered"]["attempted"] == pm["by_group"]["ordered"]["attempted"]
    act = r2["metrics"]["toy"]["activation"]
    assert act["mpe"]["n"] == 6 and act["mpe"]["spearman"] == pytest.approx(1.0)
    assert act["ea"]["n"] == 6 and act["ea"]["spearman"] == pytest.approx(1.0)
    assert r2["metrics"]["toy"]["sigma_300"]["n"] == 0  # bare grids: no carrier count, no sigma
    report = (tmp_path / "r2" / "report.md").read_text()
    assert "Against the measured activation energy" in report and "| ea | 6 | 1.00 |" in report
    r3 = validate(d, tmp_path / "v.sqlite", tmp_path / "r3", activation=None, **kw)
    assert "activation" not in r3["metrics"]["toy"]


def test_validate_n_configurations_reaches_only_the_ordered_approximants(obelix_dir, tmp_path):
    from ionnet.errors import DataError
    from ionnet.screening import read_results
    from ionnet.validation import validate

    task = f"{os.path.join(HERE, 'test_validate.py')}:lattice_task"
    validate(obelix_dir, tmp_path / "v.sqlite", tmp_path / "rep", models=["toy"], task=task, n_boot=10,
             n_configurations=3)
    settings = {r["structure_id"]: r["settings"] for r in read_results(tmp_path / "v.sqlite", status=None)}
    assert settings["fw1"]["n_configurations"] == 3 and settings["fw1"]["order"]
    assert settings["o0"]["n_configurations"] == 1 and settings["li1"]["n_configurations"] == 1
    with pytest.raises(DataError, match="n_configurations"):
        validate(obelix_dir, tmp_path / "v.sqlite", tmp_path / "rep", models=["toy"], task=task, n_configurations=0)

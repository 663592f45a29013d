"""Rendering: periodic components (exact, against a brute-force periodic labelling),
off-screen pyvista scenes, offline HTML in headless Chromium, matplotlib figures, CLI.

The two-well field: along x a deep well (x = 1/4) and a shallow one (x = 3/4,
0.2 eV higher) separated by 0.6 eV walls; a 0.1 eV barrier along y and 0.5 eV
along z.  Below 0.25 eV the deep well is a tube along y (percolating, 1D) and
the shallow well a pocket; above 0.3 eV both are tubes.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np
import pytest

from ionnet import EnergyGrid, analyze

LATTICE = np.array([[6.0, 0.0, 0.0], [0.8, 4.0, 0.0], [0.3, 0.4, 4.5]])  # monoclinic-ish, Å
N = 16


def two_wells(n=N):
    x = np.arange(n) / n
    ex = 0.3 * np.cos(4 * np.pi * x) - 0.1 * np.sin(2 * np.pi * x)
    ey = 0.05 * np.cos(2 * np.pi * x)
    ez = 0.25 * np.cos(2 * np.pi * x)
    return ex[:, None, None] + ey[None, :, None] + ez[None, None, :]


@pytest.fixture(scope="module")
def result():
    from pymatgen.core import Lattice, Structure

    st = Structure(Lattice(LATTICE), ["O", "Ti"], [[0.0, 0.0, 0.0], [0.5, 0.5, 0.0]])
    return analyze(EnergyGrid(two_wells(), LATTICE, structure=st, metadata={"ion": "Li"}))


# ------------------------------------------------------------------- components (no rendering)
def brute_force_components(e, t, connectivity):
    """Label {e <= t} with periodic wrap through a sparse graph of all nodes."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    from ionnet.core.sweep import stencil

    keep = np.isfinite(e) & (e <= t)
    flat = np.arange(e.size).reshape(e.shape)
    rows, cols = [], []
    for s in stencil(connectivity):
        nb = np.roll(flat, shift=tuple(-s), axis=(0, 1, 2))
        ok = keep & keep.ravel()[nb]
        rows.append(flat[ok])
        cols.append(nb[ok])
    rows, cols = np.concatenate(rows), np.concatenate(cols)
    g = coo_matrix((np.ones(len(rows)), (rows, cols)), shape=(e.size, e.size))
    _, lab = connected_components(g, directed=False)
    return len(np.unique(lab[keep.ravel()])), lab.reshape(e.shape), keep


def same_partition(a, b, keep):
    pairs = set(zip(a[keep].tolist(), b[keep].tolist()))
    return len(pairs) == len(set(a[keep].tolist())) == len(set(b[keep].tolist()))


@pytest.mark.parametrize("connectivity", [6, 18, 26])
@pytest.mark.parametrize("t", [0.15, 0.35, 0.5, 0.65])
def test_components_match_brute_force_and_sweep(connectivity, t):
    from ionnet.render import periodic_components

    e = np.random.default_rng(7).random((9, 8, 7))
    e[0, 0, 0] = np.inf
    r = analyze(e, lattice=np.eye(3) * 4.0, connectivity=connectivity)
    c = periodic_components(r, t)
    rel = e - r.e_min
    n, lab, keep = brute_force_components(rel, t, connectivity)
    assert c.n_components == n
    assert same_partition(c.labels, lab, keep)
    assert c.sizes.sum() == keep.sum()
    # the exact sweep says which dimensionality some region reaches at t
    for d in (1, 2, 3):
        assert (c.dimensionality.max(initial=0) >= d) == (t >= r.percolation_energy_any[d])


def test_two_wells_components(result):
    from ionnet.render import periodic_components

    c = periodic_components(result, 0.25)
    assert c.n_components == 2
    assert c.dimensionality.tolist() == [1, 0]  # deep tube along b, shallow pocket
    np.testing.assert_array_equal(c.windings[0][0] != 0, [False, True, False])
    assert c.min_energy[1] == pytest.approx(0.2)
    assert periodic_components(result, 0.35).dimensionality.tolist() == [1, 1]
    assert periodic_components(result, 0.05).dimensionality.tolist() == [0]


def test_unwrapped_component_is_connected_without_wrap(result):
    from scipy.ndimage import label

    from ionnet.render import periodic_components

    c = periodic_components(result, 0.25)
    for comp in range(1, c.n_components + 1):
        ijk = c.unwrapped_indices(comp)
        lo = ijk.min(axis=0)
        box = np.zeros(tuple(ijk.max(axis=0) - lo + 1), dtype=bool)
        box[tuple((ijk - lo).T)] = True
        assert label(box)[1] == 1


# ------------------------------------------------------------------- rendering
def _rendering_problem() -> str | None:
    code = (
        "from ionnet.render._base import _pyvista\n"
        "pv = _pyvista()\n"
        "p = pv.Plotter(off_screen=True, window_size=(64, 64))\n"
        "p.add_mesh(pv.Sphere())\n"
        "img = p.screenshot(None, return_img=True)\n"
        "assert img.std() > 0, 'blank image'\n"
    )
    try:
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    except subprocess.TimeoutExpired:
        return "off-screen rendering timed out"
    if out.returncode != 0:
        tail = (out.stderr.strip().splitlines() or ["no output"])[-1]
        return f"pyvista cannot render off screen here (needs libEGL/Mesa or OSMesa): {tail}"
    return None


@pytest.fixture(scope="module")
def pv():
    try:
        import pyvista  # noqa: F401
    except ImportError:
        pytest.skip("pyvista is not installed: pip install 'ionnet[render]'")
    problem = _rendering_problem()
    if problem:
        pytest.skip(problem)
    from ionnet.render._base import _pyvista

    return _pyvista()


def image(path):
    from PIL import Image

    return np.asarray(Image.open(path).convert("RGB"), dtype=np.float64)


def assert_not_blank(img):
    background = np.all(img > 250, axis=-1)  # white background
    assert (~background).mean() > 0.01
    assert img.std() > 5


SMALL = (320, 240)


def test_pathways_png_nonblank_and_differs_between_thresholds(pv, result, tmp_path):
    from ionnet import render

    paths = []
    for t in (0.15, 0.45):
        p = render.pathways(result, [t], supercell=(2, 2, 1), window_size=SMALL)
        assert pv.OFF_SCREEN and p.off_screen
        paths.append(render.save(p, tmp_path / f"p{t}.png"))
        p.close()
    a, b = image(paths[0]), image(paths[1])
    assert a.shape == b.shape == (SMALL[1], SMALL[0], 3)
    assert_not_blank(a)
    assert_not_blank(b)
    assert np.abs(a - b).mean() > 1.0


def legend_entries(plotter):
    legend = plotter.actors["legend"]
    return [legend.GetEntryString(i) for i in range(legend.GetNumberOfEntries())]


def test_pathways_default_is_the_channel_just_above_the_mpe(pv, result):
    from ionnet import render

    assert render.channel_threshold(result) == pytest.approx(result.mpe + 0.05)
    p = render.pathways(result, window_size=SMALL)
    names = set(p.actors)
    assert {"channel-1", "cell", "supercell", "atoms-O", "atoms-Ti", "sites", "saddles", "legend", "title"} <= names
    assert not any(n.startswith("threshold-") for n in names)  # higher thresholds only on request
    entries = legend_entries(p)
    assert entries[0] == "1D channel along b"
    assert {"O", "Ti", "Li sites"} <= set(entries)
    title = p.actors["title"].GetText(2)  # upper-left corner
    assert "MPE 0.10 eV along b" in title and "2D 0.50 eV" in title and "3D 0.70 eV" in title
    # the channel surface encloses exactly the nodes below MPE + margin: its points sit at that energy
    mesh = p.actors["channel-1"].mapper.dataset
    frac = np.linalg.solve(LATTICE.T, mesh.points.T).T
    assert np.all(frac >= -1e-6) and np.all(frac <= np.array([2, 2, 2]) + 1e-6)  # inside the 2x2x2 box
    assert frac[:, 1].min() == pytest.approx(0.0, abs=1e-6) and frac[:, 1].max() == pytest.approx(2.0, abs=1e-6)
    p.close()
    p = render.pathways(result, [0.3, 0.6], supercell=(1, 1, 1), window_size=SMALL)
    assert sum(n.startswith("threshold-") for n in p.actors) == 2
    assert p.actors["threshold-1"].prop.opacity < 1
    assert "reachable below 0.60 eV (2D)" in legend_entries(p)
    p.close()


def view_direction(plotter):
    cam = plotter.camera
    d = np.asarray(cam.focal_point) - np.asarray(cam.position)
    return d / np.linalg.norm(d)


def angle_deg(u, v):
    u, v = np.asarray(u, float), np.asarray(v, float)
    return np.degrees(np.arccos(abs(np.dot(u, v)) / np.linalg.norm(u) / np.linalg.norm(v)))


# ---------------------------------------------------------------- site graph on real structures
def _min_image_length(d_frac, lattice):
    """Length (Å) of the shortest periodic image of each fractional difference (N, 3)."""
    shifts = np.array([[i, j, k] for i in (-1, 0, 1) for j in (-1, 0, 1) for k in (-1, 0, 1)], dtype=np.float64)
    d = d_frac - np.round(d_frac)
    return np.linalg.norm((d[:, None, :] + shifts[None]) @ lattice, axis=2).min(axis=1)


@pytest.fixture(scope="module")
def real_result(request):
    """The bundled LiFePO4 BVSE grid, or Li7P3S11 (BVSE, empty framework, 0.5 Å) from ../shared, analysed."""
    import ionnet
    from ionnet import load_grids
    from ionnet.potentials import get_potential

    from conftest import SHARED

    if request.param == "lifepo4":
        root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        return analyze(load_grids(os.path.join(root, "ionnet", "data", "LiFePO4_bvse.npz")))
    cif = SHARED / "data" / "structures" / "Li7P3S11_obelix_mdp.cif"
    if not cif.exists():
        pytest.skip(f"{cif} missing")
    bvse = get_potential("bvse", oxidation_states={"Li": 1, "P": 5, "S": -2})
    return analyze(ionnet.scan(str(cif), "Li", bvse, spacing=0.5, framework="empty", progress=False))


@pytest.mark.parametrize("real_result", ["lifepo4", pytest.param("li7p3s11", marks=pytest.mark.slow)],
                         indirect=True)
def test_site_graph_edges_are_drawn_at_their_saddle_path_length(pv, real_result):
    """Every drawn site-saddle-site tube has the length of its saddle path (shortest periodic images of
    site->saddle and saddle->site), ends at the image position of site j, and stays inside the box: no
    line crosses the cell.  Li7P3S11 is where site-graph images went wrong before (lines across the cell)."""
    from ionnet import render
    from ionnet.render._parts import _site_paths

    r = real_result
    sites = r.sites()
    lat = sites.lattice
    box = (2, 2, 2)
    p = render.pathways(r, supercell=box, channel=False, show_atoms=False, window_size=SMALL)
    origin_frac = p._ionnet_origin @ np.linalg.inv(lat)
    paths, edge, _ = _site_paths(sites, box, render.channel_threshold(r), origin_frac)
    assert len(paths) > 10 and len(np.unique(edge)) > 3
    i, j = sites.edges[edge].T
    # drawn to the image position: the same whole-cell shift moves site i onto the start and site j's image onto the end
    shift = paths[:, 0] - sites.frac_coords[i]
    assert np.allclose(shift, np.round(shift), atol=1e-9)
    assert np.allclose(paths[:, 2], sites.frac_coords[j] + sites.images[edge] + shift, atol=1e-9)
    drawn = np.linalg.norm(np.diff(paths, axis=1) @ lat, axis=2).sum(axis=1)
    saddle = sites.saddle_frac[edge]
    expected = _min_image_length(saddle - sites.frac_coords[i], lat) + _min_image_length(sites.frac_coords[j] - saddle, lat)
    assert np.allclose(drawn, expected, rtol=0, atol=1e-6)
    assert np.all(paths >= origin_frac - 1e-6) and np.all(paths <= origin_frac + np.asarray(box) + 1e-6)
    # the tubes on screen are these paths: every tube point within the tube radius of a path segment
    tubes = np.asarray(p.actors["saddles"].mapper.dataset.points)[::5]
    a = (paths[:, :2].reshape(-1, 3) @ lat)[None]  # segment starts (1, 2K, 3)
    d = (paths[:, 1:].reshape(-1, 3) @ lat)[None] - a
    u = np.clip(np.sum((tubes[:, None] - a) * d, axis=2) / np.sum(d * d, axis=2), 0.0, 1.0)
    dist = np.linalg.norm(tubes[:, None] - (a + u[..., None] * d), axis=2).min(axis=1)
    assert dist.max() < 0.06 + 1e-3
    p.close()


def test_default_camera_looks_across_the_channel(pv, result):
    from ionnet import render

    p = render.pathways(result, supercell=(1, 2, 1), window_size=SMALL)
    d = view_direction(p)
    # the channel runs along b: the camera looks along c (the shorter axis across it), tilted < 25 degrees
    assert angle_deg(d, LATTICE[2]) < 25
    assert angle_deg(d, LATTICE[1]) > 65
    # and b runs left to right on the screen
    up = np.asarray(p.camera.up)
    right = np.cross(d, up)
    assert np.dot(right, LATTICE[1]) / np.linalg.norm(LATTICE[1]) > 0.9
    p.close()
    for view, axis in (("a", 0), ("b", 1), ("c", 2)):
        p = render.pathways(result, supercell=(1, 1, 1), view=view, show_sites=False, window_size=SMALL)
        assert angle_deg(view_direction(p), LATTICE[axis]) < 1e-3
        p.close()
    with pytest.raises(render.RenderError, match="`view` must be one of a, b, c, iso"):
        render.pathways(result, view="x")


@pytest.mark.parametrize(
    "vectors, name",
    [([[0, 1, 0]], "b"), ([[0, -2, 0], [0, 1, 0]], "b"), ([[1, 1, 0]], "[110]"), ([[1, 0, 0], [0, 1, 0]], "ab plane"),
     ([[0, 1, 1], [1, 0, 0]], "(0 1 -1) plane"), ([[1, 0, 0], [0, 1, 0], [0, 0, 1]], "a, b, c")],
)
def test_direction_names(vectors, name):
    from ionnet.render._labels import _direction_name

    assert _direction_name(vectors) == name


@pytest.mark.parametrize(
    "lo, hi, expected",
    [(0.0499, 4.02, (0.0, 5.0, 6, "%.0f")), (0.03, 0.55, (0.0, 0.6, 4, "%.1f")), (0.3, 0.31, (0.3, 0.31, 3, "%.3f"))],
)
def test_colour_bar_ticks_are_round(lo, hi, expected):
    from ionnet.render._labels import _nice_scale

    vmin, vmax, n, fmt = _nice_scale(lo, hi)
    assert (vmin, vmax, n, fmt) == pytest.approx(expected)
    assert vmin <= lo and vmax >= hi
    ticks = np.linspace(vmin, vmax, n)
    assert np.allclose(ticks, np.round(ticks, int(fmt[2:-1])))  # every label is exact at its precision


def test_window_starts_off_the_channel():
    from ionnet.render import periodic_components
    from ionnet.render.surfaces import _window_origin

    # the deep tube of the two-well field at a = 1/4; rolled onto the a = 0 face it would be cut in half
    e = np.roll(two_wells(), -N // 4, axis=0)
    r = analyze(e, lattice=LATTICE)
    c = periodic_components(r, r.mpe + 0.05)
    origin = _window_origin(c, [1])
    plane_count = (c.labels == 1).sum(axis=(1, 2))
    assert plane_count[0] > 0 and plane_count[origin[0]] == plane_count.min() == 0
    assert origin[1] == origin[2] == 0  # along the tube every plane is cut alike: keep the origin


def test_recentred_cell_box_is_drawn_and_named(pv):
    """The two-well tube rolled onto the a = 0 face: the shown cell starts at the emptiest a plane, the black box
    is drawn from there, and the title says where (the crystallographic origin is not where the box starts)."""
    import re

    from pymatgen.core import Lattice, Structure

    from ionnet import render

    st = Structure(Lattice(LATTICE), ["O"], [[0.5, 0.5, 0.5]])
    r = analyze(EnergyGrid(np.roll(two_wells(), -N // 4, axis=0), LATTICE, structure=st, metadata={"ion": "Li"}))
    p = render.pathways(r, supercell=(1, 1, 1), window_size=SMALL)
    origin = p._ionnet_origin @ np.linalg.inv(LATTICE)
    assert origin[0] > 0 and origin[1] == origin[2] == 0  # only a moves: the tube runs along b
    corners = np.asarray(p.actors["cell"].mapper.dataset.points)
    assert np.allclose(corners.min(axis=0), (origin @ LATTICE) + np.minimum(LATTICE, 0).sum(axis=0))
    m = re.search(r"cell box from \(([-0-9.]+), ([-0-9.]+), ([-0-9.]+)\)", p.actors["title"].GetText(2))
    assert m and np.allclose([float(x) for x in m.groups()], origin, atol=0.005)
    p.close()
    q = render.pathways(r, supercell=(1, 1, 1), recentre=False, window_size=SMALL)
    assert "cell box from" not in q.actors["title"].GetText(2)
    q.close()


def test_level_surface_closes_across_cell_faces(pv, result):
    from ionnet.render import level_surface

    # the deep tube runs along b: with the periodic end point it is one piece over two cells
    surf = level_surface(result, 0.15, supercell=(1, 2, 1))
    assert surf.n_points > 0
    regions = np.unique(surf.connectivity().point_data["RegionId"])
    assert len(regions) == 1
    # Cartesian points inside the supercell, reaching both of its b faces
    frac = np.linalg.solve(LATTICE.T, surf.points.T).T
    assert np.all(frac >= -1e-6) and np.all(frac <= np.array([1, 2, 1]) + 1e-6)
    assert frac[:, 1].min() == pytest.approx(0.0, abs=1e-6) and frac[:, 1].max() == pytest.approx(2.0, abs=1e-6)
    # the deep well sits at a = 1/4: the tube is centred there
    assert frac[:, 0].mean() == pytest.approx(0.25, abs=0.03)


@pytest.mark.parametrize("t, n_expected", [(0.05, 1), (0.25, 2), (0.35, 2)])
def test_isosurface_pieces_equal_component_count(pv, result, t, n_expected):
    from ionnet import render

    surfaces, comps = render.component_surfaces(result, t)
    assert comps.n_components == n_expected
    pieces = [len(np.unique(s.connectivity().point_data["RegionId"])) for s in surfaces]
    assert pieces == [1] * comps.n_components
    assert sum(pieces) == comps.n_components
    p = render.components(result, t, window_size=SMALL)
    assert sorted(n for n in p.actors if n.startswith("component-")) == [
        f"component-{i}" for i in range(1, n_expected + 1)
    ]
    p.close()


def test_components_distinct_colours_clipped_and_labelled(pv, result):
    from ionnet import render

    p = render.components(result, 0.35, window_size=SMALL)
    colours = {tuple(np.round(p.actors[f"component-{c}"].prop.color.float_rgb, 3)) for c in (1, 2)}
    assert len(colours) == 2  # two percolating tubes, two colours
    assert legend_entries(p)[:2] == ["1: 1D, along b", "2: 1D, along b"]
    for c in (1, 2):
        frac = np.linalg.solve(LATTICE.T, p.actors[f"component-{c}"].mapper.dataset.points.T).T
        assert np.all(frac >= -1e-6) and np.all(frac <= 1 + 1e-6)  # clipped to the shown cell
    p.close()


def test_components_png(pv, result, tmp_path):
    from ionnet import render

    p = render.components(result, 0.25, window_size=SMALL)
    assert_not_blank(image(render.save(p, tmp_path / "c.png")))
    p.close()


def test_render_errors(pv, result, tmp_path):
    from ionnet import render
    from ionnet.render import RenderError

    with pytest.raises(RenderError, match="`supercell` must be three positive integers"):
        render.pathways(result, [0.2], supercell=(0, 1, 1))
    with pytest.raises(RenderError, match="at most 64"):
        render.pathways(result, [0.2], supercell=(5, 5, 5))
    with pytest.raises(RenderError, match="finite energies"):
        render.pathways(result, [np.inf])
    with pytest.raises(RenderError, match="expected a PercolationResult"):
        render.pathways(result.grid)
    p = render.pathways(result, [0.2], supercell=(1, 1, 1), show_sites=False, window_size=SMALL)
    with pytest.raises(RenderError, match="must end in .png"):
        render.save(p, tmp_path / "x.jpg")
    with pytest.raises(RenderError, match="must end in .html"):
        render.export_html(p, tmp_path / "x.png")
    p.close()


def test_library_never_calls_show():
    import ionnet.render as r

    folder = os.path.dirname(r.__file__)
    for name in os.listdir(folder):
        if name.endswith(".py"):
            assert ".show(" not in open(os.path.join(folder, name)).read(), name


def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        path = shutil.which(name)
        if path:
            return path
    return None


@pytest.mark.slow
def test_export_html_renders_in_headless_chromium(pv, result, tmp_path):
    pytest.importorskip("trame_vtk", reason="HTML export needs trame-vtk: pip install trame-vtk")
    from ionnet import render

    p = render.pathways(result, [0.15, 0.45], supercell=(1, 1, 1), window_size=SMALL)
    html = render.export_html(p, tmp_path / "scene.html")
    p.close()
    text = open(html, encoding="utf-8").read()
    assert "OfflineLocalView" in text
    assert os.path.getsize(html) < 3e6
    assert "<script src=\"http" not in text  # self-contained: nothing fetched from the network
    chromium = _chromium()
    if chromium is None:
        pytest.skip("headless Chromium not found (apt-get install -y chromium) - the HTML was written but not opened")
    shot = tmp_path / "shot.png"
    with tempfile.TemporaryDirectory() as profile:
        cmd = [
            chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={profile}",
            "--window-size=640,480", "--virtual-time-budget=8000", f"--screenshot={shot}", f"file://{html}",
        ]
        subprocess.run(cmd, capture_output=True, timeout=120)
    assert shot.exists(), "chromium wrote no screenshot"
    assert_not_blank(image(shot))


def test_export_html_decimates_large_meshes(pv, tmp_path):
    pytest.importorskip("trame_vtk", reason="HTML export needs trame-vtk: pip install trame-vtk")
    from ionnet import render
    from ionnet.render._base import _new_plotter

    p = _new_plotter(pv, SMALL)
    p.add_mesh(pv.Sphere(theta_resolution=200, phi_resolution=200), name="big")
    p.add_mesh(pv.Sphere(radius=0.3, center=(2, 0, 0)), name="small")
    big, small = (p.actors[n].mapper.dataset.n_cells for n in ("big", "small"))
    assert big > 20_000 > small
    render.export_html(p, tmp_path / "s.html")
    assert p.actors["big"].mapper.dataset.n_cells < 0.5 * big
    assert p.actors["small"].mapper.dataset.n_cells == small
    p.close()


# ------------------------------------------------------------------- matplotlib
def test_fv_plot(result, tmp_path):
    from matplotlib.figure import Figure

    from ionnet.render import fv_plot

    fig = fv_plot(result)
    assert isinstance(fig, Figure)
    ax = fig.axes[0]
    x, y = ax.lines[0].get_data()
    np.testing.assert_allclose(y, result.free_volume(x))
    finite = [d for d in (1, 2, 3) if np.isfinite(result.percolation_energy[d])]
    marks = [ln for ln in ax.lines[1:] if np.ptp(ln.get_xdata()) == 0]
    assert sorted(float(ln.get_xdata()[0]) for ln in marks) == pytest.approx(
        sorted(result.percolation_energy[d] for d in finite)
    )
    # axes fitted to the data, labelled with what the fraction is of, legend outside the axes
    assert ax.get_ylabel() == "fraction of cell volume"
    assert ax.get_ylim()[1] == pytest.approx(1.08 * y.max())
    assert x[-1] > max(result.percolation_energy[d] for d in finite)
    assert ax.get_legend() is None and len(fig.legends) == 1
    assert any("MPE (1D) 0.10 eV, along b" == t.get_text() for t in fig.legends[0].get_texts())
    fig.savefig(tmp_path / "fv.png")
    assert_not_blank(image(tmp_path / "fv.png"))
    log = fv_plot(result, log=True).axes[0]
    assert log.get_yscale() == "log" and log.get_ylim()[0] > 0


def test_level_histogram(result, tmp_path):
    from ionnet.render import level_histogram

    fig = level_histogram(result, bins=30)
    counts = sum(p.get_height() for p in fig.axes[0].patches if hasattr(p, "get_height") and p.get_width() > 0
                 and p.get_facecolor()[2] > 0.5)
    assert counts == np.isfinite(result.level_map).sum()
    fig.savefig(tmp_path / "h.png")
    assert_not_blank(image(tmp_path / "h.png"))


@pytest.mark.parametrize("axis, field", [(0, "energy"), (1, "level"), (2, "energy"), (None, "energy")])
def test_slice_plot(result, tmp_path, axis, field):
    from ionnet.render import slice_plot

    fig = slice_plot(result, axis=axis, field=field)
    assert f"{field} at {'abc'[2 if axis is None else axis]} = " in fig.axes[0].get_title()
    fig.savefig(tmp_path / "s.png")
    assert_not_blank(image(tmp_path / "s.png"))


def pixel(fig, ax, xy):
    """RGB (0-255) of the rendered figure at data coordinates ``xy``."""
    fig.canvas.draw()
    img = np.asarray(fig.canvas.buffer_rgba())[..., :3].astype(float)
    x, y = ax.transData.transform(xy)
    return img[img.shape[0] - int(round(y)), int(round(x))]


def test_slice_forbidden_nodes_grey_atoms_and_labelled_contours():
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from pymatgen.core import Lattice, Structure

    from ionnet.render import slice_plot

    e = two_wells()
    e[12:15, 4:7, :] = np.inf  # a forbidden block away from the deep well
    st = Structure(Lattice(np.diag([6.0, 4.0, 4.5])), ["O", "Ti"], [[0.0, 0.0, 0.0], [0.5, 0.5, 0.0]])
    r = analyze(EnergyGrid(e, np.diag([6.0, 4.0, 4.5]), structure=st, metadata={"ion": "Li"}))
    fig = slice_plot(r, axis=2, index=0)
    FigureCanvasAgg(fig)
    ax = fig.axes[0]
    # centre of the forbidden block (a = 13/16, b = 5/16) in the window centred on the minimum (a = 1/4, b = 1/2)
    rgb = pixel(fig, ax, ((13 / 16 - 1) * 6.0, 5 / 16 * 4.0))
    np.testing.assert_allclose(rgb, [189, 189, 189], atol=3)
    # the atoms on the c = 0 plane, in their element colours
    labels = [c.get_label() for c in ax.collections if c.get_label() in ("O", "Ti")]
    assert sorted(labels) == ["O", "Ti"]
    # contours at the thresholds carry their names (in the plane of the minimum, c = 1/2)
    texts = [t.get_text() for t in slice_plot(r, axis=2).axes[0].texts]
    assert any(t.startswith("MPE 0.10") for t in texts)
    # default: a plane that contains the channel (b), across the shortest perpendicular axis (c)
    assert "at c = " in slice_plot(r).axes[0].get_title()


def test_arrhenius_plot_fits_the_activation_energy():
    from ionnet.render import arrhenius_plot

    fig = arrhenius_plot(StandInTransport.arrhenius(ea=0.45))
    ax_d, ax_s = fig.axes[:2]
    assert ax_d.get_yscale() == ax_s.get_yscale() == "log"
    assert ax_d.get_xlabel() == "1000 / T (1/K)"
    assert "sigma" in ax_s.get_ylabel() and "S/cm" in ax_s.get_ylabel()
    fit = [ln for ln in ax_d.lines if ln.get_label().startswith("Ea = ")]
    assert len(fit) == 1 and fit[0].get_label() == "Ea = 0.45 eV (300-900 K)"
    x, y = fit[0].get_data()
    slope = np.polyfit(x, np.log(y), 1)[0]  # d ln D / d(1000/T) = -Ea / (1000 k)
    assert -slope * 1000 * 8.617333262e-5 == pytest.approx(0.45, rel=1e-6)
    mean = [ln for ln in ax_d.lines if ln.get_label() == "D mean"][0]
    tr = StandInTransport.arrhenius(ea=0.45)
    np.testing.assert_allclose(np.sort(mean.get_ydata()), np.sort(tr.D_mean))
    # the fitted line passes through the data it was fitted to
    on_line = np.exp(np.interp(1000 / tr.temperatures[::-1], x, np.log(y)))  # exact: log D is linear in 1/T
    np.testing.assert_allclose(on_line, tr.D_mean[::-1], rtol=1e-6)


def test_slice_plot_errors(result):
    from ionnet import GridError
    from ionnet.render import slice_plot

    with pytest.raises(GridError, match="`axis` must be 0, 1 or 2"):
        slice_plot(result, axis=3)
    with pytest.raises(GridError, match="`index` must be 0..15"):
        slice_plot(result, index=16)


class StandInTransport:
    """What ``ionnet.transport`` returns, with the attributes the Arrhenius plot reads (a plain fixture)."""

    def __init__(self, temperatures, D, D_mean, sigma, ea, ea_range):
        self.temperatures, self.D, self.D_mean, self.sigma = temperatures, D, D_mean, sigma
        self.ea, self.ea_range = ea, ea_range

    @classmethod
    def arrhenius(cls, ea=0.45, d0=1e-3):
        """A 1D conductor (D along b only) obeying D = d0 exp(-ea / kT) exactly."""
        T = np.array([300.0, 400.0, 500.0, 600.0, 700.0, 900.0])
        d_mean = d0 * np.exp(-ea / (8.617333262e-5 * T))
        D = np.zeros((len(T), 3, 3))
        D[:, 1, 1] = 3 * d_mean
        sigma = 1e22 * 1.602176634e-19 ** 2 * d_mean / (1.380649e-23 * T) * 1e2
        return cls(T, D, d_mean, sigma, ea, (300.0, 900.0))


# ------------------------------------------------------------------- command line
def cli(*args):
    return subprocess.run([sys.executable, "-m", "ionnet.cli", *args], capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def grid_file(result, tmp_path_factory):
    path = tmp_path_factory.mktemp("cli") / "wells.npz"
    result.grid.save(path)
    return path


@pytest.mark.slow
def test_cli_render_png_and_components(pv, grid_file, tmp_path):
    out = cli("render", str(grid_file), "--threshold", "0.15,0.45", "--supercell", "1", "2", "1",
              "--size", "320", "240", "-o", str(tmp_path / "r.png"))
    assert out.returncode == 0, out.stderr
    assert_not_blank(image(tmp_path / "r.png"))
    out = cli("render", str(grid_file), "--components", "0.25", "--no-atoms", "--size", "320", "240",
              "-o", str(tmp_path / "c.png"))
    assert out.returncode == 0, out.stderr
    assert_not_blank(image(tmp_path / "c.png"))


def render_args(*argv):
    import argparse

    from ionnet.commands import render as render_cmd

    parser = argparse.ArgumentParser()
    render_cmd.register(parser.add_subparsers())
    return render_cmd, parser.parse_args(["render", "g.npz", "-o", "r.png", *argv])


@pytest.mark.parametrize("argv, repeat, thresholds", [
    (["--repeat", "2,2,1", "--threshold", "0.15,0.45"], (2, 2, 1), [0.15, 0.45]),  # docs/cli.md: lists are comma-separated
    (["--repeat", "2", "2", "1", "--threshold", "0.15", "0.45"], (2, 2, 1), [0.15, 0.45]),  # the older form
    (["--repeat", "2,2", "1", "--threshold", "0.15,0.3", "0.45"], (2, 2, 1), [0.15, 0.3, 0.45]),
    (["--repeat", "3"], (3, 3, 3), None),
    ([], (2, 2, 2), None),
])
def test_cli_render_lists_are_comma_separated(argv, repeat, thresholds):
    cmd, args = render_args(*argv)
    assert cmd._repeat(args, (2, 2, 2)) == repeat
    assert cmd._flat(args.threshold) == thresholds


def test_cli_render_list_errors(capsys):
    from ionnet.errors import RenderError

    cmd, args = render_args("--repeat", "1,2")
    with pytest.raises(RenderError, match="one number or three"):
        cmd._repeat(args, (2, 2, 2))
    for bad in (["--repeat", "1,x"], ["--threshold", "0.1,nan"]):
        with pytest.raises(SystemExit) as e:
            render_args(*bad)
        assert e.value.code == 2
    assert "comma-separated" in capsys.readouterr().err


@pytest.mark.slow
def test_cli_plot(grid_file, tmp_path):
    out = cli("plot", str(grid_file), "--kind", "hist", "-o", str(tmp_path / "h.png"))
    assert out.returncode == 0, out.stderr
    assert_not_blank(image(tmp_path / "h.png"))


@pytest.mark.slow
def test_cli_render_view_repeat_and_html_size(pv, grid_file, tmp_path):
    pytest.importorskip("trame_vtk", reason="HTML export needs trame-vtk: pip install trame-vtk")
    out = cli("render", str(grid_file), "--view", "iso", "--repeat", "1", "--size", "320", "240",
              "-o", str(tmp_path / "r.png"), "--html", str(tmp_path / "r.html"))
    assert out.returncode == 0, out.stderr
    lines = out.stdout.strip().splitlines()
    assert lines[0].startswith(f"wrote {tmp_path / 'r.png'} (") and lines[0].endswith("kB)")
    assert lines[1].startswith(f"wrote {tmp_path / 'r.html'} (") and lines[1].endswith("B)")
    assert_not_blank(image(tmp_path / "r.png"))


@pytest.mark.slow
def test_cli_plot_arrhenius_runs_transport(grid_file, tmp_path):
    out = cli("plot", str(grid_file), "--kind", "arrhenius", "-o", str(tmp_path / "a.png"))
    assert out.returncode == 0, out.stderr
    assert_not_blank(image(tmp_path / "a.png"))


def test_arrhenius_plot_hides_blocked_directions():
    """A 1D conductor's zero principal values (round-off) are not drawn, so the axis stays on the data."""
    from ionnet.render import arrhenius_plot

    tr = StandInTransport.arrhenius(ea=0.45)
    tr.D[:, 0, 0] = 1e-30 * tr.D[:, 1, 1]  # round-off along a blocked direction
    tr.D[:, 2, 2] = 0.0
    fig = arrhenius_plot(tr)
    labels = [line.get_label() for line in fig.axes[0].get_lines()]
    assert "D principal (largest)" in labels
    assert not any("smallest" in lab or "middle" in lab for lab in labels)
    lo, _ = fig.axes[0].get_ylim()
    assert lo > 1e-3 * np.min(tr.D_mean)


@pytest.mark.slow
@pytest.mark.parametrize(
    "verb, args, message",
    [
        ("render", ["{grid}", "-o", "{tmp}/r.jpg"], "-o must name a .png file"),
        ("render", ["{grid}"], "nothing to write"),
        ("plot", ["{tmp}/missing.npz", "-o", "{tmp}/p.png"], "grid file not found"),
        ("plot", ["{tmp}/bad.npz", "-o", "{tmp}/p.png"], "cannot read grid file"),
    ],
)
def test_cli_errors_are_one_line(grid_file, tmp_path, verb, args, message):
    (tmp_path / "bad.npz").write_text("not a grid")
    out = cli(verb, *[a.format(grid=grid_file, tmp=tmp_path) for a in args])
    assert out.returncode == 1
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], out.stderr
    assert "Traceback" not in out.stderr


@pytest.mark.slow
@pytest.mark.parametrize("verb", ["render", "plot"])
def test_cli_help_has_example(verb):
    out = cli(verb, "--help")
    assert out.returncode == 0
    assert "examples:" in out.stdout and f"ionnet {verb} " in out.stdout


# ------------------------------------------------------------------- gallery
@pytest.mark.slow
def test_gallery_script_on_a_coarse_grid(pv, tmp_path):
    """docs/images/make_gallery.py runs end to end; every picture is non-blank, small and unlike the others."""
    from pathlib import Path

    script = Path(__file__).resolve().parents[1] / "docs" / "images" / "make_gallery.py"
    out = subprocess.run([sys.executable, str(script), "--spacing", "0.5", "--size", "320", "240",
                          "--out", str(tmp_path)], capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, out.stderr[-3000:]
    pngs = sorted(tmp_path.glob("*.png"))
    names = {p.name for p in pngs}
    assert {"lifepo4_pathways.png", "lifepo4_components.png", "lifepo4_fv.png", "lifepo4_slice.png"} <= names
    # the 1D answer is printed: the LiFePO4 MPE is along b
    assert "lifepo4: MPE" in out.stdout and "along [[0, 1, 0]]" in out.stdout.split("lifepo4: MPE")[1].splitlines()[0]
    images = {p.name: image(p) for p in pngs}
    for name, img in images.items():
        assert_not_blank(img)
        assert os.path.getsize(tmp_path / name) < 500_000, name
    renders = [images[n] for n in sorted(names) if n.endswith("_pathways.png")]
    for i in range(len(renders)):
        for j in range(i + 1, len(renders)):
            assert np.abs(renders[i] - renders[j]).mean() > 2.0


def test_committed_gallery_images_are_small():
    from pathlib import Path

    folder = Path(__file__).resolve().parents[1] / "docs" / "images"
    pngs = sorted(p for p in folder.glob("*.png") if not p.name.startswith("transport_"))
    assert {"lifepo4_pathways.png", "li7p3s11_pathways.png", "li3n_pathways.png"} <= {p.name for p in pngs}
    for p in pngs:
        assert p.stat().st_size < 500_000, p.name
        assert_not_blank(image(p))


# ------------------------------------------------------------------- API reference
def _resolve(dotted: str):
    """The object a dotted name names: the longest importable module prefix, then attributes."""
    import importlib

    parts = dotted.split(".")
    for k in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:k]))
        except ImportError:
            continue
        for attr in parts[k:]:
            obj = getattr(obj, attr)
        return obj
    raise ImportError(dotted)


def _api_names() -> list[str]:
    from pathlib import Path

    text = (Path(__file__).resolve().parents[1] / "docs" / "api.md").read_text()
    return [line[4:].strip() for line in text.splitlines() if line.startswith("::: ")]


def test_api_reference_names_resolve_and_cover_the_top_level():
    """Every ``::: name`` of docs/api.md imports, and every name in ``ionnet.__all__`` is documented there."""
    import ionnet

    names = _api_names()
    assert len(names) == len(set(names)) > 30
    documented = {}
    for name in names:
        documented[name] = _resolve(name)  # raises if docs/api.md names something that does not exist
    objects = [getattr(v, "__wrapped__", v) for v in documented.values()]
    for name in ionnet.__all__:
        if name == "__version__":
            continue
        obj = getattr(ionnet, name)
        obj = getattr(obj, "__wrapped__", obj)
        assert f"ionnet.{name}" in documented or any(obj is o for o in objects), f"ionnet.{name} is not in docs/api.md"


# ------------------------------------------------------------------- documentation site
@pytest.mark.slow
def test_documentation_site_builds_strict(tmp_path):
    """mkdocs.yml builds with warnings as errors: the gallery is the front page, the API reference is filled."""
    pytest.importorskip("mkdocs", reason="the site needs the docs extra: pip install -e '.[docs]'")
    pytest.importorskip("mkdocstrings", reason="the site needs the docs extra: pip install -e '.[docs]'")
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    site = tmp_path / "site"
    out = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-d", str(site)], cwd=root,
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    index = (site / "index.html").read_text()
    assert "<h1 id=\"gallery\">Gallery" in index and "images/lifepo4_pathways.png" in index
    assert (site / "images" / "lifepo4_pathways.png").exists()
    api = (site / "api" / "index.html").read_text()
    for name in ("ionnet.analyze", "ionnet.EnergyGrid", "ionnet.PercolationResult", "ionnet.render.pathways"):
        assert name in api, name
    for page in ("cli", "scan", "conventions"):
        assert (site / page / "index.html").exists()

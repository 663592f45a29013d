"""Exports: volumetric files for crystal viewers and graph files for network tools.

``import ionnet.export`` imports only numpy; pyvista, networkx and pymatgen are
imported inside the functions that need them.
"""
from __future__ import annotations

import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..analysis import Percolation
    from ..grid import EnergyGrid, ScanResult

from .volumetric import (
    BOHR_ANG,
    FILL_VALUE_EV,
    VOLUMETRIC_FORMATS,
    ExportError,
    infer_format,
    volumetric_field,
    write_volumetric,
)

__all__ = [
    "write",
    "write_graph",
    "write_volumetric",
    "volumetric_field",
    "infer_format",
    "export_format",
    "GRAPH_FORMATS",
    "VOLUMETRIC_FORMATS",
    "FORMATS",
    "FILL_VALUE_EV",
    "BOHR_ANG",
    "ExportError",
]

GRAPH_FORMATS = ("graphml", "gml")
FORMATS = GRAPH_FORMATS + VOLUMETRIC_FORMATS


def export_format(path: str | os.PathLike, fmt: str | None = None) -> str:
    """Any export format (graph or volumetric) from ``fmt`` or the file name.

    Examples
    --------
    >>> export_format("sites.graphml"), export_format("li.xsf"), export_format("x", "gml")
    ('graphml', 'xsf', 'gml')
    """
    if fmt is not None and str(fmt).lower().lstrip(".") in GRAPH_FORMATS:
        return str(fmt).lower().lstrip(".")
    if fmt is None:
        ext = os.path.splitext(os.fspath(path))[1].lower().lstrip(".")
        if ext in GRAPH_FORMATS:
            return ext
    try:
        return infer_format(path, fmt)
    except ExportError:
        raise ExportError(
            f"unknown export format for {os.path.basename(os.fspath(path))!r} (fmt={fmt!r}); "
            f"choose one of {', '.join(FORMATS)}"
        ) from None


def write_graph(
    result: Percolation,
    path: str | os.PathLike,
    fmt: str | None = None,
    *,
    graph: str = "grid",
    threshold: float | None = None,
) -> str:
    """Write the grid graph or the site graph of a result as GraphML or GML.

    Parameters
    ----------
    result : PercolationResult or PercolationSet
        A set writes its lowest-energy map.
    path : path-like
    fmt : {'graphml', 'gml'}, optional
        Default: from the extension.
    graph : {'grid', 'sites'}
        ``'grid'``: every grid node and edge (:meth:`PercolationResult.to_networkx`);
        ``'sites'``: basin minima joined by saddles (:meth:`SiteGraph.to_networkx`).
    threshold : float, eV, optional
        Keep only nodes and edges at or below this energy (relative to the source).

    Returns
    -------
    str
        The path written.
    """
    import networkx as nx

    fmt = export_format(path, fmt)
    if fmt not in GRAPH_FORMATS:
        raise ExportError(f"`fmt` must be 'graphml' or 'gml' for a graph (got {fmt!r})")
    if graph not in ("grid", "sites"):
        raise ExportError(f"`graph` must be 'grid' or 'sites' (got {graph!r})")
    from ..analysis import Percolation

    if not isinstance(result, Percolation):
        raise ExportError(
            f"a graph export needs a PercolationResult (got {type(result).__name__}); run ionnet.analyze(grid) first"
        )
    result = result.lowest()
    g = result.sites().to_networkx(threshold) if graph == "sites" else result.to_networkx(threshold)
    path = os.fspath(path)
    if fmt == "graphml":
        nx.write_graphml(g, path)
    else:
        nx.write_gml(g, path)
    return path


def write(obj: EnergyGrid | ScanResult | Percolation, path: str | os.PathLike, fmt: str | None = None, *,
          field: str = "energy", threshold: float | None = None, graph: str = "grid") -> str:
    """Write ``obj`` in any export format: :func:`write_graph` or :func:`write_volumetric`.

    ``obj`` is an EnergyGrid or a ScanResult (analysed for graphs and for
    ``field='level'``) or a PercolationResult / PercolationSet; of several
    maps the lowest is written.
    """
    fmt = export_format(path, fmt)
    if fmt in GRAPH_FORMATS:
        from ..analysis import Percolation, analyze

        if not isinstance(obj, Percolation):
            obj = analyze(obj)
        return write_graph(obj, path, fmt, graph=graph, threshold=threshold)
    return write_volumetric(obj, path, fmt, field=field, threshold=threshold)

"""MkDocs hooks of the ionnet documentation site (mkdocs.yml names this file).

The gallery is the front page: ``docs/gallery.md`` is published as the site's
``index.html``, so the repository keeps one gallery page and the site opens on it.
"""
from __future__ import annotations


def on_files(files, config):  # noqa: ARG001 - MkDocs hook signature
    gallery = files.get_file_from_path("gallery.md")
    if gallery is not None and files.get_file_from_path("index.md") is None:
        gallery.dest_uri = "index.html"
        gallery.url = "./"
    return files

"""Beeldpost: a IIIF image and manifest server for archives."""

from .app import create_app

__all__ = ["create_app"]

"""Harvesting: IIIF Change Discovery 1.0, EDM and JSON-LD records, sitemap and robots.txt.

May import: beeldpost.presentation and everything below it.
"""

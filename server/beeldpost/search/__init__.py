"""Searching: IIIF Content Search 1.0 and 2.0 within an item, and 2.0 across the items
below a Collection (through the catalogue's full-text index), with autocomplete.

May import: beeldpost.presentation and everything below it.
"""

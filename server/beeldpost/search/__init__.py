"""Searching: IIIF Content Search 1.0 and 2.0 within an item, with autocomplete.

May import: beeldpost.presentation and everything below it.
"""

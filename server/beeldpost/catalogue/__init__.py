"""The catalogue: item records (YAML), their transcripts, and the Change Discovery journal.

May import: beeldpost.image and the base modules (settings, errors, …). Never flask or
beeldpost.http.
"""

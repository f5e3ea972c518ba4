"""Who is asking, and what they may see: staff accounts, sessions, the reading room's
networks, accepted terms, and the decision for an item's access tier (catalogue/tiers.py)
that the HTTP layer hands the image core as a plain value.

May import: the standard library, argon2 (passwords), and beeldpost's base modules and
the layers below (storage, image, catalogue). Never flask, werkzeug or beeldpost.http:
the HTTP layer reads requests and calls in.
"""

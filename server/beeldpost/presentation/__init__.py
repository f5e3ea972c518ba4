"""IIIF Presentation: manifests and collections (3.0, and 2.1 derived from them), their
URLs and linked services, Content State, and their routes.

May import: beeldpost.catalogue, beeldpost.image, beeldpost.http and the base modules.
"""

"""Where files live, for every layer that keeps or reads them: a folder, or a bucket
and prefix of S3-compatible storage (places.py), and the scratch folder's files of one
process. The image core keeps sources, pyramids and answers there; the catalogue's
scan and commands walk it; the import writes beside it.

May import: the standard library, obstore (the only package that speaks to buckets),
pyvips (an object opened through ranged reads), and beeldpost's base modules
(settings, errors, counters). Nothing of images, records or HTTP.
"""

"""The image core: from an identifier to the bytes of an image answer, protocol-neutral.

Holds the Image API URL grammar (parameters), operations, sources, pyramidal
derivatives, the plan of a request, the renderers (libvips, Pillow from stored tiles,
stored tiles as they are), the response cache, admission control, info.json
documents and the ImageService that ties them together; and where sources and caches
live (storage: a folder or a bucket; bucket: pyramids and answers in a bucket).

May import: the standard library, pyvips, Pillow, obstore (storage.py alone speaks to
buckets), and beeldpost's base modules (settings, errors, etags, counters). Never flask, werkzeug or beeldpost.http: this
package knows nothing of HTTP (tests/test_layout.py holds it to that).
"""

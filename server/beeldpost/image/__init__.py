"""The image core: from an identifier to the bytes of an image answer, protocol-neutral.

Holds the Image API URL grammar (parameters), operations, sources, pyramidal
derivatives, the plan of a request, the renderers (libvips, Pillow from stored tiles,
stored tiles as they are), the response cache, admission control, info.json
documents and the ImageService that ties them together; and pyramids and answers in a
bucket (bucket.py), over the places that beeldpost.storage gives.

May import: the standard library, pyvips, Pillow, beeldpost's base modules (settings,
errors, etags, counters) and beeldpost.storage (which alone speaks to buckets). Never
flask, werkzeug or beeldpost.http: this
package knows nothing of HTTP (tests/test_layout.py holds it to that).
"""

"""HTTP: the Image API's one HTTP layer, and the rules every answer follows.

Holds the Image API layer (image_api), responses and errors, CORS, conditional
requests, content negotiation, gzip, the ASGI front, the gunicorn worker and its
configuration, metrics, the request log and health checks. HTTP rules are written
once, on Werkzeug, and work on a bare WSGI environ.

May import: beeldpost.image, the base modules, flask and werkzeug. Not the packages
above it (presentation, harvest, search, pages): those import it.
"""

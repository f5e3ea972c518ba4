"""Web pages: the collection, item pages with Mirador and Universal Viewer, the embed
page and oEmbed, with their templates and static files (templates/, static/).

May import: beeldpost.presentation and everything below it.
"""

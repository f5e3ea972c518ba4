"""An item's transcript in full, as plain text and as a web page.

These are the manifest's `rendering` links: the whole interview to read or
download, title first and citation last, in the record's own language. The
paragraphs are exactly those of the transcript annotations.
"""

from __future__ import annotations

from html import escape

from .records import Record


def transcript_text(record: Record) -> str:
    transcript = record.transcript
    language = record.language
    parts = [transcript.title[language], *transcript.paragraphs, transcript.citation[language]]
    return "\n\n".join(parts) + "\n"


def transcript_html(record: Record) -> str:
    transcript = record.transcript
    language = record.language
    title = escape(transcript.title[language])
    paragraphs = "\n".join(f"<p>{escape(paragraph)}</p>" for paragraph in transcript.paragraphs)
    return f"""<!doctype html>
<html lang="{escape(language)}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
</head>
<body>
<article>
<h1>{title}</h1>
{paragraphs}
<footer>
<p><cite>{escape(transcript.citation[language])}</cite></p>
</footer>
</article>
</body>
</html>
"""

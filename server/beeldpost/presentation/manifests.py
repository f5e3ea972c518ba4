"""Presentation 3 documents built from records: manifests, their parts, the collection.

Record + image facts + base URL → iiif-prezi3 models → plain dicts. Everything is
built with explicit ids and explicit language maps, never with the library's
defaults (ids under example.org, a process-wide label language) or its helpers
that fetch info.json over HTTP: the image's size comes from the image service.
Building validates every object against the library's models, which are
generated from the official Presentation 3 schema.

URL layout (all under the public base URL):

    /iiif/collection                                    Collection of every item
    /iiif/manifests/{item}                              Manifest
    /iiif/manifests/{item}/canvas                       its one Canvas
    /iiif/manifests/{item}/canvas/painting              painting AnnotationPage
    /iiif/manifests/{item}/canvas/painting/image        painting Annotation
    /iiif/manifests/{item}/annotations/{page}           AnnotationPage: transcript, people, caption
    /iiif/manifests/{item}/annotations/{page}/{n}       its n-th Annotation (from 1)
    /items/{item}                                       the item's web page (homepage)
    /items/{item}/transcript.txt, transcript.html       the full transcript (rendering)

Every id under /iiif/manifests/{item} is served on its own (see find_part).

An item's transcript is public unless the tier in force today is `staff` (its record
says `access: staff`, or it is closed by `restricted_until`): then the manifest has no
transcript annotations and no `rendering` links, and their URLs answer 401 (routes.py);
its metadata (label, summary, people, credit, rights) stays in. The other tiers
(capped, clickthrough, reading-room) restrict the image, not its text: their
transcripts are served as those of open items (catalogue/index.transcript_is_public).
"""

from __future__ import annotations

from dataclasses import dataclass
from html import escape
from typing import Any, Callable, Iterator

from iiif_prezi3 import (
    Annotation,
    AnnotationBody,
    AnnotationPage,
    Canvas,
    Collection,
    CollectionRef,
    Homepage,
    KeyValueString,
    LinkedResource,
    Manifest,
    ManifestRef,
    Provider,
    ServiceV2,
    ServiceV3,
    TextualBody,
)

from ..access.services import auth1_services, auth2_service
from ..catalogue.hierarchy import Slice
from ..catalogue.index import Entry, Node, transcript_is_public
from ..catalogue.records import REQUIRED_LANGUAGES, Record, Text
from ..catalogue.store import Level
from ..catalogue.tiers import effective, public_face, today
from ..http.image_api import FULL_SUFFIX
from ..image.info import (
    PROFILE_2,
    VERSION_2,
    VERSION_3,
    ApiVersion,
    preferred_sizes,
    scale_factors,
    service_url,
)
from ..image.operations import Limits, resolve
from ..image.parameters import parse_image_request
from ..image.resolved import ImagePolicy
from ..image.service import ImageService
from .links import search_service_v2, search_services, see_also

CONTEXT = "http://iiif.io/api/presentation/3/context.json"
# Thumbnails are the largest advertised size that fits this box: a whole pyramid
# level, which the image server returns without resampling.
THUMBNAIL_BOX = 400
# Types that are served on their own at their id.
DEREFERENCEABLE = ("Canvas", "AnnotationPage", "Annotation")

COLLECTION_LABEL = {"nl": ["Beeldpost: alle stukken"], "en": ["Beeldpost: all items"]}

# Field names shown next to values, in every language a record must give.
NAMES = {
    "title": {"nl": ["Titel"], "en": ["Title"]},
    "date": {"nl": ["Datum"], "en": ["Date"]},
    "photographer": {"nl": ["Fotograaf"], "en": ["Photographer"]},
    "people": {"nl": ["Personen"], "en": ["People"]},
    "place": {"nl": ["Plaats"], "en": ["Place"]},
    "subject": {"nl": ["Onderwerp"], "en": ["Subject"]},
    "description": {"nl": ["Beschrijving"], "en": ["Description"]},
    "source": {"nl": ["Bron"], "en": ["Source"]},
    "collection": {"nl": ["Collectie"], "en": ["Collection"]},
    "rights": {"nl": ["Rechten"], "en": ["Rights"]},
    "links": {"nl": ["Zie ook"], "en": ["See also"]},
    "credit": {"nl": ["Naamsvermelding"], "en": ["Credit"]},
    "people_page": {"nl": ["Personen op de afbeelding"], "en": ["People in the image"]},
    "caption": {"nl": ["Bijschrift"], "en": ["Caption"]},
}
RENDERING_KINDS = {
    "txt": ("text/plain", {"nl": "platte tekst", "en": "plain text"}),
    "html": ("text/html", {"nl": "webpagina", "en": "web page"}),
}


@dataclass(frozen=True)
class Urls:
    """Every URL this server gives out for items, from one base (scheme://host[/prefix])."""

    base: str

    @property
    def collection(self) -> str:
        return f"{self.base}/iiif/collection"

    def collection_part(self, path: str, part: Slice = Slice()) -> str:
        """A node of the hierarchy ('' for the top), or a slice of one."""
        return "/".join([self.collection, *([path] if path else []), *part.segments()])

    def manifest(self, item: str) -> str:
        return f"{self.base}/iiif/manifests/{item}"

    def canvas(self, item: str) -> str:
        return f"{self.manifest(item)}/canvas"

    def annotation_page(self, item: str, page: str) -> str:
        return f"{self.manifest(item)}/annotations/{page}"

    def item_page(self, item: str) -> str:
        return f"{self.base}/items/{item}"

    def transcript(self, item: str, extension: str) -> str:
        return f"{self.item_page(item)}/transcript.{extension}"

    def image_service(self, version: ApiVersion, identifier: str) -> str:
        return service_url(self.base, version, identifier)


@dataclass(frozen=True)
class ImageFacts:
    """What the image service knows about an item's image."""

    identifier: str
    width: int  # as the public image service describes it (smaller when capped)
    height: int
    tile_size: int
    limits: Limits = Limits()
    canvas_width: int | None = None  # the full image's size: the canvas keeps its coordinates
    canvas_height: int | None = None
    # Its access tier in force today (catalogue/tiers.py), and whether the public sees
    # anything of it (the cap) or nothing: an image that is not open has a full version.
    tier: str = "open"
    public: bool = True

    @classmethod
    def of_entry(cls, images: ImageService, entry: Entry) -> "ImageFacts":
        """As the catalogue's index knows the item's image: for lists, which must not
        open every member's image (the item's own caps; its manifest has them all)."""
        tier = entry.tier_on(today())
        return cls._indexed(images, entry, ImagePolicy(
            entry.max_size, entry.max_width, entry.max_height, entry.max_area,
            public_face(tier, entry.max_size), tier.value, (entry.item,)))

    @classmethod
    def for_item(cls, images: ImageService, record: Record, entry: Entry | None) -> "ImageFacts":
        """For the item's own manifest and page: the size the catalogue's scan read from
        the image's header (upright), under the strictest caps of every record showing
        it, as the image service gives them. Nothing is opened or built, so a harvester
        reading 100,000 manifests builds no pyramid (the image service still answers 422
        for a source whose header hid damage). When the entry is not (yet) of this
        record's image: as the image service serves it now."""
        if entry is None or entry.image != record.image or not (entry.width and entry.height):
            return cls.of(images, record.image)
        return cls._indexed(images, entry, images.policy(entry.image))

    @classmethod
    def _indexed(cls, images: ImageService, entry: Entry, policy: ImagePolicy) -> "ImageFacts":
        """The image of an index entry, of the size the scan read, under `policy`."""
        width, height, limits = images.public(entry.width, entry.height, policy)
        return cls(entry.image, width, height, images.settings.tile_size, limits,
                   entry.width, entry.height, policy.tier, policy.public)

    @classmethod
    def of(cls, images: ImageService, identifier: str) -> "ImageFacts":
        """As the image service serves it now (NotFound / SourceError otherwise), its
        records' caps applied (for `beeldpost check` and tests: requests take the sizes
        from the index)."""
        resolved = images.resolve(identifier, checking=True)
        policy = images.policy(identifier)
        return cls(identifier, resolved.width, resolved.height,
                   images.settings.tile_size, resolved.limits,
                   resolved.full_width, resolved.full_height, policy.tier, policy.public)


# --------------------------------------------------------------------------- documents


def as_document(model: Any) -> dict:
    """A model as the JSON-LD dict served: @context first, no empty (None) properties."""
    return {"@context": CONTEXT, **model.model_dump(mode="json", by_alias=True, exclude_none=True)}


def build_manifest(record: Record, image: ImageFacts, urls: Urls,
                   part_of: tuple[str, dict] | None = None) -> dict:
    return as_document(manifest_model(record, image, urls, part_of))


def build_collection(entries: list[tuple[Record, ImageFacts]], urls: Urls) -> dict:
    collection = Collection(
        id=urls.collection,
        label=COLLECTION_LABEL,
        items=[
            ManifestRef(
                id=urls.manifest(record.item),
                label=record.label.language_map(),
                thumbnail=[thumbnail(image, urls)],
            )
            for record, image in entries
        ],
    )
    return as_document(collection)


def node_label(node: Node | None) -> dict[str, list[str]]:
    return COLLECTION_LABEL if node is None else {"nl": [node.name], "en": [node.name]}


def count_summary(count: int) -> dict[str, list[str]]:
    return {"nl": [f"{count} {'stuk' if count == 1 else 'stukken'}"],
            "en": [f"{count} {'item' if count == 1 else 'items'}"]}


def build_level(level: Level, urls: Urls, facts: Callable[[Entry], ImageFacts],
                thumbnail_of: Callable[[str | None], ImageFacts | None]) -> dict:
    """A Collection document: the top of the archive, one of its levels (fonds, series,
    …) or a slice of one (a year, a run), listing at most `collection_size` members:
    child levels, then child slices or items. Each has a label, a summary, a thumbnail,
    `partOf` its parent and a Content Search 2.0 service over its items."""
    node, part = level.node, level.part
    path = node.path if node is not None else ""
    own = urls.collection_part(path, part)
    name = node.name if node is not None else ""
    label = part.label(name) if part != Slice() else node_label(node)
    members: list = []
    for child in level.children:
        members.append(CollectionRef(id=urls.collection_part(child.path), type="Collection",
                                     label=node_label(child),
                                     thumbnail=_thumbnails(thumbnail_of(child.thumbnail), urls)))
    for child_part in level.slices:
        members.append(CollectionRef(id=urls.collection_part(path, child_part), type="Collection",
                                     label=child_part.label(name)))
    for entry in level.items:
        members.append(ManifestRef(id=urls.manifest(entry.item),
                                   label={"nl": [entry.label_nl], "en": [entry.label_en]},
                                   thumbnail=[thumbnail(facts(entry), urls)]))
    fields: dict[str, Any] = dict(id=own, label=label, items=members)
    if node is not None:
        fields["summary"] = count_summary(level.count)
        fields["thumbnail"] = _thumbnails(thumbnail_of(node.thumbnail), urls)
        if part != Slice():  # a year or a run: part of its level
            parent, parent_label = urls.collection_part(path), node_label(node)
        else:
            parent = urls.collection_part(node.parent)
            parent_label = ({"nl": [node.levels[-2]], "en": [node.levels[-2]]}
                            if node.parent else COLLECTION_LABEL)
        fields["partOf"] = [{"id": parent, "type": "Collection", "label": parent_label}]
    fields["service"] = [search_service_v2(own)]
    return as_document(Collection(**fields))


def _thumbnails(image: "ImageFacts | None", urls: Urls) -> list | None:
    return [thumbnail(image, urls)] if image is not None else None


def find_part(document: dict, part_id: str) -> dict | None:
    """The canvas, annotation page or annotation with this id, as a document of its own."""
    for node in _walk(document):
        if node.get("id") == part_id and node.get("type") in DEREFERENCEABLE:
            return {"@context": CONTEXT, **node}
    return None


def _walk(value: Any) -> Iterator[dict]:
    if isinstance(value, dict):
        yield value
        for child in value.values():
            yield from _walk(child)
    elif isinstance(value, list):
        for child in value:
            yield from _walk(child)


# --------------------------------------------------------------------------- the manifest


def manifest_model(record: Record, image: ImageFacts, urls: Urls,
                   part_of: tuple[str, dict] | None = None) -> Manifest:
    """`part_of`: the (id, label) of the level of the archive the item is in, when its
    record names one; else the top Collection."""
    item = record.item
    fields: dict[str, Any] = dict(
        id=urls.manifest(item),
        label=record.label.language_map(),
        summary=record.summary.language_map(),
        metadata=metadata(record),
        requiredStatement=KeyValueString(label=NAMES["credit"], value=record.credit.language_map()),
        rights=record.rights,
        homepage=[Homepage(id=urls.item_page(item), type="Text", format="text/html",
                           label=record.label.language_map())],
        thumbnail=[thumbnail(image, urls)],
        partOf=[{"id": part_of[0] if part_of else urls.collection, "type": "Collection",
                 "label": part_of[1] if part_of else COLLECTION_LABEL}],
        items=[canvas(record, image, urls)],
    )
    if record.nav_date:
        fields["navDate"] = record.nav_date
    if record.provider:
        provider = record.provider
        homepages = []
        if provider.homepage:
            homepages.append(Homepage(id=provider.homepage, type="Text", format="text/html",
                                      label=provider.label.language_map()))
        fields["provider"] = [Provider(id=provider.id, label=provider.label.language_map(),
                                       homepage=homepages or None)]
    if record.transcript and shows_transcript(record):
        fields["rendering"] = transcript_renderings(record, urls)
    # Machine-readable records for aggregators, and search over the annotations.
    fields["seeAlso"] = see_also(urls.manifest(item))
    fields["service"] = search_services(urls.manifest(item))
    return Manifest(**fields)


def metadata(record: Record) -> list[KeyValueString]:
    """The label/value pairs viewers list, in a fixed order, absent fields left out."""
    pairs: list[tuple[str, dict[str, list[str]]]] = [("title", record.label.language_map())]
    for name in ("date", "photographer"):
        value = getattr(record, name)
        if value:
            pairs.append((name, Text.same_in_all(value).language_map()))
    if record.people:
        pairs.append(("people", {
            language: [_person_line(person.name, person.position, language)
                       for person in record.people]
            for language in REQUIRED_LANGUAGES
        }))
    if record.place:
        pairs.append(("place", Text.same_in_all(record.place).language_map()))
    for name in ("subject", "description"):
        value = getattr(record, name)
        if value:
            pairs.append((name, value.language_map()))
    if record.source:
        pairs.append(("source", Text.same_in_all(record.source).language_map()))
    if record.collection:
        pairs.append(("collection", record.collection.language_map()))
    if record.rights_label:
        pairs.append(("rights", record.rights_label.language_map()))
    if record.links:
        # Presentation 3 allows <a href> in metadata values; viewers show them as links.
        pairs.append(("links", {
            language: [f'<a href="{escape(link.url)}">{escape(link.label[language])}</a>'
                       for link in record.links]
            for language in REQUIRED_LANGUAGES
        }))
    return [KeyValueString(label=NAMES[name], value=value) for name, value in pairs]


def _person_line(name: str, position: Text | None, language: str) -> str:
    if position is None:
        return name
    try:
        return f"{name} ({position[language]})"
    except KeyError:
        return name


def shows_transcript(record: Record) -> bool:
    """Whether the item's transcript is public today (index.transcript_is_public: not
    while its tier in force is staff, as it is for a closed item). The item's own
    record decides, as it does for its metadata: its text is its own, whatever other
    items show the same image."""
    return transcript_is_public(effective(record.access, record.restricted_until, today()))


def transcript_renderings(record: Record, urls: Urls) -> list[LinkedResource]:
    title = record.transcript.title
    return [
        LinkedResource(
            id=urls.transcript(record.item, extension),
            type="Text",
            format=media_type,
            label={language: [f"{_TRANSCRIPT_WORD[language]}: {title[language]} ({kind[language]})"]
                   for language in REQUIRED_LANGUAGES},
        )
        for extension, (media_type, kind) in RENDERING_KINDS.items()
    ]


_TRANSCRIPT_WORD = {"nl": "Transcriptie", "en": "Transcript"}


# --------------------------------------------------------------------------- image


def image_services(image: ImageFacts, urls: Urls, with_version_2: bool = True) -> list:
    """The image's services: its public face (the same for everyone, at the URLs it
    always had), and for an image that is not open, before it, its full version with
    the IIIF Authorization services (1.0 and 2.0) that lead to it. Viewers take the
    first: Mirador and UV then offer sign-in, and draw what the public may see until then."""
    services: list = []
    if with_version_2 and image.tier != "open":
        services.append(ServiceV3(
            id=urls.image_service(VERSION_3, image.identifier + FULL_SUFFIX),
            type="ImageService3", profile="level2",
            service=[*auth1_services(urls.base, image.identifier, image.tier, image.public,
                                     reading_room=False),
                     auth2_service(urls.base, image.identifier, image.tier, False)]))
    services.append(ServiceV3(id=urls.image_service(VERSION_3, image.identifier),
                              type="ImageService3", profile="level2"))
    if with_version_2:
        # Image API 2 services keep their 2.x keys (@id, @type) and profile URI inside a
        # version 3 manifest, as the Presentation 3 spec shows for older services. UV 4.4
        # takes the last 2.x one: the full version's, with its 1.0 auth services, last
        # (its info.json sends the public to the public face's: 1.0's tiered access).
        services.append(ServiceV2(**{"@id": urls.image_service(VERSION_2, image.identifier),
                                     "@type": "ImageService2", "profile": PROFILE_2}))
        if image.tier != "open":
            services.append(ServiceV2(**{
                "@id": urls.image_service(VERSION_2, image.identifier + FULL_SUFFIX),
                "@type": "ImageService2", "profile": PROFILE_2,
                "service": auth1_services(urls.base, image.identifier, image.tier,
                                          image.public, reading_room=False)}))
    return services


def _image_body(image: ImageFacts, urls: Urls, size: str, with_version_2: bool) -> AnnotationBody:
    """An image as the image service renders it for `size`, with the size it will have."""
    request = parse_image_request("full", size, "0", "default.jpg", VERSION_3.number)
    ops = resolve(request, image.width, image.height, image.limits)
    return AnnotationBody(
        id=f"{urls.image_service(VERSION_3, image.identifier)}/{ops.canonical_path(3)}",
        type="Image",
        format="image/jpeg",
        width=ops.width,
        height=ops.height,
        service=image_services(image, urls, with_version_2),
    )


NOT_PUBLIC = ("static/not-public.svg", 400, 300)  # (path below the base URL, width, height)


def thumbnail(image: ImageFacts, urls: Urls) -> AnnotationBody:
    """The largest whole pyramid level within THUMBNAIL_BOX of the public face; for an
    image the public sees nothing of, a picture that says so (pages show it too), never
    a thumbnail that answers 401."""
    if not image.public:
        path, width, height = NOT_PUBLIC
        return AnnotationBody(id=f"{urls.base}/{path}", type="Image", format="image/svg+xml",
                              width=width, height=height)
    factors = scale_factors(image.width, image.height, image.tile_size)
    sizes = preferred_sizes(image.width, image.height, factors, image.limits)  # smallest first
    fitting = [s for s in sizes if max(s["width"], s["height"]) <= THUMBNAIL_BOX] or sizes[:1]
    size = fitting[-1]
    return _image_body(image, urls, f"{size['width']},{size['height']}", with_version_2=False)


# --------------------------------------------------------------------------- canvas


def canvas(record: Record, image: ImageFacts, urls: Urls) -> Canvas:
    canvas_id = urls.canvas(record.item)
    painting_page = f"{canvas_id}/painting"
    painting = Annotation(
        id=f"{painting_page}/image",
        motivation="painting",
        body=_image_body(image, urls, "max", with_version_2=True),
        target=canvas_id,
    )
    pages = [page for page in (transcript_page(record, urls), people_page(record, urls),
                               caption_page(record, urls)) if page is not None]
    return Canvas(
        id=canvas_id,
        label=record.label.language_map(),
        width=image.canvas_width or image.width,
        height=image.canvas_height or image.height,
        items=[AnnotationPage(id=painting_page, items=[painting])],
        annotations=pages or None,
    )


def _text_body(value: str, language: str, purpose: str | None = None) -> TextualBody:
    return TextualBody(value=value, language=language, format="text/plain", purpose=purpose)


def transcript_page(record: Record, urls: Urls) -> AnnotationPage | None:
    """One `commenting` annotation per paragraph of the interview, on the whole canvas;
    None when there is no transcript, or when it is not public today (shows_transcript).

    Not `supplementing`: Presentation 3 keeps that for content derived from the
    canvas itself (OCR, captions of the audio), and stock Mirador hides it.
    """
    transcript = record.transcript
    if transcript is None or not shows_transcript(record):
        return None
    page_id = urls.annotation_page(record.item, "transcript")
    title = transcript.title
    return AnnotationPage(
        id=page_id,
        label=transcript.citation.language_map(),
        items=[
            Annotation(
                id=f"{page_id}/{number}",
                motivation="commenting",
                label={language: [f"{title[language]}, {_PARAGRAPH[language]} {number}"]
                       for language in REQUIRED_LANGUAGES},
                body=_text_body(paragraph, record.language),
                target=urls.canvas(record.item),
            )
            for number, paragraph in enumerate(transcript.paragraphs, start=1)
        ],
    )


_PARAGRAPH = {"nl": "alinea", "en": "paragraph"}


def people_page(record: Record, urls: Urls) -> AnnotationPage | None:
    """One `tagging` annotation per named person, on that person's figure."""
    if not record.people:
        return None
    page_id = urls.annotation_page(record.item, "people")
    canvas_id = urls.canvas(record.item)
    return AnnotationPage(
        id=page_id,
        label=NAMES["people_page"],
        items=[
            Annotation(
                id=f"{page_id}/{number}",
                motivation="tagging",
                label={language: [_person_line(person.name, person.position, language)]
                       for language in REQUIRED_LANGUAGES},
                body=_text_body(person.name, record.language, purpose="tagging"),
                target=f"{canvas_id}#xywh={','.join(str(n) for n in person.xywh)}",
            )
            for number, person in enumerate(record.people, start=1)
        ],
    )


def caption_page(record: Record, urls: Urls) -> AnnotationPage:
    """The caption (the summary, in the record's own language) as a comment on the canvas."""
    page_id = urls.annotation_page(record.item, "caption")
    return AnnotationPage(
        id=page_id,
        label=NAMES["caption"],
        items=[
            Annotation(
                id=f"{page_id}/1",
                motivation="commenting",
                label=NAMES["caption"],
                body=_text_body(record.summary[record.language], record.language),
                target=urls.canvas(record.item),
            )
        ],
    )

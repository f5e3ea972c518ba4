"""No search shows a word of a transcript that is not public (an item whose tier in
force today is staff: staff only, or closed until a date): not an item's Content
Search 1.0 and 2.0 and their autocomplete, not a Collection's search and autocomplete
(the whole archive and a level of it, with and without words before), not the search
page's hits and snippets. The item's public metadata (its label, people, caption) is
found as ever; the transcripts of every other tier are found as those of open items;
a closure that has ended, or ends, opens the transcript to search. On SQLite and
PostgreSQL (`catalogue_settings`: the index's search and vocabulary differ)."""

from __future__ import annotations

import datetime
import re

import pytest

from support.withheld import ITEMS, PUBLIC_TEXT, SHARED, WITHHELD, make_archive, move_day

LEVELS = ["Proefarchief", "Interviews"]
LEVEL = "proefarchief/interviews"


@pytest.fixture
def archive(tmp_path, catalogue_settings):
    items = {item: ({**fields, "collection": LEVELS}, word)
             for item, (fields, word) in ITEMS.items()}
    return make_archive(tmp_path, catalogue_settings, items)


def get(client, url: str) -> dict:
    answer = client.get(url)
    assert answer.status_code == 200, (url, answer.get_data(as_text=True))
    return answer.get_json()


# --------------------------------------------------------------------------- one item


def item_hits(client, item: str, q: str) -> tuple[list[str], list[str]]:
    """The annotation ids Search 1.0 and 2.0 answer for q in the item."""
    v1 = get(client, f"/iiif/manifests/{item}/search?q={q}")
    v2 = get(client, f"/iiif/manifests/{item}/search2?q={q}")
    return ([resource["@id"] for resource in v1["resources"]],
            [annotation["id"] for annotation in v2["items"]])


def item_terms(client, item: str, q: str) -> tuple[list[str], list[str]]:
    v1 = get(client, f"/iiif/manifests/{item}/autocomplete?q={q}")
    v2 = get(client, f"/iiif/manifests/{item}/autocomplete2?q={q}")
    return ([term["match"] for term in v1["terms"]], [term["value"] for term in v2["items"]])


def test_an_items_own_search_finds_nothing_of_a_withheld_transcript(archive):
    client = archive.client
    for item in WITHHELD:
        word = ITEMS[item][1]
        for q in (word, SHARED, f"{word[:3]}*", "alinea"):
            assert item_hits(client, item, q) == ([], []), (item, q)
        assert item_terms(client, item, word[:3]) == ([], []), item
        assert item_terms(client, item, "wijk") == ([], []), item
        # Its people and caption are searched as ever.
        v1, v2 = item_hits(client, item, "Anna")
        assert v1 and v2 and not any("transcript" in hit for hit in v1 + v2), item
        assert item_terms(client, item, "ann")[1] == ["Anna"]
        # No query lists every annotation: none of the transcript's.
        every = get(client, f"/iiif/manifests/{item}/search2")["items"]
        assert every and not any("/annotations/transcript" in a["id"] for a in every)


@pytest.mark.parametrize("item", PUBLIC_TEXT)
def test_an_items_own_search_finds_a_public_transcript(archive, item):
    client = archive.client
    word = ITEMS[item][1]
    v1, v2 = item_hits(client, item, word)
    assert len(v1) == 2 and len(v2) == 2  # both paragraphs
    assert all("/annotations/transcript/" in hit for hit in v1 + v2)
    assert item_terms(client, item, word[:3]) == ([word], [word])


# --------------------------------------------------------------------------- Collections


def collection_items(client, collection: str, q: str, withheld=WITHHELD) -> set[str]:
    """The items whose annotations a Collection's search answers (every page); none is
    of the transcript of an item `withheld`."""
    prefix = f"/iiif/collection/{collection}" if collection else "/iiif/collection"
    page = get(client, f"{prefix}/search2?q={q}")
    found = set()
    while True:
        for annotation in page["items"]:
            item = annotation["partOf"][0]["id"].rsplit("/", 1)[1]
            assert "/annotations/transcript" not in annotation["id"] or item not in withheld
            found.add(item)
        if "next" not in page:
            return found
        page = get(client, page["next"]["id"].removeprefix("http://localhost"))


def collection_terms(client, collection: str, q: str) -> dict[str, int]:
    prefix = f"/iiif/collection/{collection}" if collection else "/iiif/collection"
    return {term["value"]: term["total"]
            for term in get(client, f"{prefix}/autocomplete2?q={q}")["items"]}


@pytest.mark.parametrize("collection", ["", LEVEL])
def test_a_collections_search_and_autocomplete_leave_withheld_transcripts_out(archive,
                                                                             collection):
    client = archive.client
    for item in WITHHELD:
        word = ITEMS[item][1]
        assert collection_items(client, collection, word) == set(), word
        assert collection_terms(client, collection, word[:4]) == {}, word
        # After another word (the index's instances, narrowed by a match).
        assert collection_terms(client, collection, f"alinea+{word[:4]}") == {}, word
        assert collection_terms(client, collection, f"anna+{word[:4]}") == {}, word
    # The word every transcript holds: found in the public ones only, and counted so.
    assert collection_items(client, collection, SHARED) == set(PUBLIC_TEXT)
    assert collection_terms(client, collection, SHARED[:5]) == {SHARED: len(PUBLIC_TEXT)}
    # Each public transcript's own word.
    for item in PUBLIC_TEXT:
        word = ITEMS[item][1]
        assert collection_items(client, collection, word) == {item}, word
        assert collection_terms(client, collection, word[:4]) == {word: 2}, word
        assert collection_terms(client, collection, f"alinea+{word[:4]}") == {
            f"alinea {word}": 2}, word
    # Public metadata of the withheld items is found: their people and caption.
    assert collection_items(client, collection, "Anna") == set(ITEMS)
    assert collection_terms(client, collection, "anna")["anna"] >= len(ITEMS)


# --------------------------------------------------------------------------- the search page


def page_results(client, q: str) -> tuple[list[str], str]:
    """The items a search page lists, and its HTML."""
    answer = client.get(f"/search?q={q}&lang=nl")
    assert answer.status_code == 200, answer.get_data(as_text=True)
    html = answer.get_data(as_text=True)
    items = re.findall(r'<h3 class="bp-result-title"><a href="[^"]*/items/([^"?#]+)', html)
    return items, html


def test_the_search_page_shows_no_hit_or_snippet_from_a_withheld_transcript(archive):
    client = archive.client
    for item in WITHHELD:
        word = ITEMS[item][1]
        for q in (word, f"{word[:4]}*", f'"de+{word}"'):
            items, html = page_results(client, q)
            assert items == [] and "Geen stukken gevonden" in html, (item, q)
            assert 'class="bp-snippet"' not in html and "<mark>" not in html, (item, q)
    items, html = page_results(client, SHARED)
    assert sorted(items) == sorted(PUBLIC_TEXT)
    snippets = " ".join(re.findall(r'<p class="bp-snippet">(.*?)</p>', html, re.S))
    assert SHARED in snippets
    assert not any(ITEMS[item][1] in snippets for item in WITHHELD)
    # Found by its public metadata: its label, with the label as the snippet.
    for item in WITHHELD:
        name = item.split("-")[0]  # "gesloten" of "Proefstuk gesloten-stuk"
        items, html = page_results(client, name)
        assert item in items, item
        snippets = re.findall(r'<p class="bp-snippet">(.*?)</p>', html, re.S)
        assert snippets and not any(SHARED in snippet for snippet in snippets)
    for item in PUBLIC_TEXT:
        word = ITEMS[item][1]
        items, html = page_results(client, word)
        assert items == [item], word
        assert f"<mark>{word}</mark>" in html


def test_the_day_a_closure_ends_its_transcript_is_searched(archive, monkeypatch):
    day = [datetime.date(2048, 12, 31)]
    move_day(monkeypatch, day)
    client = archive.client
    assert page_results(client, "walrus")[0] == []
    assert collection_terms(client, "", "walr") == {}
    assert item_hits(client, "gesloten-stuk", "walrus") == ([], [])
    day[0] = datetime.date(2049, 1, 1)  # the next request's scan journals it again
    archive.forget_policies()
    assert page_results(client, "walrus")[0] == ["gesloten-stuk"]
    assert collection_terms(client, "", "walr") == {"walrus": 2}
    assert collection_items(client, "", "walrus", withheld=()) == {"gesloten-stuk"}
    assert [len(hits) for hits in item_hits(client, "gesloten-stuk", "walrus")] == [2, 2]
    # Staff only is staff only on any day.
    assert page_results(client, "zeppelin")[0] == []


def test_an_item_made_staff_only_leaves_search_at_once(archive):
    client = archive.client
    assert page_results(client, "kolibrie")[0] == ["open-stuk"]
    archive.publish("open-stuk", {"access": "staff", "collection": LEVELS}, "kolibrie",
                    image="open-stuk")
    assert page_results(client, "kolibrie")[0] == []
    assert collection_terms(client, "", "koli") == {}
    assert collection_items(client, "", "kolibrie") == set()
    assert page_results(client, "open")[0] == ["open-stuk"]  # its label

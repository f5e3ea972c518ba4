"""A level too large for one Collection, as child Collections (catalogue/hierarchy.py):
whatever the counts, no page lists more than the limit, every item is on exactly one
page, and the URLs of the parts read back to the same parts."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from beeldpost.catalogue.hierarchy import ALL, Slice, parse_segments, plan


def leaves(part: Slice, children: int, years, limit: int, depth: int = 0):
    """Every (slice, offset, count) of items reachable from `part`, walking its pages."""
    page = plan(part, children, years, limit)
    assert page is not None, part
    members = (children if page.with_children else 0) + len(page.slices) + \
        (page.items[1] if page.items else 0)
    assert members <= limit, (part, page)
    assert depth < 40  # runs of runs: log(count) / log(limit) deep
    if page.items is not None:
        yield part, *page.items
    for child in page.slices:
        assert parse_segments(["level", *child.segments()]) == (["level"], child)
        yield from leaves(child, children, years, limit, depth + 1)


def positions(found) -> dict:
    """year (ALL for undated-or-not) -> the positions covered, from the leaves."""
    covered: dict = {}
    for part, offset, count in found:
        covered.setdefault(part.year, []).extend(range(offset, offset + count))
    return covered


years_strategy = st.lists(st.tuples(st.one_of(st.none(), st.integers(1850, 2025)),
                                    st.integers(1, 4000)),
                          min_size=1, max_size=40, unique_by=lambda pair: pair[0])


@settings(max_examples=200, deadline=None)
@given(years=years_strategy, children=st.integers(0, 20), limit=st.integers(2, 1000))
def test_every_item_is_on_exactly_one_page_of_at_most_limit(years, children, limit):
    # (Child levels themselves are listed whole: a level with `limit` child levels or
    # more is beyond what this splits; archives have tens of fonds, not thousands.)
    children = min(children, limit - 1)
    years = sorted(years, key=lambda pair: (pair[0] is None, pair[0] or 0))
    covered = positions(leaves(Slice(), children, years, limit))
    total = sum(count for _year, count in years)
    if ALL in covered:  # not split by year: one run over every item
        assert sorted(covered[ALL]) == list(range(total))
    else:
        for year, count in years:
            assert sorted(covered[year]) == list(range(count)), year


def test_a_small_level_lists_everything():
    page = plan(Slice(), 3, [(1999, 10), (None, 2)], 1000)
    assert page.with_children and page.items == (0, 12) and page.slices == ()


def test_dated_items_split_by_year_and_a_big_year_in_runs():
    years = [(1998, 30), (1999, 5), (None, 2)]
    top = plan(Slice(), 1, years, 10)
    assert top.slices == (Slice(1998), Slice(1999), Slice(None))
    assert plan(Slice(1998), 1, years, 10).slices == (
        Slice(1998, 1, 10), Slice(1998, 11, 20), Slice(1998, 21, 30))
    assert plan(Slice(1998, 11, 20), 1, years, 10).items == (10, 10)
    assert plan(Slice(1999), 1, years, 10).items == (0, 5)
    assert Slice(1998, 11, 20).label("Wijkposten") == {"nl": ["Wijkposten, 1998, 11–20"],
                                                       "en": ["Wijkposten, 1998, 11–20"]}
    assert Slice(None).label("Wijkposten")["nl"] == ["Wijkposten, zonder datum"]


def test_too_many_years_fall_back_to_runs_of_runs():
    years = [(year, 3) for year in range(1900, 2000)]  # 100 years of 3 items, limit 10
    top = plan(Slice(), 0, years, 10)
    assert all(part.year is ALL for part in top.slices)
    assert top.slices[0] == Slice(ALL, 1, 100) and len(top.slices) == 3
    assert len(plan(Slice(ALL, 1, 100), 0, years, 10).slices) == 10


def test_parts_the_plan_does_not_make_are_none():
    years = [(1998, 30), (None, 2)]
    assert plan(Slice(2001), 0, years, 10) is None  # no such year
    assert plan(Slice(1998, 2, 11), 0, years, 10) is None  # not a run of the plan
    assert plan(Slice(ALL, 1, 10), 0, years, 10) is None  # split by year, not in runs
    assert plan(Slice(1998), 0, years, 1000) is None  # small enough: not split at all


def test_segments_that_are_not_parts_are_refused():
    assert parse_segments(["a", "~abc"]) is None
    assert parse_segments(["a", "~1-10", "b"]) is None
    assert parse_segments(["a", "~10-1"]) is None
    assert parse_segments(["a", "~1-10", "~1999"]) is None
    assert parse_segments(["a", "b"]) == (["a", "b"], Slice())

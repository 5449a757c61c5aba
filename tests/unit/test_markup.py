"""The EVE markup renderer: what each tag becomes, and properties that hold on any string at all."""

from __future__ import annotations

import html
import re
from html.parser import HTMLParser

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from killreport.web.markup import (
    EXTERNAL_REL,
    MAX_DEPTH,
    colour,
    external_target,
    render,
    site_target,
    size_class,
    unwrap_python,
)

# What the renderer may write: these tags, these attributes, these values; nothing else.
ALLOWED = {"b": set(), "i": set(), "u": set(), "br": set(), "span": {"class"}, "a": {"href", "rel", "class"}}
SPAN_CLASS = re.compile(r"(fs-(8|10|12|14|18|24|32)|ec|c[rgba]-[0-9a-f])")
SITE_HREF = re.compile(r"/(alliances|corporations|characters)/[1-9][0-9]*")
# Every tag the renderer writes, exactly as written (attribute values never hold < or >).
OWN_TAG = re.compile(r'<(b|i|u|br)>|</(b|i|u|span|a)>|<span class="[^"<>]*">'
                     r'|<a href="[^"<>]*"(?: rel="nofollow noopener noreferrer")? class="eve-(?:link|out)">')
FRAGMENTS = (
    "<b>", "</b>", "<i>", "</i>", "<u>", "</u>", "<br>", "<br/>", "<b/>", "<loc>", "</loc>", "</font>",
    '<font size="18" color="#ffff0000">', "<font size=99 color=#bfffffff>", '<font color="red;x:url(y)">',
    '<a href="showinfo:1377//90000001">', '<a href="showinfo:587//1">', "<url=showinfo:16159//99000001>",
    '<a href="javascript:alert(1)">', '<a href="https://example.com/?a=1&amp;b=2" onclick="x()">', "</a>",
    "<url=http://e.com/>", "</url>", "<color=0xff00ff00>", "<color=white>", "</color>", "<script>",
    "</script>", "<img src=x onerror=alert(1)>", '<div style="color:red">', "&lt;", "&gt;", "&amp;",
    "&#60;", "&quot;", "<", ">", '"', "'", "=", "&", "/", "u'", "\\u003c", "\u202e", "\n")
MARKUP = st.lists(st.one_of(st.sampled_from(FRAGMENTS), st.text(max_size=8)), max_size=40).map("".join)


class Shape(HTMLParser):
    """The elements and attributes of an HTML fragment, and whether every element closes in order."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.open: list[str] = []
        self.problems: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        """Check the tag and its attributes against ALLOWED; note it open (br is void)."""
        if tag not in ALLOWED:
            self.problems.append(f"tag {tag}")
            return
        for name, value in attrs:
            if name not in ALLOWED[tag] or not value_ok(tag, name, value or ""):
                self.problems.append(f"{tag} {name}={value!r}")
        if tag != "br":
            self.open.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        """The renderer never writes `<x/>`."""
        self.problems.append(f"self-closing {tag}")

    def handle_endtag(self, tag: str) -> None:
        """An end tag must close the innermost open element."""
        if not self.open or self.open.pop() != tag:
            self.problems.append(f"misnested </{tag}>")


def value_ok(tag: str, name: str, value: str) -> bool:
    """Whether an attribute's value is one the renderer may write."""
    if name == "class" and tag == "span":
        return all(SPAN_CLASS.fullmatch(c) for c in value.split())
    if name == "class":
        return value in ("eve-link", "eve-out")
    if name == "rel":
        return value == EXTERNAL_REL
    return bool(SITE_HREF.fullmatch(value)) or value.lower().startswith(("http://", "https://"))


def shape(fragment: str) -> Shape:
    """The parsed shape of `fragment`."""
    parser = Shape()
    parser.feed(fragment)
    parser.close()
    return parser


@settings(max_examples=300)
@given(MARKUP, st.booleans())
def test_output_holds_only_allowed_tags_and_attributes_all_closed_in_order(source: str, inline: bool) -> None:
    parsed = shape(render(source, inline=inline))
    assert parsed.problems == [] and parsed.open == []


@settings(max_examples=300)
@given(MARKUP, st.booleans())
def test_every_angle_bracket_of_the_input_text_is_escaped(source: str, inline: bool) -> None:
    left = OWN_TAG.sub("", render(source, inline=inline))
    assert "<" not in left and ">" not in left


@settings(max_examples=300)
@given(st.text(), st.booleans())
def test_rendering_is_total(source: str, inline: bool) -> None:
    assert isinstance(render(source, inline=inline), str)


@settings(max_examples=200)
@given(MARKUP)
def test_the_output_grows_at_most_linearly(source: str) -> None:
    assert len(render(source)) <= 100 * len(source) + 100


@given(st.text(alphabet=st.characters(blacklist_characters="<&'\"")))
def test_text_without_markup_comes_back_as_it_was(text: str) -> None:
    assert html.unescape(render(text)) == text


@pytest.mark.parametrize(("type_id", "item_id", "page"), [
    (16159, 99000001, "/alliances/99000001"), (2, 98000001, "/corporations/98000001"),
    (1373, 90000001, "/characters/90000001"), (1386, 90000001, "/characters/90000001"),
    (34574, 2112000001, "/characters/2112000001"),
    (587, 123, None), (5, 30000142, None), (1372, 90000001, None), (1387, 90000001, None),
    (2, 1000125, None),  # an NPC corporation: no page here
    (1377, 0, None), (16159, 2**63, None)])
def test_showinfo_links_to_the_three_kinds_go_to_their_pages_here(type_id: int, item_id: int,
                                                                  page: str | None) -> None:
    assert site_target(f"showinfo:{type_id}//{item_id}") == page
    rendered = render(f'<a href="showinfo:{type_id}//{item_id}">Label</a>')
    assert rendered == (f'<a href="{page}" class="eve-link">Label</a>' if page else "Label")


def test_the_url_form_and_unquoted_hrefs_link_too() -> None:
    assert render("<url=showinfo:1377//90000001>M</url>") == (
        '<a href="/characters/90000001" class="eve-link">M</a>')
    assert render("<a href=showinfo:16159//99000001>G</a>") == (
        '<a href="/alliances/99000001" class="eve-link">G</a>')
    wide = "showinfo:\uff12//\uff19\uff18"  # fullwidth digits: no id
    assert site_target("showinfo:2") is None and site_target(wide) is None


def test_links_out_are_http_only_and_carry_rel() -> None:
    assert render("<url=https://e.com/a?b=1&amp;c=2>x</url>") == (
        f'<a href="https://e.com/a?b=1&amp;c=2" rel="{EXTERNAL_REL}" class="eve-out">x</a>')
    assert render('<a href="http://e.com/" onclick="steal()">x</a>') == (
        f'<a href="http://e.com/" rel="{EXTERNAL_REL}" class="eve-out">x</a>')
    for href in ("javascript:alert(1)", "java\tscript:alert(1)", "JAVASCRIPT:x", "data:text/html,x",
                 "vbscript:x", "//e.com/", "http://", "http://[::1", "https://e.com/a b", "fitting:1:2",
                 "joinChannel:-123"):
        assert external_target(href) is None, href
        assert render(f'<a href="{href}">label</a>') == "label"


def test_links_do_not_nest() -> None:
    assert render('<url=http://a.com/>x<a href="showinfo:2//98000001">y</a>z</url>') == (
        f'<a href="http://a.com/" rel="{EXTERNAL_REL}" class="eve-out">xyz</a>')


def test_colours_and_sizes_become_classes_from_hex_digits_only() -> None:
    assert render('<font size="18" color="#ffff0000">r</font>') == (
        '<span class="fs-18 ec cr-f cg-0 cb-0 ca-f">r</span>')
    assert render("<color=0xbfffffff>w</color>") == '<span class="ec cr-f cg-f cb-f ca-b">w</span>'
    assert render("<color=#00ff00>g</color>") == '<span class="ec cr-0 cg-f cb-0 ca-f">g</span>'
    assert colour("white") == (255, 255, 255, 255) and colour("#12345") is None
    for hostile in ("red;background:url(http://e.com/x)", "#ff0000;x", "expression(alert(1))",
                    "var(--x)", "#ff00ff00 !important"):
        assert render(f'<font color="{hostile}">t</font>') == "t", hostile
    assert render('<font color="#ff00ff00" onmouseover="x()">t</font>') == (
        '<span class="ec cr-0 cg-f cb-0 ca-f">t</span>')  # the handler is dropped with the tag
    assert [size_class(s) for s in ("1", "12", "13", "16", "1000", "-5", "nan", "inf", "x", "")] == [
        "fs-8", "fs-12", "fs-12", "fs-14", "fs-32", "fs-8", None, "fs-32", None, None]


def test_other_tags_are_text_and_stray_closers_vanish() -> None:
    assert render("<script>alert('x')</script>") == "&lt;script&gt;alert('x')&lt;/script&gt;"
    assert render('<img src=x onerror="a()">') == '&lt;img src=x onerror="a()"&gt;'
    assert render("a</b>b</font></a>c") == "abc"
    assert render("<loc>text</loc><b/>") == "text"
    assert render("a < b > c <3") == "a &lt; b &gt; c &lt;3"


def test_misnested_tags_are_reopened_and_unclosed_ones_closed() -> None:
    assert render("<b>x<i>y</b>z</i>") == "<b>x<i>y</i></b><i>z</i>"
    assert render("<b><u>open") == "<b><u>open</u></b>"
    assert render("<url=http://e.com/><b>x</url>y</b>") == (
        f'<a href="http://e.com/" rel="{EXTERNAL_REL}" class="eve-out"><b>x</b></a><b>y</b>')


def test_nesting_stops_at_the_maximum_depth() -> None:
    rendered = render("<i>" * (MAX_DEPTH + 5) + "x")
    assert rendered == "<i>" * MAX_DEPTH + "x" + "</i>" * MAX_DEPTH


def test_entities_are_read_once_and_escaped_once() -> None:
    assert render("&lt;b&gt;not bold&lt;/b&gt; &amp;amp; &gt") == "&lt;b&gt;not bold&lt;/b&gt; &amp;amp; &gt;"
    assert html.unescape(render("Tom &amp; Jerry")) == "Tom & Jerry"


def test_line_breaks_sizes_and_colours_stay_out_of_inline_text() -> None:
    assert render("<b>Director</b><br><color=0xffff0000>of</color> <font size=30>Pain</font>",
                  inline=True) == "<b>Director</b> of Pain"


def test_python_wrapped_descriptions_are_read() -> None:
    assert unwrap_python("u'\\u041f\\u0440\\u0438 \\'q\\' \\ud83d\\ude80\\n'") == "При 'q' 🚀\n"
    assert unwrap_python('u"<b>x</b>"') == "<b>x</b>"
    assert unwrap_python("u'lone \\ud800'") == "lone \ufffd"
    assert render("u'\\u003cb\\u003ebold\\u003c/b\\u003e'") == "<b>bold</b>"
    assert unwrap_python("C:\\Users\\u0041") == "C:\\Users\\u0041"  # not wrapped: left as written
    assert unwrap_python("u'unfinished") == "u'unfinished"

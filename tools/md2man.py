#!/usr/bin/env python3
"""Turn a manual written in Markdown (docs/cli.md) into a roff man page.

usage: md2man.py [--name NAME] [--section N] [--source TEXT] [--manual TEXT]
                 [--date TEXT] [-o OUT] INPUT.md

Standard library only: the build runs it on every change of the Markdown, so
the man page says what the Markdown says. It understands the Markdown a
manual is written in: ATX headings, paragraphs, emphasis, code spans, links,
bullet and numbered lists (nested by indentation, with continuation lines),
fenced and indented code blocks, block quotes, pipe tables, rules and HTML
comments. The first heading "NAME(SECTION)" (for example "dtwin(1)") names
the page unless --name/--section are given; each "##" heading becomes a
section (.SH), each "###" a subsection (.SS). Tables go through tbl, so the
output starts with the '\\" t preprocessor line man(1) looks for.

The date on the page comes from --date, else from SOURCE_DATE_EPOCH, else it
is left empty: the same input gives the same page (reproducible builds).
"""

import argparse
import datetime
import os
import re
import sys

# ---------------------------------------------------------------- inline text

# Private-use characters stand for markup while the text is escaped, so that
# emphasis may surround a code span and a code span's stars stay stars.
_CODE0 = 0xE000  # code span i -> chr(_CODE0 + i)
_B_ON, _B_OFF, _I_ON, _I_OFF = "\uF000", "\uF001", "\uF002", "\uF003"

_LINK = re.compile(r"!?\[([^\]]*)\]\(([^)\s]*)(?:\s+\"[^\"]*\")?\)")
_AUTOLINK = re.compile(r"<((?:https?|mailto):[^>\s]+)>")
_BOLD = re.compile(r"(\*\*|__)(?=\S)(.+?)(?<=\S)\1")
_ITAL_STAR = re.compile(r"(?<![\w*\\])\*(?=[^\s*])(.+?)(?<=[^\s*])\*(?![\w*])")
_ITAL_UNDER = re.compile(r"(?<![\w\\])_(?=\S)(.+?)(?<=\S)_(?!\w)")
_HTML_TAG = re.compile(r"</?[A-Za-z][A-Za-z0-9-]*(?:\s[^<>]*)?/?>")
_ENTITIES = {"&lt;": "<", "&gt;": ">", "&amp;": "&", "&quot;": '"', "&nbsp;": "\u00a0"}


def escape(text):
    """Escapes roff's special characters in literal text (not line starts)."""
    out = []
    for ch in text:
        if ch == "\\":
            out.append("\\e")
        elif ch == "-":
            out.append("\\-")  # a minus, so options copy and search as typed
        elif ch == "\u00a0":
            out.append("\\ ")
        else:
            out.append(ch)
    return "".join(out)


def code_span(text):
    """A code span: never hyphenated (\\%), a long one may break after a
    comma (\\:) so a line of JSON does not overrun the page."""
    body = escape(text)
    if len(text) > 30:
        body = body.replace(",", ",\\:")
    return "\\%" + body.replace(" ", " \\%")


def _split_code_spans(text):
    """Replaces code spans by placeholders; returns (text, [span contents])."""
    spans = []
    out = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == "\\" and i + 1 < len(text) and text[i + 1] in "\\`*_[]()#+-.!|<>{}":
            out.append(text[i : i + 2])  # an escape stays for the later passes
            i += 2
            continue
        if ch == "`":
            j = i
            while j < len(text) and text[j] == "`":
                j += 1
            fence = text[i:j]
            end = text.find(fence, j)
            while end != -1 and end + len(fence) < len(text) and text[end + len(fence)] == "`":
                end = text.find(fence, end + len(fence) + 1)
            if end == -1:
                out.append(fence)  # no closing run: literal backticks
                i = j
                continue
            body = text[j:end]
            if body.startswith(" ") and body.endswith(" ") and body.strip():
                body = body[1:-1]
            spans.append(body)
            out.append(chr(_CODE0 + len(spans) - 1))
            i = end + len(fence)
            continue
        out.append(ch)
        i += 1
    return "".join(out), spans


def inline(text):
    """Markdown inline text -> roff text on one logical line."""
    text, spans = _split_code_spans(text)

    def link(m):
        label, url = m.group(1), m.group(2)
        if m.group(0).startswith("!"):
            return label  # an image: its alt text
        if re.match(r"(?:https?|mailto):", url) and url != label:
            return "%s <%s>" % (label, url)
        return label  # a relative link (another page of the docs): its text

    text = _LINK.sub(link, text)
    text = _AUTOLINK.sub(lambda m: m.group(1), text)
    text = _HTML_TAG.sub("", text)
    for ent, ch in _ENTITIES.items():
        text = text.replace(ent, ch)
    text = _BOLD.sub(lambda m: _B_ON + m.group(2) + _B_OFF, text)
    text = _ITAL_STAR.sub(lambda m: _I_ON + m.group(1) + _I_OFF, text)
    text = _ITAL_UNDER.sub(lambda m: _I_ON + m.group(1) + _I_OFF, text)

    out = []
    bold = italic = 0
    font = "R"

    def set_font(code_bold=False):
        nonlocal font
        b = bold > 0 or code_bold
        want = "BI" if b and italic > 0 else "B" if b else "I" if italic > 0 else "R"
        if want != font:
            out.append("\\f(%s" % want if len(want) == 2 else "\\f%s" % want)
            font = want

    i = 0
    while i < len(text):
        ch = text[i]
        if ch == _B_ON:
            bold += 1
        elif ch == _B_OFF:
            bold -= 1
        elif ch == _I_ON:
            italic += 1
        elif ch == _I_OFF:
            italic -= 1
        elif _CODE0 <= ord(ch) < _CODE0 + len(spans):
            set_font(code_bold=True)  # literal text: bold, as man pages print it
            out.append(code_span(spans[ord(ch) - _CODE0]))
            set_font()
            i += 1
            continue
        elif ch == "\\" and i + 1 < len(text) and text[i + 1] in "\\`*_[]()#+-.!|<>{}":
            set_font()
            out.append(escape(text[i + 1]))
            i += 2
            continue
        else:
            set_font()
            out.append(escape(ch))
        i += 1
    bold = italic = 0
    set_font()
    return "".join(out)


def text_line(roff, keep_indent=False):
    """A roff text line: a leading dot or quote would read as a request."""
    roff = roff.rstrip() if keep_indent else roff.strip()
    if roff.startswith(".") or roff.startswith("'"):
        return "\\&" + roff
    return roff


def macro_arg(roff):
    """One argument of a macro line, quoted."""
    return '"%s"' % roff.replace('"', '\\(dq')


# ---------------------------------------------------------------- blocks

_HEADING = re.compile(r"^ {0,3}(#{1,6})\s+(.*?)\s*#*\s*$")
_FENCE = re.compile(r"^( {0,3})(`{3,}|~{3,})(.*)$")
_BULLET = re.compile(r"^( *)([-*+])\s+(.*)$")
_ORDERED = re.compile(r"^( *)(\d{1,9})([.)])\s+(.*)$")
_RULE = re.compile(r"^ {0,3}([-*_])(\s*\1){2,}\s*$")
_TABLE_SEP = re.compile(r"^\s*\|?\s*:?-+:?\s*(\|\s*:?-+:?\s*)*\|?\s*$")
_TITLE = re.compile(r"^([A-Za-z0-9_.+-]+)\((\w+)\)$")


def _is_table_start(lines, i):
    return (
        "|" in lines[i]
        and i + 1 < len(lines)
        and "|" in lines[i + 1]
        and _TABLE_SEP.match(lines[i + 1]) is not None
    )


def _split_row(line):
    line = line.strip()
    if line.startswith("|"):
        line = line[1:]
    if line.endswith("|") and not line.endswith("\\|"):
        line = line[:-1]
    cells, cur, i = [], [], 0
    in_code = False
    while i < len(line):
        ch = line[i]
        if ch == "\\" and i + 1 < len(line) and line[i + 1] == "|":
            cur.append("|")  # \| is a bar inside a cell
            i += 2
            continue
        if ch == "`":
            in_code = not in_code
        if ch == "|" and not in_code:
            cells.append("".join(cur).strip())
            cur = []
        else:
            cur.append(ch)
        i += 1
    cells.append("".join(cur).strip())
    return cells


def _indent(line):
    return len(line) - len(line.lstrip(" "))


def _block_start(lines, i):
    """Whether line i starts a block other than a paragraph continuation."""
    line = lines[i]
    return (
        _HEADING.match(line)
        or _FENCE.match(line)
        or _BULLET.match(line)
        or (_ORDERED.match(line) and _ORDERED.match(line).group(2) == "1")
        or _RULE.match(line)
        or line.lstrip().startswith(">")
        or line.lstrip().startswith("<!--")
        or _is_table_start(lines, i)
    )


class Converter:
    def __init__(self, lines):
        self.lines = [l.rstrip("\n").replace("\t", "    ") for l in lines]
        self.out = []
        self.title = None  # (name, section) from the first heading
        self.lists = []  # open lists, outermost first: (marker indent, content indent)

    def emit(self, line):
        self.out.append(line)

    def paragraph_break(self):
        # a new paragraph inside a list item keeps the item's indent
        self.emit(".IP" if self.lists else ".PP")

    def close_lists(self, indent=-1):
        """Closes the lists whose items' content is indented deeper than indent."""
        while self.lists and self.lists[-1][1] > indent:
            self.lists.pop()
            if self.lists:
                self.emit(".RE")  # the .RS that opened the nested list

    def run(self):
        lines = self.lines
        i = 0
        while i < len(lines):
            line = lines[i]
            if not line.strip():
                i += 1
                continue

            if line.lstrip().startswith("<!--"):
                while i < len(lines) and "-->" not in lines[i]:
                    i += 1
                i += 1
                continue

            m = _HEADING.match(line)
            if m:
                self.close_lists()
                self.heading(len(m.group(1)), m.group(2))
                i += 1
                continue

            item = _BULLET.match(line) or _ORDERED.match(line)
            if _RULE.match(line):
                item = None  # "- - -" and "***" are rules, not items
            if not item:
                # after a blank line, a line indented less than the item's
                # content ends the list(s) it is not part of
                self.close_lists(_indent(line))
            base = self.lists[-1][1] if self.lists else 0

            m = _FENCE.match(line)
            if m:
                i = self.fenced(i, m)
                continue

            if _RULE.match(line):
                self.close_lists()
                self.emit(".PP")
                i += 1
                continue

            if _is_table_start(lines, i):
                i = self.table(i)
                continue

            if item:
                i = self.list_item(i, item)
                continue

            if line.lstrip().startswith(">"):
                i = self.quote(i)
                continue

            if _indent(line) >= base + 4:
                i = self.indented_code(i, base + 4)
                continue

            i = self.paragraph(i)
        self.close_lists()

    def heading(self, level, text):
        if level == 1 and self.title is None:
            m = _TITLE.match(text.strip())
            self.title = (m.group(1), m.group(2)) if m else (text.strip(), None)
            return
        if level <= 2:
            self.emit(".SH " + macro_arg(inline(text).upper()))
        else:
            self.emit(".SS " + macro_arg(inline(text)))

    def _continuation(self, i, in_list):
        """The lines that continue a paragraph or an item's text."""
        lines = self.lines
        parts = []
        while i < len(lines) and lines[i].strip() and not _block_start(lines, i):
            if in_list and _ORDERED.match(lines[i]):
                break  # the next item of a numbered list
            parts.append(lines[i].strip())
            i += 1
        return i, parts

    def paragraph(self, i):
        first = self.lines[i].strip()
        i, parts = self._continuation(i + 1, bool(self.lists))
        text = text_line(inline(" ".join([first] + parts)))
        if text:  # an HTML block (<details>, <br>) leaves nothing to print
            self.paragraph_break()
            self.emit(text)
        return i

    def list_item(self, i, m):
        ordered = m.re is _ORDERED
        indent = len(m.group(1))
        content = indent + len(m.group(2)) + (1 if ordered else 0) + 1
        # an item left of the open item's marker closes the nested lists
        while self.lists and indent < self.lists[-1][0]:
            self.lists.pop()
            if self.lists:
                self.emit(".RE")
        if not self.lists:
            self.lists.append((indent, content))
        elif indent >= self.lists[-1][1]:
            self.emit(".RS")  # a list inside the item
            self.lists.append((indent, content))
        else:
            self.lists[-1] = (indent, content)  # the next item of this list
        if ordered:
            self.emit(".IP %s 4" % macro_arg(m.group(2) + "."))
        else:
            self.emit(".IP \\(bu 2")
        first = (m.group(4) if ordered else m.group(3)).strip()
        i, parts = self._continuation(i + 1, True)
        self.emit(text_line(inline(" ".join([first] + parts))))
        return i

    def fenced(self, i, m):
        lines = self.lines
        indent, fence = len(m.group(1)), m.group(2)
        body = []
        i += 1
        while i < len(lines):
            stripped = lines[i].strip()
            if stripped.startswith(fence) and set(stripped) == {fence[0]}:
                i += 1
                break
            line = lines[i]
            body.append(line[indent:] if _indent(line) >= indent else line.lstrip())
            i += 1
        self.code(body)
        return i

    def indented_code(self, i, strip):
        lines = self.lines
        body = []
        while i < len(lines) and (not lines[i].strip() or _indent(lines[i]) >= strip):
            body.append(lines[i][strip:])
            i += 1
        while body and not body[-1].strip():
            body.pop()
        self.code(body)
        return i

    def code(self, body):
        self.paragraph_break()
        self.emit(".RS 4")
        self.emit(".nf")
        for line in body:
            self.emit(text_line(escape(line), keep_indent=True) if line.strip() else "")
        self.emit(".fi")
        self.emit(".RE")

    def quote(self, i):
        lines = self.lines
        parts = []
        while i < len(lines) and lines[i].strip() and lines[i].lstrip().startswith(">"):
            parts.append(lines[i].lstrip()[1:].strip())
            i += 1
        self.paragraph_break()
        self.emit(".RS 4")
        self.emit(text_line(inline(" ".join(parts))))
        self.emit(".RE")
        return i

    def table(self, i):
        lines = self.lines
        head = _split_row(lines[i])
        aligns = []
        for cell in _split_row(lines[i + 1]):
            c = cell.strip()
            aligns.append("c" if c.startswith(":") and c.endswith(":") else
                          "r" if c.endswith(":") else "l")
        rows = []
        i += 2
        while i < len(lines) and lines[i].strip() and "|" in lines[i]:
            rows.append(_split_row(lines[i]))
            i += 1
        ncol = max([len(head)] + [len(r) for r in rows])
        aligns = (aligns + ["l"] * ncol)[:ncol]

        def cells(row):
            row = (row + [""] * ncol)[:ncol]
            # T{ ... T} lets a long cell wrap inside its column
            return "\t".join("T{\n%s\nT}" % text_line(inline(c)) if c else "" for c in row)

        self.paragraph_break()
        self.emit(".TS")
        self.emit("box;")  # one box, a rule under the header
        self.emit(" ".join(a + "b" for a in aligns))
        self.emit(" ".join(a + ("x" if k == ncol - 1 else "") for k, a in enumerate(aligns)) + ".")
        self.emit(cells(head))
        self.emit("_")
        for row in rows:
            self.emit(cells(row))
        self.emit(".TE")
        return i


def convert(text, name=None, section=None, source="", manual="", date=""):
    conv = Converter(text.splitlines())
    conv.run()
    title_name, title_sec = conv.title or (None, None)
    name = name or title_name or "UNTITLED"
    section = section or title_sec or "1"
    head = [
        "'\\\" t",
        ".\\\" Generated from Markdown by tools/md2man.py: edit the Markdown, not this file.",
        ".TH %s %s %s %s %s"
        % (
            macro_arg(escape(name.upper())),
            macro_arg(section),
            macro_arg(escape(date)),
            macro_arg(escape(source)),
            macro_arg(escape(manual)),
        ),
        # ragged right, no hyphenation (as docbook's man pages): options,
        # paths and JSON stay whole and no line is stretched
        ".ad l",
        ".nh",
    ]
    body = conv.out
    # .PP right after a section heading or before another .PP says nothing
    cleaned = []
    for line in body:
        if line == ".PP" and cleaned and (cleaned[-1].startswith((".SH", ".SS", ".PP"))):
            continue
        cleaned.append(line)
    return "\n".join(head + cleaned) + "\n"


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("input")
    ap.add_argument("-o", "--output", help="the man page to write (default: stdout)")
    ap.add_argument("--name", help="page name (default: from the '# NAME(SECTION)' heading)")
    ap.add_argument("--section", help="manual section (default: from the heading, else 1)")
    ap.add_argument("--source", default="", help='footer source, e.g. "dtwin 0.1.0"')
    ap.add_argument("--manual", default="", help='header manual title, e.g. "dtwin manual"')
    ap.add_argument("--date", help="the page's date (default: SOURCE_DATE_EPOCH, else none)")
    args = ap.parse_args(argv)

    date = args.date
    if date is None:
        epoch = os.environ.get("SOURCE_DATE_EPOCH")
        date = (
            datetime.datetime.fromtimestamp(int(epoch), datetime.timezone.utc).strftime("%Y-%m-%d")
            if epoch and epoch.isdigit()
            else ""
        )
    with open(args.input, encoding="utf-8") as f:
        text = f.read()
    page = convert(text, args.name, args.section, args.source, args.manual, date)
    if args.output:
        tmp = args.output + ".tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(page)
        os.replace(tmp, args.output)  # never a half-written page
    else:
        sys.stdout.write(page)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

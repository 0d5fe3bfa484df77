#!/usr/bin/env python3
"""Reference hashtag extractor written from HASHTAG-RULES.md (not from twitter-text source).

Protocol (the one check_hashtags.py expects):
  * reads UTF-8 text lines on stdin (split on '\\n' only; a trailing '\\r' is kept);
  * for each input line prints one line: a JSON array of the hashtags found,
    without the '#'/'＃' sign, in order of appearance, case and normalization untouched.

Options:
  --unescape   decode the escapes check_hashtags.py uses in its default
               --newline=escape mode: '\\\\' -> '\\', '\\n' -> LF, '\\r' -> CR.
  --no-urls    skip the URL-overlap rule (rule 6 in HASHTAG-RULES.md).
  --spark      print the "spark-compatible" tokens instead (split on ' ', keep tokens that
               start with '#', lowercase the whole token; the '#' and punctuation are kept).

Performance is not a goal: this is a readable oracle for the rules, nothing more.
The URL part is an approximation of twitter-text's URL extractor, good enough to decide
whether a '#' sits inside a URL; see HASHTAG-RULES.md section 6.
"""
import json
import os
import re
import sys
import unicodedata

# ---------------------------------------------------------------------------
# Character classes (HASHTAG-RULES.md section 2)
# ---------------------------------------------------------------------------
HASH_SIGNS = "#\uFF03"                       # '#' and FULLWIDTH NUMBER SIGN '＃'
SPECIALS = frozenset(
    "_"          # LOW LINE
    "\u200C"     # ZERO WIDTH NON-JOINER
    "\u200D"     # ZERO WIDTH JOINER
    "\uA67E"     # CYRILLIC KAVYKA
    "\u05BE"     # HEBREW PUNCTUATION MAQAF
    "\u05F3"     # HEBREW PUNCTUATION GERESH
    "\u05F4"     # HEBREW PUNCTUATION GERSHAYIM
    "\uFF5E"     # FULLWIDTH TILDE
    "\u301C"     # WAVE DASH
    "\u309B"     # KATAKANA-HIRAGANA VOICED SOUND MARK
    "\u309C"     # KATAKANA-HIRAGANA SEMI-VOICED SOUND MARK
    "\u30A0"     # KATAKANA-HIRAGANA DOUBLE HYPHEN
    "\u30FB"     # KATAKANA MIDDLE DOT
    "\u3003"     # DITTO MARK
    "\u0F0B"     # TIBETAN MARK INTERSYLLABIC TSHEG
    "\u0F0C"     # TIBETAN MARK DELIMITER TSHEG BSTAR
    "\u00B7"     # MIDDLE DOT
)
VS15, VS16, KEYCAP = "\uFE0E", "\uFE0F", "\u20E3"
# Private Use Area code points that twitter-text's generated tables count as letters
# (an artefact of how those tables were made; see HASHTAG-RULES.md section 2).
PUA_LETTERS = frozenset(
    [chr(c) for c in range(0xF870, 0xF880)] + ["\uF882"]
    + [chr(c) for c in range(0xF884, 0xF8A0)] + ["\uF8B8"]
    + [chr(c) for c in range(0xF8C1, 0xF8D7)]
)


def is_alpha(c):
    """'Letter' in the hashtag sense: any Unicode letter (L*) or mark (M*)."""
    return unicodedata.category(c)[0] in "LM" or c in PUA_LETTERS


def is_tag_char(c):
    """Any character that may appear inside a hashtag."""
    cat = unicodedata.category(c)
    return cat[0] in "LM" or cat == "Nd" or c in SPECIALS or c in PUA_LETTERS


def predecessor_ok(c):
    """May code point c stand immediately before the hash sign? (section 3)"""
    if c == VS15 or c == VS16:
        return True
    return c != "&" and not is_tag_char(c)


# ---------------------------------------------------------------------------
# Candidate scan (HASHTAG-RULES.md sections 1, 3, 4, 5)
# ---------------------------------------------------------------------------
def hashtag_candidates(text):
    """Returns [(start_of_sign, end_exclusive, tag)] before the URL rule."""
    out = []
    n = len(text)
    consumed = 0   # chars before this index belong to an earlier (kept or dropped) match
    i = 0
    while i < n:
        c = text[i]
        if c not in HASH_SIGNS:
            i += 1
            continue
        j = i
        # §3 predecessor (and §5.2: it must not belong to an earlier candidate)
        if j > 0 and not (j - 1 >= consumed and predecessor_ok(text[j - 1])):
            i += 1
            continue
        # §3 the sign must not be followed by U+FE0F / U+20E3 (emoji keycap)
        if j + 1 < n and text[j + 1] in (VS16, KEYCAP):
            i += 1
            continue
        # §4 body: longest run of TAGCHARs, must hold at least one ALPHA
        k = j + 1
        has_alpha = False
        while k < n and is_tag_char(text[k]):
            if not has_alpha and is_alpha(text[k]):
                has_alpha = True
            k += 1
        if not has_alpha:
            i += 1
            continue
        # §5.2 kept or not, the candidate's chars are now used up
        consumed = k
        # §5.1 discard if followed by a hash sign or '://'
        if k < n and (text[k] in HASH_SIGNS or text.startswith("://", k)):
            i = k
            continue
        out.append((j, k, text[j + 1:k]))
        i = k
    return out


# ---------------------------------------------------------------------------
# URL spans (HASHTAG-RULES.md section 6) -- approximation
# ---------------------------------------------------------------------------
def _load_tlds():
    here = os.path.dirname(os.path.abspath(__file__))
    candidates = [
        os.environ.get("TT_CONFORMANCE_DIR", ""),
        os.path.join(here, "conformance"),
        os.path.join(here, "..", "..", "shared", "twitter-text", "conformance"),
    ]
    for d in candidates:
        p = os.path.join(d, "tld_lib.yml") if d else ""
        if p and os.path.exists(p):
            # The .json beside it is the same data (see LICENSE-NOTE.md): no PyYAML needed.
            alt = os.path.splitext(p)[0] + ".json"
            if os.path.exists(alt):
                import json
                with open(alt, encoding="utf-8") as f:
                    data = json.load(f)
            else:
                import yaml  # PyYAML
                with open(p, encoding="utf-8") as f:
                    data = yaml.safe_load(f)
            return data["generic"], data["country"]
    sys.exit("ref_extract.py: tld_lib.yml not found (set TT_CONFORMANCE_DIR)")


_URL_RE = None


def _url_re():
    # Compiled WITHOUT re.IGNORECASE: the official regexes are case-insensitive for ASCII
    # only, while Python's IGNORECASE would also fold e.g. U+0130 'İ' onto 'i'.
    global _URL_RE
    if _URL_RE is not None:
        return _URL_RE
    gtlds, cctlds = _load_tlds()
    by_len = lambda xs: sorted(xs, key=len, reverse=True)
    tld_end = r"(?=[^0-9a-zA-Z@+\-]|$)"
    gtld = "(?:(?i:" + "|".join(map(re.escape, by_len(gtlds))) + ")" + tld_end + ")"
    cctld = "(?:(?i:" + "|".join(map(re.escape, by_len(cctlds))) + ")" + tld_end + ")"
    puny = r"(?:[xX][nN]--[\-0-9a-zA-Z]+)"
    cyr = "\u0400-\u04FF"
    directional = "\u061C\u200E\u200F\u202A-\u202E\u2066-\u2069"
    spaces = "\t-\r \u0085\u00A0\u1680\u180E\u2000-\u200A\u2028\u2029\u202F\u205F\u3000"
    invalid = "\uFFFE\uFEFF\uFFFF"
    ascii_punct = re.escape("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~")
    # a domain character: anything but ASCII punctuation, spaces, invalid, directional
    dch = "[^" + ascii_punct + spaces + invalid + directional + "]"
    sub = "(?:(?:" + dch + "(?:[_\\-]|" + dch + ")*)?" + dch + r"\.)"
    name = "(?:(?:" + dch + "(?:-|" + dch + ")*)?" + dch + r"\.)"
    domain = "(?:" + sub + "*" + name + "(?:" + gtld + "|" + cctld + "|" + puny + "))"
    pre = "(?:[^A-Za-z0-9@\uFF20$#\uFF03" + invalid + "]|[" + directional + "]|^)"
    gpath = "[a-zA-Z0-9" + cyr + LATIN + r"!*';:=+,.$/%#\[\]\-\u2013_~@|&]"
    parens = (r"\((?:" + gpath + "+|(?:" + gpath + r"*\(" + gpath + r"+\)" + gpath + r"*))\)")
    pend = "(?:[+\\-a-zA-Z0-9" + cyr + LATIN + "=_#/]|" + parens + ")"
    path = ("(?:(?:" + gpath + "*(?:" + parens + gpath + "*)*" + pend + ")|(?:@" + gpath + "+/))")
    pattern = ("(" + pre + ")"
               "(((?i:https?://))?"
               "(" + domain + ")"
               "(?::([0-9]+))?"
               "(/" + path + "*)?"
               r"(\?" + QUERY_CH + "*" + QUERY_END + ")?)")
    _URL_RE = re.compile(pattern)
    return _URL_RE


LATIN = ("\u00C0-\u00D6\u00D8-\u00F6\u00F8-\u00FF\u0100-\u024F\u0253\u0254\u0256\u0257"
         "\u0259\u025B\u0263\u0268\u026F\u0272\u0289\u028B\u02BB\u0300-\u036F\u1E00-\u1EFF")
QUERY_CH = r"[a-zA-Z0-9!?*'@();:&=+$/%#\[\]\-_.,~|]"
QUERY_END = r"[a-zA-Z0-9\-_&=#/]"
TCO = re.compile(r"(?i:https?://t\.co/)([a-zA-Z0-9]+)(?:\?" + QUERY_CH + "*" + QUERY_END + ")?")
_ASCII_DOMAIN = None


def url_spans(text):
    """[(start, end)] of URLs, in the spirit of twitter-text's extractUrls."""
    if "." not in text:
        return []
    global _ASCII_DOMAIN
    rx = _url_re()
    spans = []
    for m in rx.finditer(text):
        before, url, proto, dom, path = m.group(1), m.group(2), m.group(3), m.group(4), m.group(6)
        start, end = m.start(2), m.end(2)
        if any(len(label) > 63 or not label for label in dom.split(".")):
            continue
        if not proto:
            if before and before[-1] in "-_./":
                continue
            # protocol-less: only the ASCII (+ Latin accents) labels of the host count
            if _ASCII_DOMAIN is None:
                gtlds, cctlds = _load_tlds()
                tl = "|".join(map(re.escape, sorted(gtlds + cctlds, key=len, reverse=True)))
                _ASCII_DOMAIN = re.compile(
                    "(?:(?:[\\-a-zA-Z0-9" + LATIN + "]+)\\.)+(?:(?i:" + tl +
                    ")(?=[^0-9a-zA-Z@+\\-]|$)|[xX][nN]--[\\-0-9a-zA-Z]+)")
            last = None
            for am in _ASCII_DOMAIN.finditer(dom):
                last = [start + am.start(), start + am.end()]
                spans.append(last)
            if last is None:
                continue
            if path:
                last[1] = end
        else:
            t = TCO.match(url)
            if t:
                if len(t.group(1)) > 40:
                    continue
                end = start + t.end()
            spans.append([start, end])
    return [tuple(x) for x in spans]


def extract_hashtags(text, check_urls=True):
    tags = hashtag_candidates(text)
    if not tags or not check_urls:
        return [t for (_, _, t) in tags]
    urls = url_spans(text)
    if not urls:
        return [t for (_, _, t) in tags]
    # sort by start; drop anything that starts before the end of the last kept entity
    ents = sorted([(s, e, "h", t) for (s, e, t) in tags] + [(s, e, "u", None) for (s, e) in urls],
                  key=lambda x: x[0])
    kept = []
    for ent in ents:
        if kept and kept[-1][1] > ent[0]:
            continue
        kept.append(ent)
    return [t for (_, _, kind, t) in kept if kind == "h"]


def spark_hashtags(text):
    return [tok.lower() for tok in text.split(" ") if tok.lower().startswith("#")]


def unescape(line):
    out = []
    it = iter(line)
    for ch in it:
        if ch == "\\":
            nxt = next(it, None)
            out.append({"n": "\n", "r": "\r", None: "\\"}.get(nxt, nxt))
        else:
            out.append(ch)
    return "".join(out)


def main(argv):
    unesc = "--unescape" in argv
    urls = "--no-urls" not in argv
    spark = "--spark" in argv
    data = sys.stdin.buffer.read().decode("utf-8", errors="replace")
    lines = data.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    out = []
    for line in lines:
        text = unescape(line) if unesc else line
        tags = spark_hashtags(text) if spark else extract_hashtags(text, urls)
        out.append(json.dumps(tags, ensure_ascii=False))
    sys.stdout.buffer.write(("\n".join(out) + ("\n" if out else "")).encode("utf-8"))


if __name__ == "__main__":
    main(sys.argv[1:])

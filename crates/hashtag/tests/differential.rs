//! Differential tests against the oracle `tests/data/twitter-text/ref_extract.py`: the same input
//! through the oracle and through the `extract_lines` example must give the same JSON on every
//! line, in both modes.

mod common;

/// `gen_tweets.py n seed` output.
fn tweets(n: usize, seed: u64) -> Vec<u8> {
    common::python("gen_tweets.py", &[&n.to_string(), &seed.to_string()], b"")
}

fn compare(what: &str, input: &[u8], spark: bool) {
    let args: &[&str] = if spark { &["--spark"] } else { &[] };
    let want = common::python("ref_extract.py", args, input);
    let got = common::run(common::example_binary(), args, input);
    common::assert_same_json(what, input, &want, &got);
}

#[test]
fn gen_tweets_seed_7() {
    if !common::python_ready("gen_tweets_seed_7") {
        return;
    }
    let input = tweets(20_000, 7);
    compare("gen_tweets 20000 7", &input, false);
    compare("gen_tweets 20000 7 --spark", &input, true);
}

#[test]
fn gen_tweets_seed_2016() {
    if !common::python_ready("gen_tweets_seed_2016") {
        return;
    }
    let input = tweets(20_000, 2016);
    compare("gen_tweets 20000 2016", &input, false);
    compare("gen_tweets 20000 2016 --spark", &input, true);
}

/// Pieces that exercise the URL rule: schemes, hosts with real and fake TLDs, paths, queries,
/// parentheses and both signs.
const URL_PIECES: &[&str] = &[
    "http://",
    "https://",
    "HTTP://",
    "t.co/",
    "x.com",
    "example.co.jp",
    "foo.bar",
    "test.txt",
    "a.b",
    "localhost",
    "例え.jp",
    "twitter.com",
    "xn--p1ai",
    ".рф",
    ".com",
    ".org",
    "/",
    "/",
    "#",
    "#",
    "#",
    "＃",
    "a",
    "tag",
    "é",
    "日本",
    ".",
    ".",
    ":",
    "(",
    ")",
    "?",
    "=",
    "&",
    "-",
    "_",
    " ",
    " ",
    "1",
    "42",
    "@",
    "$",
    "~",
    ",",
    "!",
    "'",
    "İ",
    "ſ",
    "\u{FE0F}",
    "\u{200D}",
    "\t",
];

/// A deterministic xorshift generator (the test must not depend on a random seed).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

#[test]
fn url_heavy_strings() {
    if !common::python_ready("url_heavy_strings") {
        return;
    }
    let mut rng = Rng(0x2545_F491_4F6C_DD1D);
    let mut input = String::new();
    for _ in 0..10_000 {
        let n = 1 + rng.below(14);
        for _ in 0..n {
            input.push_str(URL_PIECES[rng.below(URL_PIECES.len())]);
        }
        input.push('\n');
    }
    compare("URL-heavy strings", input.as_bytes(), false);
}

#[test]
fn awkward_lines() {
    if !common::python_ready("awkward_lines") {
        return;
    }
    // CR kept at line ends, invalid UTF-8, empty lines, no final newline.
    let input: &[u8] = b"#a\r\n\n#b \xff#c #\xe2\x82d \xef\xbc\x83x\r\n#\xc3\xa9t\xc3\xa9\n#last";
    compare("awkward lines", input, false);
    compare("awkward lines --spark", input, true);
}

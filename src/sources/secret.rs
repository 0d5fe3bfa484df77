//! Credentials: read from the environment or a file, never from a flag, and never shown —
//! `Debug` and `Display` print `[redacted]`.

use std::borrow::Cow;
use std::fmt;

/// The shortest piece of a secret [`Secret::scrub`] hides wherever it appears.
const ECHO: usize = 12;

/// The fewest characters a secret from the environment may have (X's bearer tokens have about
/// 110, Mastodon's access tokens 43).
const MIN_CHARS: usize = 8;

/// A secret value (bearer token, access token).
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a value.
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    /// Reads `VAR` from the environment, or the file named by `VAR_FILE`. The error names
    /// the variables, never a value.
    pub fn from_env(var: &str) -> Result<Secret, String> {
        if let Ok(v) = std::env::var(var) {
            if !v.trim().is_empty() {
                return Secret::checked(var, v.trim());
            }
        }
        let file_var = format!("{var}_FILE");
        if let Ok(path) = std::env::var(&file_var) {
            let v = crate::smallfile::read(path.as_ref(), &file_var)?;
            if !v.trim().is_empty() {
                return Secret::checked(&file_var, v.trim());
            }
            return Err(format!("{file_var}={path} is empty"));
        }
        Err(format!(
            "set {var} (or {file_var} naming a file that holds it)"
        ))
    }

    /// `value`, from `var`, if it is long enough to be a token: a placeholder of a character
    /// or two (`X_BEARER_TOKEN=x`) is refused at once, rather than failing at the server and
    /// having every one of its letters scrubbed from the server's answer.
    fn checked(var: &str, value: &str) -> Result<Secret, String> {
        let n = value.chars().count();
        if n < MIN_CHARS {
            return Err(format!(
                "{var} holds {n} character{}: too short for a token (the services' are 40 or \
                 more)",
                if n == 1 { "" } else { "s" }
            ));
        }
        Ok(Secret(value.to_owned()))
    }

    /// Like [`Secret::from_env`], but absent is fine.
    pub fn from_env_optional(var: &str) -> Result<Option<Secret>, String> {
        let file_var = format!("{var}_FILE");
        if std::env::var_os(var).is_none() && std::env::var_os(&file_var).is_none() {
            return Ok(None);
        }
        Secret::from_env(var).map(Some)
    }

    /// The value, for the one place that puts it on the wire.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// `text` with this secret replaced by `[redacted]`: as it is, percent-decoded and
    /// percent-encoded (X bearer tokens hold `%2F`-style escapes, which a server may echo
    /// either way), in any ASCII case (`%2f` for `%2F`), and any piece of it of at least
    /// `ECHO` (12) characters (a server that echoes the start of a token). Every message that
    /// carries a server's words (an error body, an in-stream error, a library error) goes
    /// through this before it is logged, and before it is cut to length: a cut first could
    /// leave part of the secret.
    pub fn scrub<'a>(&self, text: &'a str) -> Cow<'a, str> {
        let forms: Vec<Vec<u8>> = (self.forms().iter())
            .map(|f| f.as_bytes().to_ascii_lowercase())
            .collect();
        let Some(n) = forms.iter().map(Vec::len).min() else {
            return Cow::Borrowed(text);
        };
        // Every piece of n bytes of every spelling (n: ECHO, or the shortest spelling).
        let n = n.min(ECHO);
        let pieces: std::collections::HashSet<&[u8]> =
            forms.iter().flat_map(|f| f.windows(n)).collect();
        let lower = text.as_bytes().to_ascii_lowercase();
        // Byte ranges to hide: overlapping pieces make one range (one echo of the secret).
        let mut hide: Vec<(usize, usize)> = Vec::new();
        for (i, w) in lower.windows(n).enumerate() {
            if !pieces.contains(w) {
                continue;
            }
            match hide.last_mut() {
                Some((_, end)) if i < *end => *end = i + n,
                _ => hide.push((i, i + n)),
            }
        }
        if hide.is_empty() {
            return Cow::Borrowed(text);
        }
        let mut out = String::with_capacity(text.len());
        let mut at = 0;
        for (mut from, mut to) in hide {
            // On character boundaries (a spelling may hold non-ASCII once decoded).
            while !text.is_char_boundary(from) {
                from -= 1;
            }
            while !text.is_char_boundary(to) {
                to += 1;
            }
            let from = from.max(at);
            out.push_str(&text[at..from]);
            out.push_str("[redacted]");
            at = to.max(at);
        }
        out.push_str(&text[at..]);
        Cow::Owned(out)
    }

    /// The spellings [`Secret::scrub`] looks for: as it is, percent-decoded and
    /// percent-encoded, each once.
    fn forms(&self) -> Vec<Cow<'_, str>> {
        let raw = self.0.as_str();
        if raw.is_empty() {
            return Vec::new();
        }
        let mut forms = vec![Cow::Borrowed(raw)];
        for other in [percent_decode(raw), percent_encode(raw)] {
            if !other.is_empty() && !forms.iter().any(|f| *f == other) {
                forms.push(Cow::Owned(other));
            }
        }
        forms
    }
}

/// `text` from a server or a library, scrubbed of `secret` (when there is one), then on one
/// line of at most `max` characters: the form every such text takes in a message.
pub fn server_line(text: &str, secret: Option<&Secret>, max: usize) -> String {
    match secret {
        Some(s) => crate::log::one_line(&s.scrub(text), max),
        None => crate::log::one_line(text, max),
    }
}

/// `%XX` escapes decoded (invalid ones kept as they are; invalid UTF-8 lossily).
fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        match (
            b[i],
            b.get(i + 1).copied().and_then(hex),
            b.get(i + 2).copied().and_then(hex),
        ) {
            (b'%', Some(h), Some(l)) => {
                out.push((h * 16 + l) as u8);
                i += 3;
            }
            (c, _, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Every byte but RFC 3986's unreserved characters as `%XX`.
fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_shown() {
        let s = Secret::new("AAAA-very-secret");
        assert_eq!(format!("{s:?} {s}"), "[redacted] [redacted]");
        assert_eq!(format!("{:?}", Some(s.clone())), "Some([redacted])");
        assert_eq!(s.expose(), "AAAA-very-secret");
    }

    #[test]
    fn a_placeholder_is_no_token() {
        let e = Secret::checked("X_BEARER_TOKEN", "x").unwrap_err();
        assert_eq!(
            e,
            "X_BEARER_TOKEN holds 1 character: too short for a token (the services' are 40 or \
             more)"
        );
        assert!(Secret::checked("T_FILE", "abc")
            .unwrap_err()
            .contains("holds 3 characters"));
        assert_eq!(
            Secret::checked("T", "12345678").unwrap().expose(),
            "12345678"
        );
    }

    #[test]
    fn scrub_replaces_every_spelling() {
        let s = Secret::new("AAAA%2Fx%3Dy");
        assert_eq!(
            s.scrub("Authorization: Bearer AAAA%2Fx%3Dy, again AAAA/x=y, AAAA%252Fx%253Dy."),
            "Authorization: Bearer [redacted], again [redacted], [redacted]."
        );
        // Nothing to hide: the text is borrowed, not copied.
        assert!(matches!(s.scrub("nothing here"), Cow::Borrowed(_)));
        assert_eq!(Secret::new("").scrub("text"), "text");
        let plain = Secret::new("tok-123");
        assert_eq!(plain.scrub("tok-123tok-123"), "[redacted][redacted]");
    }

    /// A server may echo the token in another case (`%2f` for `%2F`), or only its start:
    /// neither may reach a log.
    #[test]
    fn scrub_hides_other_cases_and_pieces() {
        let s = Secret::new("AAAAsecretTOKEN%2Fxyz%3D42");
        for echo in [
            "Bearer AAAAsecretTOKEN%2fxyz%3d42",
            "Bearer aaaasecrettoken%2fxyz%3d42",
            "Bearer AAAASECRETTOKEN/XYZ=42",
            "token AAAAsecretTOKEN%2F… is invalid",
            "Bearer AAAAsecretTOKEN%252Fxyz%253D42",
        ] {
            let got = s.scrub(echo);
            assert!(
                !got.to_lowercase().contains("secrettoken"),
                "{echo} -> {got}"
            );
            assert!(got.contains("[redacted]"), "{got}");
        }
        assert_eq!(
            s.scrub("x AAAAsecretTOKEN%2fxyz%3d42 y é"),
            "x [redacted] y é"
        );
        // Shorter pieces are left: they could be anything.
        assert_eq!(s.scrub("the AAAAsecret"), "the AAAAsecret");
        let accented = Secret::new("clé-très-secrète-123");
        assert_eq!(accented.scrub("[clé-très-secrète-1]"), "[[redacted]]");
    }
}

//! Credentials: read from the environment or a file, never from a flag, and never shown —
//! `Debug` and `Display` print `[redacted]`.

use std::fmt;

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
                return Ok(Secret(v.trim().to_owned()));
            }
        }
        let file_var = format!("{var}_FILE");
        if let Ok(path) = std::env::var(&file_var) {
            let v = std::fs::read_to_string(&path)
                .map_err(|e| format!("cannot read {file_var}={path}: {e}"))?;
            if !v.trim().is_empty() {
                return Ok(Secret(v.trim().to_owned()));
            }
            return Err(format!("{file_var}={path} is empty"));
        }
        Err(format!(
            "set {var} (or {file_var} naming a file that holds it)"
        ))
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
}

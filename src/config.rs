//! `--config FILE`: a TOML file of `run` options, under environment variables and flags.
//!
//! Precedence, lowest first: the built-in defaults (written once, on the flags in `cli.rs`),
//! the file, `TAGSTREAM_*` environment variables (e.g. `TAGSTREAM_BATCH=5s`), flags. Keys are
//! the long flag names with `_` or `-` (`text_field = "data.text"`, `source = ["a", "b"]`);
//! an unknown key is an error that names it. The file is turned into flags placed before the
//! command line's own, skipping every key that the command line or the environment sets, so
//! clap parses and checks one set of arguments whatever their origin.

use std::ffi::{OsStr, OsString};
use std::path::PathBuf;

use clap::{ArgAction, Command};

/// Returns `args` with the options of the `--config` file (if any) inserted after the
/// subcommand. `cmd` is the whole command-line definition.
pub fn expand(args: Vec<OsString>, cmd: &Command) -> Result<Vec<OsString>, String> {
    let Some(path) = config_path(&args) else {
        return Ok(args);
    };
    let Some(sub) = args
        .get(1)
        .and_then(|s| s.to_str())
        .and_then(|s| cmd.find_subcommand(s))
    else {
        return Ok(args);
    };
    let text = crate::smallfile::read(&path, "config file")?;
    let path = path.display();
    let table: toml::Table = text.parse().map_err(|e: toml::de::Error| {
        format!(
            "{path}: {}",
            e.to_string().lines().next().unwrap_or("invalid TOML")
        )
    })?;
    let mut extra: Vec<OsString> = Vec::new();
    for (key, value) in &table {
        let long = key.replace('_', "-");
        let arg = sub
            .get_arguments()
            .find(|a| a.get_long() == Some(long.as_str()) && long != "config")
            .ok_or_else(|| format!("{path}: unknown key '{key}'"))?;
        let on_command_line = args.iter().skip(2).filter_map(|a| a.to_str()).any(|a| {
            a == format!("--{long}")
                || a.starts_with(&format!("--{long}="))
                || arg.get_short().is_some_and(|c| a == format!("-{c}"))
        });
        let env = format!("TAGSTREAM_{}", long.replace('-', "_").to_uppercase());
        if on_command_line || std::env::var_os(&env).is_some() {
            continue;
        }
        let flag = format!("--{long}");
        if matches!(arg.get_action(), ArgAction::SetTrue) {
            match value {
                toml::Value::Boolean(true) => extra.push(flag.into()),
                toml::Value::Boolean(false) => {}
                _ => return Err(format!("{path}: '{key}' must be true or false")),
            }
            continue;
        }
        let values = match value {
            toml::Value::Array(items) => items.iter().map(scalar).collect::<Option<Vec<_>>>(),
            v => scalar(v).map(|s| vec![s]),
        }
        .ok_or_else(|| format!("{path}: '{key}' must be a string, number or list of them"))?;
        for v in values {
            extra.push(flag.clone().into());
            extra.push(v.into());
        }
    }
    let mut out = args;
    let rest = out.split_off(2);
    out.extend(extra);
    out.extend(rest);
    Ok(out)
}

fn scalar(v: &toml::Value) -> Option<String> {
    match v {
        toml::Value::String(s) => Some(s.clone()),
        toml::Value::Integer(i) => Some(i.to_string()),
        toml::Value::Float(f) => Some(f.to_string()),
        _ => None,
    }
}

/// The value of `--config FILE` or `--config=FILE`, whatever its bytes: a path that is not
/// UTF-8 was skipped over (the file was ignored, or the next argument read as its path).
fn config_path(args: &[OsString]) -> Option<PathBuf> {
    let mut it = args.iter();
    while let Some(a) = it.next() {
        if a == "--config" {
            return it.next().map(PathBuf::from);
        }
        if let Some(p) = after_prefix(a, "--config=") {
            return Some(p);
        }
    }
    None
}

/// `arg` after `prefix`, if it starts with it.
#[cfg(unix)]
fn after_prefix(arg: &OsStr, prefix: &str) -> Option<PathBuf> {
    use std::os::unix::ffi::OsStrExt;
    let rest = arg.as_bytes().strip_prefix(prefix.as_bytes())?;
    Some(PathBuf::from(OsStr::from_bytes(rest)))
}

/// `arg` after `prefix`, if it starts with it (a path that is not Unicode is not one here).
#[cfg(not(unix))]
fn after_prefix(arg: &OsStr, prefix: &str) -> Option<PathBuf> {
    arg.to_str()?.strip_prefix(prefix).map(PathBuf::from)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    fn expand_with(toml: &str, argv: &[&str]) -> Result<Vec<String>, String> {
        let dir = std::env::temp_dir().join(format!("tagstream-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join(format!("c{}.toml", argv.len()));
        std::fs::write(&file, toml).unwrap();
        let mut args: Vec<OsString> = vec!["tagstream".into(), "run".into()];
        args.extend(argv.iter().map(OsString::from));
        args.push("--config".into());
        args.push(file.clone().into());
        let out = expand(args, &crate::cli::Cli::command());
        let _ = std::fs::remove_file(&file);
        out.map(|v| v.into_iter().map(|s| s.into_string().unwrap()).collect())
    }

    #[test]
    fn file_options_become_flags_before_the_command_line() {
        let got = expand_with(
            "source = [\"a.txt\", \"b.txt\"]\ntext_field = \"data.text\"\ntop = 5\nquiet = true\n",
            &["--top", "3"],
        )
        .unwrap();
        let joined = got.join(" ");
        assert!(joined.starts_with("tagstream run --"), "{joined}");
        assert!(joined.contains("--source a.txt --source b.txt"), "{joined}");
        assert!(joined.contains("--text-field data.text"), "{joined}");
        assert!(joined.contains("--quiet"), "{joined}");
        assert_eq!(
            joined.matches("--top").count(),
            1,
            "the flag wins: {joined}"
        );
    }

    /// A config file whose path is not UTF-8 is read, in both spellings of the flag (it was
    /// ignored, or the argument after it taken for its path).
    #[cfg(unix)]
    #[test]
    fn a_path_that_is_not_utf8_is_read() {
        use std::os::unix::ffi::OsStrExt;
        let dir = std::env::temp_dir().join(format!("tagstream-config-os-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join(OsStr::from_bytes(b"c\xff.toml"));
        std::fs::write(&file, "top = 5\n").unwrap();
        let mut eq = OsString::from("--config=");
        eq.push(&file);
        for config in [
            vec![OsString::from("--config"), file.clone().into()],
            vec![eq],
        ] {
            let mut args: Vec<OsString> = vec!["tagstream".into(), "run".into()];
            args.extend(config);
            args.extend(["--source".into(), "a.txt".into()]);
            let out = expand(args, &crate::cli::Cli::command()).unwrap();
            let text: Vec<_> = out.iter().map(|a| a.to_string_lossy()).collect();
            assert_eq!(text[2..4], ["--top", "5"], "{text:?}");
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn unknown_keys_and_bad_values_are_errors() {
        assert!(expand_with("batchh = \"1s\"\n", &[])
            .unwrap_err()
            .contains("unknown key 'batchh'"));
        assert!(expand_with("quiet = 3\n", &[])
            .unwrap_err()
            .contains("true or false"));
        assert!(expand_with("top = \n", &[]).is_err());
    }
}

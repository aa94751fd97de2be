//! Values for the `env` grant: the process environment first, then `.env`.
//!
//! The grant names keys only; the values are the operator's, read at spawn
//! from the node's own environment, with a `.env` file beside the manifest
//! as a fallback for development. The real environment wins so that a
//! deployment can override a checked-in `.env` without editing it.

use std::collections::HashMap;
use std::path::Path;

/// The `(key, value)` pairs a process granted `keys` sees, in the order of
/// `keys` (duplicates once). Values come from the process environment, else
/// from `<dotenv_dir>/.env`; a key found in neither is left out, as is a key
/// whose process-environment value is not UTF-8 and that `.env` lacks.
///
/// A missing or unreadable `.env` is the same as an empty one: the env grant
/// is best effort and never stops a spawn.
///
/// ```
/// # fn main() -> std::io::Result<()> {
/// let dir = std::env::temp_dir().join(format!("rusm-caps-doc-{}", std::process::id()));
/// std::fs::create_dir_all(&dir)?;
/// std::fs::write(dir.join(".env"), "# local settings\nRUSM_DOC_GREETING=\"hello\"\n")?;
/// let keys = vec!["RUSM_DOC_GREETING".to_string(), "RUSM_DOC_MISSING".to_string()];
/// let env = rusm_caps::resolve_env(&keys, &dir);
/// assert_eq!(env, vec![("RUSM_DOC_GREETING".to_string(), "hello".to_string())]);
/// # std::fs::remove_dir_all(&dir)
/// # }
/// ```
pub fn resolve_env(keys: &[String], dotenv_dir: &Path) -> Vec<(String, String)> {
    // Read lazily: most processes find all their keys in the real environment.
    let mut dotenv: Option<HashMap<String, String>> = None;
    let mut out: Vec<(String, String)> = Vec::with_capacity(keys.len());
    for key in keys {
        if out.iter().any(|(k, _)| k == key) {
            continue;
        }
        let value = from_process(key).or_else(|| {
            dotenv
                .get_or_insert_with(|| read_dotenv(&dotenv_dir.join(".env")))
                .get(key)
                .cloned()
        });
        if let Some(value) = value {
            out.push((key.clone(), value));
        }
    }
    out
}

fn from_process(key: &str) -> Option<String> {
    // The standard library may panic on such names, and none can be set anyway.
    if key.is_empty() || key.contains(['=', '\0']) {
        return None;
    }
    std::env::var(key).ok()
}

fn read_dotenv(path: &Path) -> HashMap<String, String> {
    match std::fs::read(path) {
        Ok(bytes) => parse_dotenv(&String::from_utf8_lossy(&bytes)),
        Err(_) => HashMap::new(),
    }
}

/// Parses `KEY=VALUE` lines. Blank lines and `#` comments are skipped, an
/// `export ` prefix is allowed, values may be in single quotes (literal) or
/// double quotes (`\n`, `\"`, `\\` escapes), and an unquoted value ends at
/// ` #`. A later line wins over an earlier one, as when a shell sources it.
fn parse_dotenv(text: &str) -> HashMap<String, String> {
    let mut vars = HashMap::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line.strip_prefix("export ").unwrap_or(line);
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        let key = key.trim();
        if key.is_empty() {
            continue;
        }
        vars.insert(key.to_owned(), parse_value(value.trim()));
    }
    vars
}

fn parse_value(raw: &str) -> String {
    if let Some(rest) = raw.strip_prefix('\'')
        && let Some(end) = rest.find('\'')
    {
        return rest[..end].to_owned();
    }
    if let Some(rest) = raw.strip_prefix('"') {
        let mut out = String::new();
        let mut chars = rest.chars();
        while let Some(c) = chars.next() {
            match c {
                '"' => return out,
                '\\' => match chars.next() {
                    Some('n') => out.push('\n'),
                    Some(other) => out.push(other),
                    None => out.push('\\'),
                },
                c => out.push(c),
            }
        }
        // No closing quote: take the line as written rather than guess.
        return raw.to_owned();
    }
    let value = match raw.find(" #").or_else(|| raw.find("\t#")) {
        Some(at) => &raw[..at],
        None => raw,
    };
    value.trim_end().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(names: &[&str]) -> Vec<String> {
        names.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn parses_comments_quotes_and_export() {
        let vars = parse_dotenv(
            "# comment\n\
             \n\
             PLAIN=value\n\
             SPACED = spaced value  # trailing comment\n\
             DOUBLE=\"a # not a comment\\n\"\n\
             SINGLE='it''s'\n\
             export EXPORTED=yes\n\
             EMPTY=\n\
             NOEQUALS\n\
             =novalue\n\
             PLAIN=later wins\n",
        );
        assert_eq!(vars["PLAIN"], "later wins");
        assert_eq!(vars["SPACED"], "spaced value");
        assert_eq!(vars["DOUBLE"], "a # not a comment\n");
        assert_eq!(vars["SINGLE"], "it");
        assert_eq!(vars["EXPORTED"], "yes");
        assert_eq!(vars["EMPTY"], "");
        assert_eq!(vars.len(), 6);
    }

    #[test]
    fn real_environment_wins_over_dotenv() -> std::io::Result<()> {
        // PATH is set in every test environment; reading it avoids mutating
        // the environment of a multi-threaded test binary.
        let Ok(path) = std::env::var("PATH") else {
            return Ok(());
        };
        let dir = tempfile::tempdir()?;
        std::fs::write(
            dir.path().join(".env"),
            "PATH=/from/dotenv\nRUSM_CAPS_TEST_ONLY_IN_DOTENV=from-file\n",
        )?;
        let got = resolve_env(
            &keys(&[
                "PATH",
                "RUSM_CAPS_TEST_ONLY_IN_DOTENV",
                "RUSM_CAPS_TEST_NOWHERE",
                "PATH",
            ]),
            dir.path(),
        );
        assert_eq!(
            got,
            vec![
                ("PATH".to_string(), path),
                (
                    "RUSM_CAPS_TEST_ONLY_IN_DOTENV".to_string(),
                    "from-file".to_string()
                ),
            ]
        );
        Ok(())
    }

    #[test]
    fn missing_dotenv_is_empty_and_bad_keys_are_skipped() {
        let dir = std::path::Path::new("/nonexistent/rusm-caps");
        assert!(
            resolve_env(&keys(&["", "A=B", "NUL\0", "RUSM_CAPS_TEST_NOWHERE"]), dir).is_empty()
        );
    }
}

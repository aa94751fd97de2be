//! From a request's method and path to a route: the path checks that come
//! before routing (400), the longest match (404 when none), and the
//! route's methods (405 with `allow`).

use crate::config::Route;

/// Where a request goes.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Routed {
    /// The route at this index of the server's routes.
    Route(usize),
    /// A path with `.`/`..` segments, `//`, or an encoded `/`.
    BadPath,
    /// No route matches.
    NotFound,
    /// A route matches but not for this method; the `allow` header.
    MethodNotAllowed(String),
}

/// The routes as matched: each pattern's fixed part, longest first.
pub(crate) struct Router {
    /// (fixed part, is a prefix, route index), by decreasing specificity.
    patterns: Vec<(String, bool, usize)>,
    methods: Vec<Option<Vec<String>>>,
}

impl Router {
    pub(crate) fn new(routes: &[Route]) -> Self {
        let mut patterns: Vec<(String, bool, usize)> = routes
            .iter()
            .enumerate()
            .map(|(i, r)| match r.path.strip_suffix("/*") {
                Some(base) => (base.to_string(), true, i),
                None => (r.path.clone(), false, i),
            })
            .collect();
        // Longest first; at equal length an exact path before a prefix.
        patterns.sort_by(|a, b| b.0.len().cmp(&a.0.len()).then(a.1.cmp(&b.1)));
        Router {
            patterns,
            methods: routes.iter().map(|r| r.methods.clone()).collect(),
        }
    }

    pub(crate) fn route(&self, method: &str, path: &str) -> Routed {
        if !is_clean(path) {
            return Routed::BadPath;
        }
        let found = self.patterns.iter().find(|(fixed, prefix, _)| {
            if *prefix {
                path == fixed
                    || (path.starts_with(fixed.as_str())
                        && path.as_bytes().get(fixed.len()) == Some(&b'/'))
            } else {
                path == fixed
            }
        });
        let Some(&(_, _, index)) = found else {
            return Routed::NotFound;
        };
        match &self.methods[index] {
            Some(allowed) if !allowed.iter().any(|m| m == method) => {
                Routed::MethodNotAllowed(allowed.join(", "))
            }
            _ => Routed::Route(index),
        }
    }
}

/// Whether `path` (without its query) is one a router may match: absolute,
/// no empty segment (`//`), no `.` or `..` segment (also percent-encoded),
/// no encoded `/` or `\`.
///
/// Every request comes here: one pass over the bytes, no allocation.
fn is_clean(path: &str) -> bool {
    let Some(rest) = path.as_bytes().strip_prefix(b"/") else {
        return false;
    };
    let mut segment_start = 0;
    for (i, &b) in rest.iter().enumerate() {
        match b {
            b'/' => {
                // An empty segment before a `/` is a `//`.
                let segment = &rest[segment_start..i];
                if segment.is_empty() || matches!(dots(segment), Some(1 | 2)) {
                    return false;
                }
                segment_start = i + 1;
            }
            // An encoded `/` or `\`.
            b'%' if encodes_a_separator(rest.get(i + 1..i + 3)) => return false,
            _ => {}
        }
    }
    // The last segment may be empty (`/api/`, or `/` itself).
    !matches!(dots(&rest[segment_start..]), Some(1 | 2))
}

/// Whether the two hex digits after a `%` are `2f` (`/`) or `5c` (`\`),
/// in any case.
fn encodes_a_separator(hex: Option<&[u8]>) -> bool {
    matches!(hex, Some([b'2', c]) if c | 0x20 == b'f')
        || matches!(hex, Some([b'5', c]) if c | 0x20 == b'c')
}

/// How many dots a segment is made of (`.` or `%2e`, any case), if it is
/// made of nothing else.
fn dots(segment: &[u8]) -> Option<usize> {
    let mut rest = segment;
    let mut n = 0;
    while !rest.is_empty() {
        if rest[0] == b'.' {
            rest = &rest[1..];
        } else if rest.len() >= 3 && rest[0] == b'%' && rest[1] == b'2' && rest[2] | 0x20 == b'e' {
            rest = &rest[3..];
        } else {
            return None;
        }
        n += 1;
    }
    Some(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn router() -> Router {
        let mut api = Route::new("/api/*", "api");
        api.methods = Some(vec!["GET".into(), "POST".into()]);
        Router::new(&[
            api,
            Route::new("/api/special", "special"),
            Route::new("/", "root"),
            Route::new("/api/deep/*", "deep"),
        ])
    }

    #[test]
    fn longest_match_wins() {
        let r = router();
        assert_eq!(r.route("GET", "/api"), Routed::Route(0));
        assert_eq!(r.route("GET", "/api/"), Routed::Route(0));
        assert_eq!(r.route("GET", "/api/items/1"), Routed::Route(0));
        assert_eq!(r.route("DELETE", "/api/special"), Routed::Route(1));
        assert_eq!(r.route("GET", "/api/deep/x"), Routed::Route(3));
        assert_eq!(r.route("GET", "/"), Routed::Route(2));
        assert_eq!(r.route("GET", "/apix"), Routed::NotFound);
        assert_eq!(r.route("GET", "/other"), Routed::NotFound);
    }

    #[test]
    fn methods_and_bad_paths() {
        let r = router();
        assert_eq!(
            r.route("PUT", "/api/items"),
            Routed::MethodNotAllowed("GET, POST".into())
        );
        for bad in [
            "/api/../etc",
            "/api/./x",
            "/api//x",
            "/api/a%2Fb",
            "/api/%2e%2e/x",
            "/api/.",
            "/api/%2E./x",
            "/api/a%5cb",
            "/..",
            "x",
            "",
            "//",
            "/a%2f",
            "/%5C",
            "/a/./",
        ] {
            assert_eq!(r.route("GET", bad), Routed::BadPath, "{bad}");
        }
        for fine in [
            "/api/...",
            "/api/.x",
            "/api/%2e%2ex",
            "/api/a%2",
            "/api/x/",
            "/",
            "/a%",
            "/a%2e",
            "/a%20b",
        ] {
            assert_ne!(r.route("GET", fine), Routed::BadPath, "{fine}");
        }
    }
}

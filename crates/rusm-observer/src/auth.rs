//! Who may see the observer: a request with `authorization: Bearer <token>`
//! or with the session cookie the sign-in form sets. Nobody else, on any
//! path.
//!
//! Both are compared in constant time, and after hashing, so that neither
//! the content nor the length of the token leaks through timing. The
//! cookie does not hold the token itself but a digest of it: a cookie that
//! leaks (a screenshot of the browser's storage) is no bearer token for
//! scripts, and changing the token ends every session.

use http::HeaderMap;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// The session cookie's name.
pub(crate) const COOKIE: &str = "rusm_observer";

/// The token, kept only as digests.
pub(crate) struct Auth {
    token_digest: [u8; 32],
    /// The session cookie's value (hex).
    session: String,
    session_digest: [u8; 32],
}

fn digest(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

impl Auth {
    pub(crate) fn new(token: &str) -> Auth {
        let mut h = Sha256::new();
        h.update(b"rusm-observer-session\0");
        h.update(token.as_bytes());
        let session = hex::encode(h.finalize());
        Auth {
            token_digest: digest(token.as_bytes()),
            session_digest: digest(session.as_bytes()),
            session,
        }
    }

    /// Whether `candidate` is the token.
    pub(crate) fn is_token(&self, candidate: &str) -> bool {
        bool::from(digest(candidate.as_bytes()).ct_eq(&self.token_digest))
    }

    fn is_session(&self, candidate: &str) -> bool {
        bool::from(digest(candidate.as_bytes()).ct_eq(&self.session_digest))
    }

    /// The `set-cookie` value that signs a browser in.
    pub(crate) fn cookie(&self, secure: bool) -> String {
        let secure = if secure { "; Secure" } else { "" };
        format!(
            "{COOKIE}={}; Path=/; HttpOnly; SameSite=Strict{secure}",
            self.session
        )
    }

    /// Whether the request carries the token or the session cookie.
    pub(crate) fn allows(&self, headers: &HeaderMap) -> bool {
        let bearer = headers
            .get_all(http::header::AUTHORIZATION)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .filter_map(|v| v.strip_prefix("Bearer "))
            .any(|t| self.is_token(t.trim()));
        if bearer {
            return true;
        }
        headers
            .get_all(http::header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .filter_map(|c| c.trim().split_once('='))
            .any(|(name, value)| name == COOKIE && self.is_session(value))
    }
}

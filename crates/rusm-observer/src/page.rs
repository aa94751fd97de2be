//! The web page: HTML, CSS and JavaScript compiled into the binary. No
//! CDN, no external font, no framework: the page must work on a machine
//! with no way out, and what it runs is exactly what this crate ships.
//!
//! Everything a guest controls (component names come from the operator,
//! but labels, registered names and exit reasons from guests) reaches the
//! page as JSON and is put into the document as text (`textContent`),
//! never as markup; the Content-Security-Policy allows scripts from this
//! origin only, so an injected `<script>` would not run either.

/// `/`: the page.
pub(crate) const INDEX: &str = include_str!("assets/index.html");
/// `/app.js`.
pub(crate) const SCRIPT: &str = include_str!("assets/app.js");
/// `/app.css`.
pub(crate) const STYLE: &str = include_str!("assets/app.css");
/// `/` without a token: the sign-in form.
pub(crate) const SIGN_IN: &str = include_str!("assets/signin.html");

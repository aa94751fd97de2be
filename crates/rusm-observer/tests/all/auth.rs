//! No token, no observer: every path answers 401 without the token or the
//! session cookie; the sign-in form sets a cookie that works, and a wrong
//! token sets nothing.

use crate::{TOKEN, observed, request};

const PATHS: &[(&str, &str)] = &[
    ("GET", "/"),
    ("GET", "/app.js"),
    ("GET", "/app.css"),
    ("GET", "/metrics"),
    ("GET", "/api/processes"),
    ("GET", "/api/processes/1"),
    ("POST", "/api/processes/1/kill"),
    ("GET", "/api/tree"),
    ("GET", "/api/history"),
    ("GET", "/api/events"),
    ("GET", "/no/such/path"),
    ("DELETE", "/api/processes"),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_path_is_401_without_a_valid_token() {
    let o = observed().await;
    let addr = o.observer.local_addr();
    let wrong = [
        vec![],
        vec![("authorization", "Bearer wrong-token")],
        vec![("authorization", "Bearer test-token-012345678")],
        vec![("authorization", "Bearer test-token-01234567890")],
        vec![("authorization", "Basic dGVzdA==")],
        vec![("authorization", TOKEN)],
        vec![("cookie", "rusm_observer=test-token-0123456789")],
        vec![("cookie", "rusm_observer=00")],
    ];
    for (method, path) in PATHS {
        for headers in &wrong {
            let a = request(addr, method, path, headers, "").await;
            assert_eq!(a.status, 401, "{method} {path} with {headers:?}: {a:?}");
            assert_eq!(a.header("www-authenticate"), Some("Bearer"));
        }
    }
    // The one answer without a token that has a body worth reading: the
    // sign-in form, still a 401.
    let a = request(addr, "GET", "/", &[], "").await;
    assert!(a.body.contains("<form"), "{}", a.body);
    assert!(!a.body.contains(TOKEN));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_token_opens_every_path() {
    let o = observed().await;
    let addr = o.observer.local_addr();
    let auth = format!("Bearer {TOKEN}");
    for (path, status) in [
        ("/", 200),
        ("/app.js", 200),
        ("/metrics", 200),
        ("/api/processes", 200),
        ("/api/processes/999", 404),
        ("/api/tree", 200),
        ("/api/history", 200),
        ("/no/such/path", 404),
    ] {
        let a = request(addr, "GET", path, &[("authorization", &auth)], "").await;
        assert_eq!(a.status, status, "GET {path}: {a:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_in_sets_a_cookie_that_opens_the_page_and_a_wrong_token_does_not() {
    let o = observed().await;
    let addr = o.observer.local_addr();
    let form = "application/x-www-form-urlencoded";

    let refused = request(
        addr,
        "POST",
        "/signin",
        &[("content-type", form)],
        "token=nope",
    )
    .await;
    assert_eq!(refused.status, 401);
    assert!(refused.header("set-cookie").is_none());

    // The form sends what the operator typed, URL-encoded.
    let body = format!("token={}", TOKEN.replace('-', "%2D"));
    let ok = request(addr, "POST", "/signin", &[("content-type", form)], &body).await;
    assert_eq!(ok.status, 303, "{ok:?}");
    let cookie = ok
        .header("set-cookie")
        .expect("a session cookie")
        .to_owned();
    assert!(cookie.contains("HttpOnly"), "{cookie}");
    assert!(cookie.contains("SameSite=Strict"), "{cookie}");
    assert!(
        !cookie.contains(TOKEN),
        "the cookie is not the token: {cookie}"
    );
    let pair = cookie.split(';').next().unwrap().to_owned();

    let page = request(addr, "GET", "/", &[("cookie", &pair)], "").await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("app.js"));
    let api = request(
        addr,
        "GET",
        "/api/processes",
        &[("cookie", &format!("a=b; {pair}"))],
        "",
    )
    .await;
    assert_eq!(api.status, 200);
}

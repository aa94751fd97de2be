//! Arguments the store refuses: empty bucket names (`Invalid`) and anything
//! over a size cap (`TooLarge`). A refused call changes nothing.

use rusm_kv::KvError;
use rusm_kv::limits::{MAX_BUCKET_LEN, MAX_KEY_LEN, MAX_VALUE_LEN};

use crate::temp_store;

fn assert_too_large<T: std::fmt::Debug>(
    result: Result<T, KvError>,
    what: &str,
    len: usize,
    limit: usize,
) {
    match result {
        Err(KvError::TooLarge {
            what: w,
            len: l,
            limit: m,
        }) => {
            assert_eq!((w, l, m), (what, len, limit));
        }
        other => panic!("expected TooLarge({what}), got {other:?}"),
    }
}

#[tokio::test]
async fn empty_bucket_is_invalid_for_every_operation() {
    let (_dir, store) = temp_store();
    let results: Vec<Result<(), KvError>> = vec![
        store.get("", "k").await.map(drop),
        store.set("", "k", b"v".to_vec()).await,
        store.delete("", "k").await.map(drop),
        store.exists("", "k").await.map(drop),
        store.keys("", "").await.map(drop),
        store
            .compare_and_swap("", "k", None, b"v".to_vec())
            .await
            .map(drop),
    ];
    for result in results {
        let err = result.expect_err("empty bucket accepted");
        assert!(matches!(err, KvError::Invalid(_)), "{err:?}");
        assert!(err.to_string().contains("bucket name is empty"), "{err}");
    }
    assert_eq!(store.stats().ops, 0, "nothing reached the writer");
}

#[tokio::test]
async fn bucket_name_cap() {
    let (_dir, store) = temp_store();
    // 127 two-byte characters + 1 byte: exactly the cap, in multi-byte UTF-8.
    let at_cap = format!("{}a", "é".repeat(127));
    assert_eq!(at_cap.len(), MAX_BUCKET_LEN);
    store.set(&at_cap, "k", b"v".to_vec()).await.unwrap();
    assert_eq!(store.get(&at_cap, "k").await.unwrap(), Some(b"v".to_vec()));

    let over = "b".repeat(MAX_BUCKET_LEN + 1);
    assert_too_large(
        store.set(&over, "k", b"v".to_vec()).await,
        "bucket name",
        256,
        255,
    );
    assert_too_large(store.get(&over, "k").await, "bucket name", 256, 255);
    assert_too_large(store.keys(&over, "").await, "bucket name", 256, 255);
}

#[tokio::test]
async fn key_cap() {
    let (_dir, store) = temp_store();
    let at_cap = "k".repeat(MAX_KEY_LEN);
    store.set("b", &at_cap, b"v".to_vec()).await.unwrap();
    assert!(store.exists("b", &at_cap).await.unwrap());
    assert_eq!(store.keys("b", "k").await.unwrap(), [at_cap.as_str()]);

    let over = "k".repeat(MAX_KEY_LEN + 1);
    let (len, cap) = (MAX_KEY_LEN + 1, MAX_KEY_LEN);
    assert_too_large(store.set("b", &over, b"v".to_vec()).await, "key", len, cap);
    assert_too_large(store.get("b", &over).await, "key", len, cap);
    assert_too_large(store.exists("b", &over).await, "key", len, cap);
    assert_too_large(store.delete("b", &over).await, "key", len, cap);
    assert_too_large(
        store.compare_and_swap("b", &over, None, Vec::new()).await,
        "key",
        len,
        cap,
    );
    assert_too_large(store.keys("b", &over).await, "key prefix", len, cap);
}

#[tokio::test]
async fn value_cap() {
    let (_dir, store) = temp_store();
    let at_cap = vec![7u8; MAX_VALUE_LEN];
    store.set("b", "big", at_cap.clone()).await.unwrap();
    assert_eq!(
        store.get("b", "big").await.unwrap().map(|v| v.len()),
        Some(MAX_VALUE_LEN)
    );

    let over = vec![7u8; MAX_VALUE_LEN + 1];
    let (len, cap) = (MAX_VALUE_LEN + 1, MAX_VALUE_LEN);
    assert_too_large(store.set("b", "k", over.clone()).await, "value", len, cap);
    assert_too_large(
        store.compare_and_swap("b", "k", None, over.clone()).await,
        "value",
        len,
        cap,
    );
    assert_too_large(
        store
            .compare_and_swap("b", "big", Some(over), Vec::new())
            .await,
        "expected value",
        len,
        cap,
    );
    assert!(
        !store.exists("b", "k").await.unwrap(),
        "refused writes left nothing"
    );
    assert_eq!(
        store.get("b", "big").await.unwrap(),
        Some(at_cap),
        "refused CAS left the value"
    );
}

#[test]
fn too_large_message_says_what_and_by_how_much() {
    let err = KvError::TooLarge {
        what: "value",
        len: 20,
        limit: 10,
    };
    assert_eq!(
        err.to_string(),
        "value is 20 bytes, over the store's limit of 10 bytes"
    );
}

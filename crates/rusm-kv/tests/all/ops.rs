//! Every operation, one at a time: what it returns and what it leaves behind.

use crate::temp_store;

#[tokio::test]
async fn get_set_overwrite() {
    let (_dir, store) = temp_store();
    assert_eq!(store.get("b", "k").await.unwrap(), None);
    store.set("b", "k", b"one".to_vec()).await.unwrap();
    assert_eq!(store.get("b", "k").await.unwrap(), Some(b"one".to_vec()));
    store.set("b", "k", b"two".to_vec()).await.unwrap();
    assert_eq!(store.get("b", "k").await.unwrap(), Some(b"two".to_vec()));
}

#[tokio::test]
async fn empty_value_is_not_absence() {
    let (_dir, store) = temp_store();
    store.set("b", "empty", Vec::new()).await.unwrap();
    assert_eq!(store.get("b", "empty").await.unwrap(), Some(Vec::new()));
    assert!(store.exists("b", "empty").await.unwrap());
    // CAS tells "empty" and "absent" apart too.
    assert!(
        !store
            .compare_and_swap("b", "empty", None, b"x".to_vec())
            .await
            .unwrap()
    );
    assert!(
        store
            .compare_and_swap("b", "empty", Some(Vec::new()), b"x".to_vec())
            .await
            .unwrap()
    );
}

#[tokio::test]
async fn empty_key_is_a_key() {
    let (_dir, store) = temp_store();
    store.set("b", "", b"root".to_vec()).await.unwrap();
    assert_eq!(store.get("b", "").await.unwrap(), Some(b"root".to_vec()));
    assert_eq!(store.keys("b", "").await.unwrap(), [""]);
}

#[tokio::test]
async fn delete_reports_whether_the_key_existed() {
    let (_dir, store) = temp_store();
    assert!(!store.delete("b", "k").await.unwrap(), "never written");
    store.set("b", "k", b"v".to_vec()).await.unwrap();
    assert!(store.delete("b", "k").await.unwrap());
    assert!(!store.exists("b", "k").await.unwrap());
    assert_eq!(store.get("b", "k").await.unwrap(), None);
    assert!(!store.delete("b", "k").await.unwrap(), "already deleted");
}

#[tokio::test]
async fn exists() {
    let (_dir, store) = temp_store();
    assert!(!store.exists("b", "k").await.unwrap());
    store.set("b", "k", vec![0; 10]).await.unwrap();
    assert!(store.exists("b", "k").await.unwrap());
    assert!(!store.exists("b", "k2").await.unwrap());
}

#[tokio::test]
async fn a_bucket_never_written_reads_as_empty() {
    let (_dir, store) = temp_store();
    assert_eq!(store.get("nowhere", "k").await.unwrap(), None);
    assert!(!store.exists("nowhere", "k").await.unwrap());
    assert!(store.keys("nowhere", "").await.unwrap().is_empty());
    assert!(!store.delete("nowhere", "k").await.unwrap());
    // The failed delete may create the table; it must still read as empty.
    assert!(store.keys("nowhere", "").await.unwrap().is_empty());
}

#[tokio::test]
async fn buckets_are_separate() {
    let (_dir, store) = temp_store();
    // Names chosen to collide if bucket and key were naively concatenated.
    store.set("a", "b:c", b"1".to_vec()).await.unwrap();
    store.set("a:b", "c", b"2".to_vec()).await.unwrap();
    store
        .set("rusm-kv:meta", "format", b"3".to_vec())
        .await
        .unwrap();
    assert_eq!(store.get("a", "b:c").await.unwrap(), Some(b"1".to_vec()));
    assert_eq!(store.get("a:b", "c").await.unwrap(), Some(b"2".to_vec()));
    assert_eq!(store.get("a", "c").await.unwrap(), None);
    assert_eq!(store.keys("a", "").await.unwrap(), ["b:c"]);
    assert_eq!(store.keys("a:b", "").await.unwrap(), ["c"]);
    assert_eq!(
        store.get("rusm-kv:meta", "format").await.unwrap(),
        Some(b"3".to_vec())
    );
    assert!(store.delete("a", "b:c").await.unwrap());
    assert_eq!(store.get("a:b", "c").await.unwrap(), Some(b"2".to_vec()));
}

#[tokio::test]
async fn keys_are_listed_in_byte_order_by_prefix() {
    let (_dir, store) = temp_store();
    // Written out of order, with prefixes of each other, a NUL, and
    // multi-byte UTF-8 (which sorts after ASCII, by bytes).
    let written = [
        "b", "ab", "a", "abc", "aa", "a\u{0}", "é", "zz", "a-", "ab0", "Z", "abd", "aé",
    ];
    for key in written {
        store.set("k", key, key.as_bytes().to_vec()).await.unwrap();
    }
    let mut expected: Vec<&str> = written.to_vec();
    expected.sort_by(|x, y| x.as_bytes().cmp(y.as_bytes()));
    assert_eq!(store.keys("k", "").await.unwrap(), expected);

    assert_eq!(
        store.keys("k", "a").await.unwrap(),
        ["a", "a\u{0}", "a-", "aa", "ab", "ab0", "abc", "abd", "aé"]
    );
    assert_eq!(
        store.keys("k", "ab").await.unwrap(),
        ["ab", "ab0", "abc", "abd"]
    );
    assert_eq!(store.keys("k", "abc").await.unwrap(), ["abc"]);
    assert_eq!(store.keys("k", "é").await.unwrap(), ["é"]);
    assert!(store.keys("k", "abcd").await.unwrap().is_empty());
    assert!(
        store.keys("k", "c").await.unwrap().is_empty(),
        "between keys"
    );
    assert!(
        store.keys("k", "zzz").await.unwrap().is_empty(),
        "past the end"
    );
    assert!(
        store.keys("k", "0").await.unwrap().is_empty(),
        "before the start"
    );

    // Deleted keys disappear from listings.
    assert!(store.delete("k", "abc").await.unwrap());
    assert_eq!(store.keys("k", "ab").await.unwrap(), ["ab", "ab0", "abd"]);
}

#[tokio::test]
async fn compare_and_swap_absent_expected() {
    let (_dir, store) = temp_store();
    // Absent, expected absent: swaps.
    assert!(
        store
            .compare_and_swap("b", "k", None, b"first".to_vec())
            .await
            .unwrap()
    );
    assert_eq!(store.get("b", "k").await.unwrap(), Some(b"first".to_vec()));
    // Present, expected absent: does not swap, value kept.
    assert!(
        !store
            .compare_and_swap("b", "k", None, b"second".to_vec())
            .await
            .unwrap()
    );
    assert_eq!(store.get("b", "k").await.unwrap(), Some(b"first".to_vec()));
}

#[tokio::test]
async fn compare_and_swap_expected_value() {
    let (_dir, store) = temp_store();
    // Absent, expected a value: does not swap, key stays absent.
    assert!(
        !store
            .compare_and_swap("b", "k", Some(b"v".to_vec()), b"w".to_vec())
            .await
            .unwrap()
    );
    assert!(!store.exists("b", "k").await.unwrap());

    store.set("b", "k", b"v".to_vec()).await.unwrap();
    // Wrong expectation (including a prefix of the real value): no swap.
    assert!(
        !store
            .compare_and_swap("b", "k", Some(b"x".to_vec()), b"w".to_vec())
            .await
            .unwrap()
    );
    assert!(
        !store
            .compare_and_swap("b", "k", Some(Vec::new()), b"w".to_vec())
            .await
            .unwrap()
    );
    assert!(
        !store
            .compare_and_swap("b", "k", Some(b"vv".to_vec()), b"w".to_vec())
            .await
            .unwrap()
    );
    assert_eq!(store.get("b", "k").await.unwrap(), Some(b"v".to_vec()));
    // Right expectation: swaps.
    assert!(
        store
            .compare_and_swap("b", "k", Some(b"v".to_vec()), b"w".to_vec())
            .await
            .unwrap()
    );
    assert_eq!(store.get("b", "k").await.unwrap(), Some(b"w".to_vec()));
}

#[tokio::test]
async fn values_are_bytes() {
    let (_dir, store) = temp_store();
    let value: Vec<u8> = (0..=255u8).cycle().take(100_000).collect();
    store.set("bin", "all-bytes", value.clone()).await.unwrap();
    assert_eq!(store.get("bin", "all-bytes").await.unwrap(), Some(value));
}

#[tokio::test]
async fn writes_are_counted() {
    let (_dir, store) = temp_store();
    assert_eq!(store.stats(), rusm_kv::Stats::default());
    store.set("b", "k", b"v".to_vec()).await.unwrap();
    store.delete("b", "k").await.unwrap();
    store
        .compare_and_swap("b", "k", None, b"v".to_vec())
        .await
        .unwrap();
    store.get("b", "k").await.unwrap();
    let stats = store.stats();
    assert_eq!(stats.ops, 3, "reads are not writes: {stats:?}");
    assert_eq!(
        stats.commits, 3,
        "sequential writes commit one by one: {stats:?}"
    );
    assert_eq!(stats.failed_commits, 0);
}

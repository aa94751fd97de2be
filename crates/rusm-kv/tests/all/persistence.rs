//! The file: created on first use, kept across close and reopen, refused
//! with a clear message when it is in use or is not a store.

use rusm_kv::{KvError, Store};

use crate::child::ChildProcess;
use crate::{store_path, temp_store};

#[tokio::test]
async fn values_survive_close_and_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = store_path(&dir);
    {
        let store = Store::open(&path).unwrap();
        store.set("a", "one", b"1".to_vec()).await.unwrap();
        store.set("a", "two", b"2".to_vec()).await.unwrap();
        store.set("b", "one", vec![9; 50_000]).await.unwrap();
        store.set("a", "gone", b"x".to_vec()).await.unwrap();
        assert!(store.delete("a", "gone").await.unwrap());
        assert!(
            store
                .compare_and_swap("a", "two", Some(b"2".to_vec()), b"22".to_vec())
                .await
                .unwrap()
        );
    }
    let store = Store::open(&path).unwrap();
    assert_eq!(store.get("a", "one").await.unwrap(), Some(b"1".to_vec()));
    assert_eq!(store.get("a", "two").await.unwrap(), Some(b"22".to_vec()));
    assert_eq!(store.get("b", "one").await.unwrap(), Some(vec![9; 50_000]));
    assert_eq!(store.get("a", "gone").await.unwrap(), None);
    assert_eq!(store.keys("a", "").await.unwrap(), ["one", "two"]);
    assert_eq!(
        store.stats(),
        rusm_kv::Stats::default(),
        "stats count this opening only"
    );
}

#[tokio::test]
async fn open_creates_missing_parent_folders() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nodes/a/b/c/store.redb");
    let store = Store::open(&path).unwrap();
    assert_eq!(store.path(), path);
    store.set("b", "k", b"v".to_vec()).await.unwrap();
    assert!(path.is_file());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn last_clone_dropped_closes_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = store_path(&dir);
    let store = Store::open(&path).unwrap();
    let mut tasks = Vec::new();
    for t in 0..32 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..10 {
                store
                    .set("b", &format!("{t:02}-{i}"), vec![t as u8; 10])
                    .await
                    .unwrap();
            }
            // The last of these drops runs the shutdown inside the runtime.
        }));
    }
    drop(store); // the tasks still hold clones
    for task in tasks {
        task.await.unwrap();
    }
    // The writer is joined and the file closed: it reopens at once.
    let store = Store::open(&path).expect("reopen right after the last clone dropped");
    let keys = store.keys("b", "").await.unwrap();
    assert_eq!(keys.len(), 320);
    for key in keys {
        let t: u8 = key[..2].parse().unwrap();
        assert_eq!(store.get("b", &key).await.unwrap(), Some(vec![t; 10]));
    }
}

#[test]
fn a_second_open_in_the_same_process_is_refused() {
    let (dir, _store) = temp_store();
    let path = store_path(&dir);
    let err = Store::open(&path).expect_err("opened twice");
    assert!(
        matches!(&err, KvError::InUse { path: p } if *p == path),
        "{err:?}"
    );
    let message = err.to_string();
    assert!(
        message.contains(&format!(
            "store file {} is already in use by another node",
            path.display()
        )),
        "{message}"
    );
}

#[test]
fn a_store_held_by_another_process_is_refused_until_it_dies() {
    let dir = tempfile::tempdir().unwrap();
    let path = store_path(&dir);
    let mut holder = ChildProcess::start("hold", &path, 0);
    let err = Store::open(&path).expect_err("opened while another process holds it");
    assert!(matches!(&err, KvError::InUse { .. }), "{err:?}");
    assert!(
        err.to_string().contains("already in use by another node"),
        "{err}"
    );

    // The OS drops the lock with the process, whatever way it dies.
    holder.sigkill();
    Store::open(&path).expect("open once the holder is dead");
}

fn assert_not_a_store(path: &std::path::Path) {
    let err = Store::open(path).expect_err("opened a file that is not a store");
    assert!(
        matches!(&err, KvError::NotAStore { path: p } if p == path),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        format!(
            "{} is not a RUSM store (redb) file; move it away or point the node at another store path",
            path.display()
        )
    );
}

#[test]
fn garbage_is_not_a_store() {
    let dir = tempfile::tempdir().unwrap();
    let garbage = dir.path().join("garbage.redb");
    let bytes: Vec<u8> = (0..64 * 1024u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    std::fs::write(&garbage, &bytes).unwrap();
    assert_not_a_store(&garbage);
    // redb stops at the magic number, before writing anything.
    assert!(
        std::fs::read(&garbage).unwrap() == bytes,
        "the refused file was modified"
    );

    let text = dir.path().join("notes.txt");
    std::fs::write(&text, "just some notes\n").unwrap();
    assert_not_a_store(&text);
}

#[test]
fn another_programs_redb_file_is_not_a_store() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("other.redb");
    drop(redb_file_with_a_table(&path));
    assert_not_a_store(&path);
    // Opening it read-write may touch redb's header, but the other program's
    // data is left as it was, and no RUSM marker was added.
    use redb::ReadableDatabase;
    let db = redb::Database::open(&path).unwrap();
    let txn = db.begin_read().unwrap();
    assert_eq!(
        txn.open_table(OTHER_TABLE)
            .unwrap()
            .get(1)
            .unwrap()
            .unwrap()
            .value(),
        2
    );
    assert_eq!(
        txn.list_tables().unwrap().count(),
        1,
        "only the other program's table"
    );
}

const OTHER_TABLE: redb::TableDefinition<u64, u64> = redb::TableDefinition::new("accounts");

fn redb_file_with_a_table(path: &std::path::Path) -> redb::Database {
    let db = redb::Database::create(path).unwrap();
    let txn = db.begin_write().unwrap();
    txn.open_table(OTHER_TABLE).unwrap().insert(1, 2).unwrap();
    txn.commit().unwrap();
    db
}

#[test]
fn a_folder_in_the_way_is_an_io_error_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.redb");
    std::fs::create_dir(&path).unwrap();
    let err = Store::open(&path).expect_err("opened a directory");
    assert!(matches!(&err, KvError::Io { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        format!("store file {}: cannot open it", path.display())
    );
    assert!(
        std::error::Error::source(&err).is_some(),
        "the OS error is the source"
    );
}

#[test]
fn an_empty_file_becomes_a_store() {
    // What redb does with an empty file, and what `touch store.redb` expects.
    let dir = tempfile::tempdir().unwrap();
    let path = store_path(&dir);
    std::fs::write(&path, b"").unwrap();
    drop(Store::open(&path).expect("an empty file is a new store"));
    drop(Store::open(&path).expect("and stays one"));
}

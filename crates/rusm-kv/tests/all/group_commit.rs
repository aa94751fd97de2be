//! Concurrency: writes that arrive together share a commit, and sharing
//! never bends the semantics (arrival order, CAS serializability,
//! read-your-writes). Races are provoked with barriers, repeated, and judged
//! by invariants.

use std::sync::Arc;

use tokio::sync::Barrier;

use crate::temp_store;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_sets_share_commits() {
    let (_dir, store) = temp_store();
    const WRITERS: usize = 256;
    let barrier = Arc::new(Barrier::new(WRITERS));
    let mut tasks = Vec::new();
    for w in 0..WRITERS {
        let (store, barrier) = (store.clone(), Arc::clone(&barrier));
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            store
                .set("b", &format!("{w:03}"), vec![w as u8; 100])
                .await
                .unwrap();
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let stats = store.stats();
    eprintln!("256 concurrent sets: {stats:?}");
    assert_eq!(stats.ops, WRITERS as u64);
    assert_eq!(stats.failed_commits, 0);
    assert!(
        stats.commits <= (WRITERS / 8) as u64,
        "256 concurrent sets took {} commits; group commit is not batching",
        stats.commits
    );
    assert_eq!(store.keys("b", "").await.unwrap().len(), WRITERS);
    for w in 0..WRITERS {
        assert_eq!(
            store.get("b", &format!("{w:03}")).await.unwrap(),
            Some(vec![w as u8; 100])
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cas_increments_are_serializable() {
    let (_dir, store) = temp_store();
    const TASKS: u64 = 32;
    const INCREMENTS: u64 = 25;
    let barrier = Arc::new(Barrier::new(TASKS as usize));
    let mut tasks = Vec::new();
    for _ in 0..TASKS {
        let (store, barrier) = (store.clone(), Arc::clone(&barrier));
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            let mut done = 0;
            let mut conflicts = 0u64;
            while done < INCREMENTS {
                let current = store.get("c", "n").await.unwrap();
                let n = current
                    .as_deref()
                    .map_or(0, |v| u64::from_le_bytes(v.try_into().unwrap()));
                if store
                    .compare_and_swap("c", "n", current, (n + 1).to_le_bytes().to_vec())
                    .await
                    .unwrap()
                {
                    done += 1;
                } else {
                    conflicts += 1;
                }
            }
            conflicts
        }));
    }
    let mut conflicts = 0;
    for task in tasks {
        conflicts += task.await.unwrap();
    }
    let n = store.get("c", "n").await.unwrap().unwrap();
    assert_eq!(
        u64::from_le_bytes(n.try_into().unwrap()),
        TASKS * INCREMENTS,
        "lost or doubled increments ({conflicts} conflicts)"
    );
    assert!(conflicts > 0, "the race was not provoked");
    assert!(
        store.stats().commits < store.stats().ops,
        "{:?}",
        store.stats()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ops_apply_in_arrival_order_within_a_batch() {
    let (_dir, store) = temp_store();
    for round in 0..50u8 {
        // Both futures queue on their first poll, in this order, so they
        // usually share a batch; the CAS must see the set before it.
        let (set, swapped, exists_after_delete) = tokio::join!(
            store.set("o", "k", vec![round]),
            store.compare_and_swap("o", "k", Some(vec![round]), vec![round, round]),
            async {
                let deleted = store.delete("o", "other").await.unwrap();
                let recreated = store
                    .compare_and_swap("o", "other", None, vec![1])
                    .await
                    .unwrap();
                (deleted, recreated)
            },
        );
        set.unwrap();
        assert!(
            swapped.unwrap(),
            "round {round}: the CAS did not see the set queued before it"
        );
        assert_eq!(exists_after_delete, (round > 0, true), "round {round}");
        assert_eq!(store.get("o", "k").await.unwrap(), Some(vec![round, round]));
    }
    let stats = store.stats();
    assert!(
        stats.commits < stats.ops,
        "no batch ever held two ops: {stats:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_writer_reads_its_own_acknowledged_write() {
    let (_dir, store) = temp_store();
    let barrier = Arc::new(Barrier::new(64));
    let mut tasks = Vec::new();
    for t in 0..64u32 {
        let (store, barrier) = (store.clone(), Arc::clone(&barrier));
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            for i in 0..20u32 {
                let key = format!("{t}/{i}");
                let value = (t * 1000 + i).to_le_bytes().to_vec();
                store.set("r", &key, value.clone()).await.unwrap();
                assert_eq!(store.get("r", &key).await.unwrap(), Some(value), "{key}");
                assert!(store.delete("r", &key).await.unwrap(), "{key}");
                assert!(!store.exists("r", &key).await.unwrap(), "{key}");
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    assert!(
        store.keys("r", "").await.unwrap().is_empty(),
        "every key was deleted"
    );
    let stats = store.stats();
    assert_eq!(stats.ops, 64 * 20 * 2);
    assert!(stats.commits < stats.ops / 4, "{stats:?}");
}

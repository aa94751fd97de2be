use std::time::Duration;

use rusm_core::{Error, SpawnOptions};

use crate::{node, reason};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_after_delivers_and_cancel_stops_it() {
    let node = node();
    let pid = node
        .spawn(SpawnOptions::new(), |ctx| async move {
            let me = ctx.pid();
            let t0 = std::time::Instant::now();
            let _ = ctx
                .send_after(me, 1, b"late".to_vec(), Duration::from_millis(30))
                .unwrap();
            let cancelled = ctx
                .send_after(me, 2, vec![], Duration::from_millis(10))
                .unwrap();
            assert!(ctx.cancel_timer(cancelled));
            assert!(!ctx.cancel_timer(cancelled));
            let m = ctx.receive(&[], None).await.unwrap();
            assert_eq!(m.tag, 1);
            assert_eq!(m.data, b"late");
            assert!(t0.elapsed() >= Duration::from_millis(30));
            assert_eq!(
                ctx.receive(&[2], Some(Duration::from_millis(30))).await,
                Err(Error::Timeout)
            );
            let fired = ctx
                .send_after(me, 3, vec![], Duration::from_millis(1))
                .unwrap();
            ctx.receive(&[3], None).await.unwrap();
            assert!(
                !ctx.cancel_timer(fired),
                "a delivered timer is no longer pending"
            );
        })
        .unwrap();
    assert_eq!(reason(&node, pid).await.to_string(), "normal");
    assert_eq!(node.stats().timers, 0);
}

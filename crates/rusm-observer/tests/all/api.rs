//! The JSON API against a known set of processes: counts, filters, sort,
//! paging, a process's detail, the tree, and kill.

use std::sync::Arc;

use rusm_caps::Capabilities;
use rusm_core::{ExitReason, Pid, SpawnOptions};

use crate::{TOKEN, eventually, get, observed, request};

async fn park(ctx: rusm_core::Ctx) {
    ctx.receive(&[12345], None).await.ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_shows_a_known_set_of_processes() {
    let o = observed().await;
    let node = &o.node;
    let sandboxed = Arc::new(Capabilities::sandboxed());
    let mut alphas = Vec::new();
    for _ in 0..3 {
        let pid = node.spawn(SpawnOptions::new().name("alpha"), park).unwrap();
        o.hooks.record_grants(pid, &sandboxed);
        alphas.push(pid);
    }
    let boss = node
        .spawn(SpawnOptions::new().name("beta"), |ctx| async move {
            // Two children of its own, one linked, one monitored.
            let a = ctx
                .spawn(SpawnOptions::new().name("beta-child").link(true), park)
                .unwrap();
            let _b = ctx
                .spawn(SpawnOptions::new().name("beta-child"), park)
                .unwrap();
            ctx.monitor(a).unwrap();
            park(ctx).await
        })
        .unwrap();
    // A mailbox of 7 on the second alpha.
    for i in 0..7 {
        node.send(Pid::NODE, alphas[1], i, b"<script>".to_vec())
            .unwrap();
    }
    node.set_label(alphas[1], "<img src=x onerror=alert(1)>");

    eventually("six processes", async || {
        get(&o, "/api/processes").await.json()["total"] == 6
    })
    .await;
    let all = get(&o, "/api/processes?limit=500").await.json();
    assert_eq!(all["matched"], 6);
    assert_eq!(all["by_profile"]["sandboxed"], 3);
    assert_eq!(all["by_profile"]["host"], 3);
    let pids: Vec<u64> = all["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["pid"].as_u64().unwrap())
        .collect();
    let mut sorted = pids.clone();
    sorted.sort();
    assert_eq!(pids, sorted, "pid order by default");

    let alpha = get(&o, "/api/processes?component=alpha").await.json();
    assert_eq!(alpha["matched"], 3);
    assert!(
        alpha["rows"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["component"] == "alpha" && r["profile"] == "sandboxed")
    );

    let by_mailbox = get(&o, "/api/processes?sort=mailbox&order=desc&limit=1")
        .await
        .json();
    assert_eq!(by_mailbox["rows"][0]["pid"], alphas[1].get());
    assert_eq!(by_mailbox["rows"][0]["mailbox_len"], 7);
    assert_eq!(by_mailbox["rows"].as_array().unwrap().len(), 1);
    assert_eq!(by_mailbox["matched"], 6);

    let page2 = get(&o, "/api/processes?limit=2&offset=2").await.json();
    let got: Vec<u64> = page2["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["pid"].as_u64().unwrap())
        .collect();
    assert_eq!(got, sorted[2..4]);

    let host = get(&o, "/api/processes?profile=host&component=beta-child")
        .await
        .json();
    assert_eq!(host["matched"], 2);
    assert_eq!(get(&o, "/api/processes?sort=bogus").await.status, 400);

    // Detail: grants, links, monitors, mailbox, children.
    let d = get(&o, &format!("/api/processes/{}", alphas[1]))
        .await
        .json();
    assert_eq!(d["component"], "alpha");
    assert_eq!(d["profile"], "sandboxed");
    assert_eq!(d["mailbox_len"], 7);
    assert_eq!(d["label"], "<img src=x onerror=alert(1)>");
    assert!(d["capabilities"].is_string());
    let b = get(&o, &format!("/api/processes/{boss}")).await.json();
    assert_eq!(b["child_count"], 2);
    assert_eq!(b["links"].as_array().unwrap().len(), 1);
    assert_eq!(b["monitors"].as_array().unwrap().len(), 1);
    assert_eq!(b["profile"], "host");

    // The tree: the node's children, then beta's.
    let root = get(&o, "/api/tree").await.json();
    assert_eq!(root["total"], 4);
    let beta = root["children"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["pid"] == boss.get())
        .unwrap();
    assert_eq!(beta["children"], 2);
    let under = get(&o, &format!("/api/tree?parent={boss}")).await.json();
    assert_eq!(under["total"], 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_through_the_api_ends_the_process_killed() {
    let o = observed().await;
    let (pid, exit) = o
        .node
        .spawn_watched(
            Pid::NODE,
            SpawnOptions::new().name("victim").trap_exit(true),
            park,
        )
        .unwrap();
    let addr = o.observer.local_addr();
    let auth = format!("Bearer {TOKEN}");
    let path = format!("/api/processes/{pid}/kill");
    // GET does not kill.
    let a = request(addr, "GET", &path, &[("authorization", &auth)], "").await;
    assert_eq!(a.status, 405);
    assert!(o.node.is_alive(pid));
    let a = request(addr, "POST", &path, &[("authorization", &auth)], "").await;
    assert_eq!(a.status, 200, "{a:?}");
    assert_eq!(a.json()["killed"], true);
    assert_eq!(exit.await, ExitReason::Killed);
    assert_eq!(o.hooks.exits(rusm_observer::ExitClass::Killed), 1);
    // Gone: the detail and a second kill say so.
    assert_eq!(get(&o, &format!("/api/processes/{pid}")).await.status, 404);
    let a = request(addr, "POST", &path, &[("authorization", &auth)], "").await;
    assert_eq!(a.status, 404);
}

/// 100,000 processes: a page is still one page (the server sorts and cuts),
/// and it comes back in well under a second even in a debug build.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_of_a_hundred_thousand_processes_is_one_page() {
    let o = observed().await;
    const N: u64 = 100_000;
    let mut last = Pid::NODE;
    for _ in 0..N {
        last = o
            .node
            .spawn(SpawnOptions::new().name("many"), park)
            .unwrap();
    }
    o.node.send(Pid::NODE, last, 1, vec![]).unwrap();
    let start = std::time::Instant::now();
    let a = get(&o, "/api/processes?sort=mailbox&order=desc&limit=50").await;
    let took = start.elapsed();
    let v = a.json();
    assert_eq!(v["total"], N);
    assert_eq!(v["rows"].as_array().unwrap().len(), 50);
    assert_eq!(v["rows"][0]["pid"], last.get());
    assert!(
        a.body.len() < 64 * 1024,
        "a page is small: {} bytes",
        a.body.len()
    );
    assert!(
        took < std::time::Duration::from_secs(3),
        "a page took {took:?}"
    );
    let filtered = get(&o, "/api/processes?component=nothing-like-this")
        .await
        .json();
    assert_eq!(filtered["matched"], 0);
    o.node.shutdown(std::time::Duration::from_secs(5)).await;
}

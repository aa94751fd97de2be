use std::sync::{Arc, Mutex};
use std::time::Duration;

use rusm_core::{
    ChildSpec, Ctx, ExitReason, Node, Pid, Restart, SpawnOptions, Strategy, SupervisorSpec,
};

use crate::{eventually, node, park, reason};

/// A child that registers `name`, logs its start, and crashes when sent
/// tag 1.
fn worker(name: &'static str, log: Arc<Mutex<Vec<String>>>) -> ChildSpec {
    ChildSpec::new(name, Restart::Permanent, move |ctx: &Ctx, options| {
        let log = log.clone();
        // Logged by the supervisor as it starts the child: the children's
        // bodies run concurrently, their own order says nothing.
        log.lock().unwrap().push(format!("start {name}"));
        ctx.spawn(options.name(name), move |ctx| async move {
            ctx.register(name).unwrap();
            ctx.trap_exit(true);
            loop {
                let m = ctx.receive_any().await;
                if m.tag == 1 {
                    return Err(format!("{name} crashed"));
                }
                if m.tag == -1 {
                    log.lock().unwrap().push(format!("stop {name}"));
                    return Ok(());
                }
            }
        })
    })
}

async fn pid_of(node: &Node, name: &str, not: Option<Pid>) -> Pid {
    let mut found = None;
    eventually(|| {
        found = node.whereis(name).filter(|p| Some(*p) != not);
        found.is_some()
    })
    .await;
    found.unwrap()
}

fn three(strategy: Strategy, log: &Arc<Mutex<Vec<String>>>) -> SupervisorSpec {
    SupervisorSpec::new(strategy, 10, Duration::from_secs(10))
        .child(worker("a", log.clone()))
        .child(worker("b", log.clone()))
        .child(worker("c", log.clone()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_for_one_restarts_only_the_dead_child() {
    let node = node();
    let log = Arc::new(Mutex::new(Vec::new()));
    let sup = three(Strategy::OneForOne, &log)
        .spawn(&node, SpawnOptions::new())
        .unwrap();
    let b = pid_of(&node, "b", None).await;
    let a = pid_of(&node, "a", None).await;
    let c = pid_of(&node, "c", None).await;
    node.send(Pid::NODE, b, 1, vec![]).unwrap();
    let b2 = pid_of(&node, "b", Some(b)).await;
    assert!(b2 > b);
    assert_eq!(node.whereis("a"), Some(a));
    assert_eq!(node.whereis("c"), Some(c));
    assert_eq!(
        *log.lock().unwrap(),
        vec!["start a", "start b", "start c", "start b"]
    );
    node.stop(Pid::NODE, sup, ExitReason::Shutdown).unwrap();
    assert_eq!(reason(&node, sup).await, ExitReason::Shutdown);
    let log = log.lock().unwrap().clone();
    assert_eq!(&log[4..], ["stop c", "stop b", "stop a"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_for_all_restarts_everyone_in_order() {
    let node = node();
    let log = Arc::new(Mutex::new(Vec::new()));
    let _sup = three(Strategy::OneForAll, &log)
        .spawn(&node, SpawnOptions::new())
        .unwrap();
    let b = pid_of(&node, "b", None).await;
    let c = pid_of(&node, "c", None).await;
    node.send(Pid::NODE, b, 1, vec![]).unwrap();
    pid_of(&node, "c", Some(c)).await;
    eventually(|| log.lock().unwrap().len() == 8).await;
    assert_eq!(
        *log.lock().unwrap(),
        vec![
            "start a", "start b", "start c", "stop c", "stop a", "start a", "start b", "start c"
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rest_for_one_restarts_the_dead_and_later_children() {
    let node = node();
    let log = Arc::new(Mutex::new(Vec::new()));
    let _sup = three(Strategy::RestForOne, &log)
        .spawn(&node, SpawnOptions::new())
        .unwrap();
    let a = pid_of(&node, "a", None).await;
    let b = pid_of(&node, "b", None).await;
    let c = pid_of(&node, "c", None).await;
    node.send(Pid::NODE, b, 1, vec![]).unwrap();
    pid_of(&node, "c", Some(c)).await;
    eventually(|| log.lock().unwrap().len() == 6).await;
    assert_eq!(
        *log.lock().unwrap(),
        vec![
            "start a", "start b", "start c", "stop c", "start b", "start c"
        ]
    );
    assert_eq!(node.whereis("a"), Some(a));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_intensity_exceeded_stops_the_supervisor() {
    let node = node();
    let spec = SupervisorSpec::new(Strategy::OneForOne, 3, Duration::from_secs(10)).child(
        ChildSpec::new("crasher", Restart::Permanent, |ctx: &Ctx, options| {
            ctx.spawn(options, |_| async { Err::<(), _>("always") })
        }),
    );
    let sup = spec.spawn(&node, SpawnOptions::new()).unwrap();
    let r = reason(&node, sup).await;
    assert_eq!(
        r.to_string(),
        "crashed: restart intensity exceeded: more than 3 restarts in 10 s"
    );
    eventually(|| node.live() == 0).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transient_and_temporary_children() {
    let node = node();
    let starts = Arc::new(Mutex::new(0));
    let s2 = starts.clone();
    let spec = SupervisorSpec::new(Strategy::OneForOne, 5, Duration::from_secs(10))
        .child(ChildSpec::new(
            "ok",
            Restart::Transient,
            move |ctx: &Ctx, options| {
                *s2.lock().unwrap() += 1;
                ctx.spawn(options, |_| async {})
            },
        ))
        .child(ChildSpec::new(
            "tmp",
            Restart::Temporary,
            |ctx: &Ctx, options| ctx.spawn(options, |_| async { Err::<(), _>("no matter") }),
        ));
    let sup = spec.spawn(&node, SpawnOptions::new()).unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(
        *starts.lock().unwrap(),
        1,
        "a transient child that ends normally is not restarted"
    );
    assert!(node.is_alive(sup));
    assert_eq!(node.live(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_supervisor_takes_its_children() {
    let node = node();
    let log = Arc::new(Mutex::new(Vec::new()));
    let sup = three(Strategy::OneForOne, &log)
        .spawn(&node, SpawnOptions::new())
        .unwrap();
    let a = pid_of(&node, "a", None).await;
    node.kill(sup).unwrap();
    assert_eq!(reason(&node, sup).await, ExitReason::Killed);
    // The children trap exits, so they get an exit message and stop.
    assert_eq!(reason(&node, a).await, ExitReason::Normal);
    eventually(|| node.live() == 0).await;
    let _ = park;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auto_shutdown_ends_the_supervisor_when_children_are_done() {
    let node = node();
    let mut spec = SupervisorSpec::new(Strategy::OneForOne, 5, Duration::from_secs(10))
        .child(ChildSpec::new(
            "a",
            Restart::Transient,
            |ctx: &Ctx, options| ctx.spawn(options, |_| async {}),
        ))
        .child(ChildSpec::new(
            "b",
            Restart::Transient,
            |ctx: &Ctx, options| {
                ctx.spawn(options, |_| async {
                    tokio::time::sleep(Duration::from_millis(30)).await
                })
            },
        ));
    spec.auto_shutdown = true;
    let sup = spec.spawn(&node, SpawnOptions::new()).unwrap();
    assert_eq!(reason(&node, sup).await, ExitReason::Normal);
}

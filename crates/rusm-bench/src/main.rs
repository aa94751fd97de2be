//! `rusm-bench`: RUSM's benchmarks, each printed beside baselines measured
//! in the same run, with the ratio, and one JSON line per scenario.
//!
//! Not part of the test suite. Run `rusm-bench <scenario>` (or `all`);
//! `--quick` shrinks every scenario to a smoke run.

mod core;
mod kv;
mod report;
mod wasm;

use std::time::Duration;

use clap::{Parser, ValueEnum};
use report::Report;

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Scenario {
    SpawnStorm,
    PingPong,
    FaultRecovery,
    IdleMemory,
    ModuleStorm,
    ComponentStorm,
    WasmPingPong,
    WasmIdleMemory,
    Fairness,
    KvStorm,
    KvReads,
    All,
}

#[derive(Parser)]
#[command(name = "rusm-bench", about = "RUSM benchmarks beside their baselines")]
struct Args {
    scenario: Scenario,
    /// Small sizes, for a quick smoke run.
    #[arg(long)]
    quick: bool,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let all = [
            Scenario::SpawnStorm,
            Scenario::PingPong,
            Scenario::FaultRecovery,
            Scenario::IdleMemory,
            Scenario::ModuleStorm,
            Scenario::ComponentStorm,
            Scenario::WasmPingPong,
            Scenario::WasmIdleMemory,
            Scenario::Fairness,
            Scenario::KvStorm,
            Scenario::KvReads,
        ];
        let list: Vec<Scenario> = if args.scenario == Scenario::All {
            all.to_vec()
        } else {
            vec![args.scenario]
        };
        for s in list {
            run(s, args.quick).await?;
        }
        Ok(())
    })
}

async fn run(scenario: Scenario, quick: bool) -> anyhow::Result<()> {
    let q = |full: u64, small: u64| if quick { small } else { full };
    match scenario {
        Scenario::SpawnStorm => {
            let n = q(1_000_000, 50_000);
            let (mut ours, mut tokio, mut beam) = (0f64, 0f64, Err(String::new()));
            // Interleaved, best of three: a noisy neighbour then hurts every
            // side alike instead of whichever happened to run last.
            for _ in 0..rounds(quick) {
                ours = ours.max(core::rusm_spawn_storm(n, 10_000).await);
                tokio = tokio.max(core::tokio_spawn_storm(n, 10_000).await);
                beam = best(beam, core::beam("spawn-storm", n));
            }
            let r = Report::new("spawn-storm", "processes/s", ours, true)
                .baseline("tokio::spawn+join", tokio);
            with_beam(r, beam)
                .note(format!(
                    "{n} processes with trivial bodies, at most 10,000 alive at once; best of {} interleaved runs",
                    rounds(quick)
                ))
                .print();
        }
        Scenario::PingPong => {
            let n = q(500_000, 20_000);
            let (mut ours, mut lat, mut tokio, mut beam) =
                (0f64, Vec::new(), 0f64, Err(String::new()));
            for _ in 0..rounds(quick) {
                let (rate, l) = core::rusm_ping_pong(n).await;
                if rate > ours {
                    (ours, lat) = (rate, l);
                }
                tokio = tokio.max(core::tokio_ping_pong(n).await);
                beam = best(beam, core::beam("ping-pong", n));
            }
            let r = Report::new("ping-pong", "round trips/s", ours, true)
                .baseline("tokio mpsc pair", tokio);
            with_beam(r, beam)
                .extra("p50_us", wasm::quantile_us(&lat, 0.50))
                .extra("p99_us", wasm::quantile_us(&lat, 0.99))
                .note(format!(
                    "{n} round trips: send + selective receive on the round's tag; best of {} interleaved runs",
                    rounds(quick)
                ))
                .print();
        }
        Scenario::FaultRecovery => {
            let d = Duration::from_secs(q(5, 1));
            let ours = core::fault_recovery(d).await;
            let base = core::unsupervised_crash_loop(d).await;
            Report::new("fault-recovery", "restarts/s", ours, true)
                .baseline("unsupervised spawn+crash+down loop", base)
                .note("a child that crashes at once under a one-for-one supervisor (unbounded intensity)")
                .print();
        }
        Scenario::IdleMemory => {
            let n = q(1_000_000, 100_000);
            let (per, alive) = core::idle_memory(n).await;
            let mut r = Report::new("idle-memory", "bytes/process", per, false)
                .extra("processes_alive", alive as f64);
            match core::beam("idle-memory", n) {
                Ok(b) => r = r.baseline("BEAM", b),
                Err(why) => r = r.note(why),
            }
            r.note(format!(
                "RSS delta with {n} processes parked in receive, all alive at once"
            ))
            .print();
        }
        Scenario::ModuleStorm | Scenario::ComponentStorm => {
            let n = q(200_000, 10_000);
            let r = wasm::runtime(2_000)?;
            let component = scenario == Scenario::ComponentStorm;
            let (name, wat) = if component {
                ("component-storm", wasm::TRIVIAL_COMPONENT)
            } else {
                ("module-storm", wasm::TRIVIAL_MODULE)
            };
            let artifact = r.rt.load_bytes(name, wat.as_bytes())?;
            // Warm both sides once (pool slots, lazily built InstancePre).
            wasm::rusm_storm(&r, &artifact, 2_000, 1_000).await?;
            let raw = if component {
                wasm::raw_component_storm(&r.config, wat, 2_000, 1_000).await?;
                wasm::raw_component_storm(&r.config, wat, n, 1_000).await?
            } else {
                wasm::raw_module_storm(&r.config, wat, 2_000, 1_000).await?;
                wasm::raw_module_storm(&r.config, wat, n, 1_000).await?
            };
            let ours = wasm::rusm_storm(&r, &artifact, n, 1_000).await?;
            Report::new(name, "processes/s", ours, true)
                .baseline("raw wasmtime (InstancePre, same engine settings)", raw)
                .note(format!("{n} spawns, at most 1,000 alive; each RUSM process also gets a WASI context, a mailbox and a pid"))
                .print();
        }
        Scenario::WasmPingPong => {
            let n = q(200_000, 10_000);
            let r = wasm::runtime(100)?;
            let (ours, lat) = wasm::wasm_ping_pong(&r, n).await?;
            let native = wasm::native_ping_pong(&r.node, n).await?;
            Report::new("wasm-ping-pong", "round trips/s", ours, true)
                .baseline("native ping-pong", native)
                .extra("p50_us", wasm::quantile_us(&lat, 0.50))
                .extra("p99_us", wasm::quantile_us(&lat, 0.99))
                .note(format!(
                    "{n} round trips between two Wasm processes through the ABI"
                ))
                .print();
        }
        Scenario::WasmIdleMemory => {
            let n = q(100_000, 10_000);
            let maps = wasm::raise_map_count(4 * n + 100_000);
            let r = wasm::runtime(n as u32 + 10)?;
            let (ours, native) = wasm::idle_memory(&r, n).await?;
            Report::new("wasm-idle-memory", "bytes/process", ours, false)
                .baseline("native process parked the same way", native)
                .note(format!(
                    "RSS delta with {n} Wasm processes parked in recv; {maps}"
                ))
                .print();
        }
        Scenario::Fairness => {
            let n = q(20_000, 2_000);
            let r = wasm::runtime(100)?;
            let (_, idle) = wasm::wasm_ping_pong(&r, n).await?;
            let spin = wasm::spinners(&r, 4)?;
            tokio::time::sleep(Duration::from_millis(100)).await;
            let (_, loaded) = wasm::wasm_ping_pong(&r, n).await?;
            for p in spin {
                let _ = r.node.kill(p);
            }
            Report::new(
                "fairness",
                "p99 round trip us",
                wasm::quantile_us(&loaded, 0.99),
                false,
            )
            .baseline("p99 on an idle node", wasm::quantile_us(&idle, 0.99))
            .extra("p50_us_loaded", wasm::quantile_us(&loaded, 0.50))
            .extra("max_us_loaded", wasm::quantile_us(&loaded, 1.0))
            .note(format!(
                "{n} Wasm round trips while 4 guests spin in infinite loops on {}",
                report::machine()
            ))
            .print();
        }
        Scenario::KvStorm => {
            let d = Duration::from_secs(q(3, 1));
            for order in [kv::KeyOrder::Sequential, kv::KeyOrder::PerWriter] {
                let rows = kv::kv_storm_with(&[1, 16, 256], d, order).await?;
                let base = rows.first().map_or(0.0, |r| r.writes_per_sec);
                for row in rows.iter().skip(1) {
                    Report::new("kv-storm", "durable writes/s", row.writes_per_sec, true)
                        .baseline(
                            &format!("{} ({:?} keys)", rows[0].label(), rows[0].keys),
                            base,
                        )
                        .extra("writers", row.writers as f64)
                        .extra("writes_per_commit", row.writes_per_commit())
                        .note(format!(
                            "{}, {:?} keys, {} writes in {:?}",
                            row.label(),
                            row.keys,
                            row.writes,
                            row.elapsed
                        ))
                        .print();
                }
            }
        }
        Scenario::KvReads => {
            let d = Duration::from_secs(q(2, 1));
            for row in kv::kv_reads(&[1, 16], d).await? {
                Report::new("kv-reads", "reads/s", row.direct_reads_per_sec, true)
                    .baseline(
                        "the same reads through spawn_blocking",
                        row.spawn_blocking_reads_per_sec,
                    )
                    .extra("tasks", row.tasks as f64)
                    .note("why rusm-kv reads on the caller's thread")
                    .print();
            }
        }
        Scenario::All => unreachable!("expanded by main"),
    }
    Ok(())
}

/// Add the BEAM's figure, or a note saying why it is missing.
fn with_beam(r: Report, beam: Result<f64, String>) -> Report {
    match beam {
        Ok(b) => r.baseline("BEAM", b),
        Err(why) => r.note(why),
    }
}

fn best(a: Result<f64, String>, b: Result<f64, String>) -> Result<f64, String> {
    match (a, b) {
        (Ok(x), Ok(y)) => Ok(x.max(y)),
        (Ok(x), Err(_)) | (Err(_), Ok(x)) => Ok(x),
        (Err(_), Err(e)) => Err(e),
    }
}

fn rounds(quick: bool) -> usize {
    if quick { 1 } else { 3 }
}

//! The start-up baseline for `rusm run`: raw Wasmtime running a module's
//! `run` export, with a precompiled-artifact cache of its own (warm after
//! the first run), and nothing else: no node, no WASI, no pool.
//!
//! `cargo run --release -p rusm-wasm --example raw_run -- guest.wat`

fn main() -> wasmtime::Result<()> {
    let path = std::env::args()
        .nth(1)
        .expect("usage: raw_run FILE.wat|FILE.wasm");
    let engine = wasmtime::Engine::default();
    let cached = std::path::PathBuf::from(format!("{path}.raw.cwasm"));
    let module = match std::fs::read(&cached) {
        // SAFETY: written by this program with `serialize` for this engine.
        Ok(bytes) => unsafe { wasmtime::Module::deserialize(&engine, bytes)? },
        Err(_) => {
            let m = wasmtime::Module::from_file(&engine, &path)?;
            std::fs::write(&cached, m.serialize()?).ok();
            m
        }
    };
    let mut store = wasmtime::Store::new(&engine, ());
    let instance = wasmtime::Instance::new(&mut store, &module, &[])?;
    instance
        .get_typed_func::<(), ()>(&mut store, "run")?
        .call(&mut store, ())?;
    Ok(())
}

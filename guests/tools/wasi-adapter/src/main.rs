//! `wasi-adapter reactor|command OUT.wasm`: writes the WASI preview 1
//! component adapter of the runtime's wasmtime release to `OUT.wasm`.
//!
//! RUSM guests are libraries that export `run` (no `_start`), so they take
//! the reactor adapter; the command adapter is for programs with a `main`
//! and would make the component a `wasi:cli/run` command instead of an
//! `actor`.

use std::process::ExitCode;

use wasi_preview1_component_adapter_provider::{
    WASI_SNAPSHOT_PREVIEW1_COMMAND_ADAPTER, WASI_SNAPSHOT_PREVIEW1_REACTOR_ADAPTER,
};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (kind, out) = match args.as_slice() {
        [kind, out] => (kind.as_str(), out.as_str()),
        _ => {
            eprintln!("usage: wasi-adapter reactor|command OUT.wasm");
            return ExitCode::from(2);
        }
    };
    let adapter = match kind {
        "reactor" => WASI_SNAPSHOT_PREVIEW1_REACTOR_ADAPTER,
        "command" => WASI_SNAPSHOT_PREVIEW1_COMMAND_ADAPTER,
        other => {
            eprintln!("wasi-adapter: unknown adapter `{other}` (reactor or command)");
            return ExitCode::from(2);
        }
    };
    if let Err(error) = std::fs::write(out, adapter) {
        eprintln!("wasi-adapter: writing {out}: {error}");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}

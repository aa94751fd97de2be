//! rusm-wasm

//! The smallest useful guest: print a line with its own pid, then end
//! normally; `-- panic` shows a panic becoming the exit reason.
//! `rusm run ../../wasm/hello.wasm --capability trusted [-- panic]`.

fn hello() {
    if std::env::args().nth(1).as_deref() == Some("panic") {
        panic!("asked to panic");
    }
    println!("hello from #{}", rusm_guest::own_pid());
}

rusm_guest::main!(hello);

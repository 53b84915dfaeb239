//! `kubectl-ws`: the `kubectl ws` plugin (kcp-compatible workspace
//! navigation). Put it on PATH and run `kubectl ws ...`; the code lives in
//! `cmd/src/ws/`.

#[path = "../ws/mod.rs"]
mod ws;

fn main() -> std::process::ExitCode {
    ws::main()
}

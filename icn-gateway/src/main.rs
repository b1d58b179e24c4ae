//! The `icn` command: see `icn --help`.

fn main() -> std::process::ExitCode {
    icn_gateway::cli::main()
}

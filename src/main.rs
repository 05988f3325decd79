//! The `reaper` binary: parse arguments, run the command, map the outcome to an exit code.

mod cli;

fn main() -> std::process::ExitCode {
    cli::main()
}

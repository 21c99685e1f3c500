//! The `keyward` binary: `keyward serve`, `keyward migrate`. See `keyward --help`.

fn main() -> std::process::ExitCode {
    keyward_server::cli::main()
}

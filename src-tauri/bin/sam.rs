//! The `sam` command-line tool.

fn main() -> std::process::ExitCode {
    sam_desktop::cli::main()
}

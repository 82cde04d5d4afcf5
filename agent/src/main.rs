//! The `sam-agent` binary.

fn main() {
    // The agent proper arrives with its own issue; until then it only identifies itself.
    #[allow(clippy::print_stdout)]
    {
        println!("sam-agent {}", env!("CARGO_PKG_VERSION"));
    }
}

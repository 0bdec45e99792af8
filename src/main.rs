//! The `kiln` binary: a thin wrapper over the library's command line.

use clap::Parser;

fn main() {
    let cli = kiln::cli::Cli::parse();
    std::process::exit(kiln::cli::run(cli));
}

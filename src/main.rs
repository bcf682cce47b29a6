//! The `rdtriage` binary: parse the command line, run, map the outcome to an exit code.

use std::process::ExitCode;

fn main() -> ExitCode {
    let config = match rdtriage::cli::parse(std::env::args_os()) {
        Ok(config) => config,
        Err(e) => {
            // clap prints help/version to stdout (exit 0) and usage errors to stderr (exit 2).
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
        }
    };
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let mut err = std::io::stderr();
    let exit = rdtriage::app::run(&config, &mut out, &mut err);
    ExitCode::from(exit.code() as u8)
}

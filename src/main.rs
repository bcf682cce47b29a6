//! The `rdtriage` binary: parse the command line, run, map the outcome to an exit code.

use std::io::IsTerminal;
use std::process::ExitCode;

fn main() -> ExitCode {
    let mut config = match rdtriage::cli::parse(std::env::args_os()) {
        Ok(config) => config,
        Err(e) => {
            // clap prints help/version to stdout (exit 0) and usage errors to stderr (exit 2).
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
        }
    };
    let stdout = std::io::stdout();
    if stdout.is_terminal() {
        config.color = std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
        config.terminal_width = std::env::var("COLUMNS")
            .ok()
            .and_then(|c| c.trim().parse().ok());
    }
    let mut out = std::io::BufWriter::new(stdout.lock());
    let mut err = std::io::stderr();
    config.progress = err.is_terminal();
    let exit = rdtriage::app::run(&config, &mut out, &mut err);
    ExitCode::from(exit.code() as u8)
}

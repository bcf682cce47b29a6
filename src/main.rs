//! The `rdtriage` binary: parse the command line, decide what the terminal allows, run, and
//! map the outcome to an exit code.

use std::io::{IsTerminal, Write};
use std::process::ExitCode;

use rdtriage::cli::ColorChoice;
use rdtriage::exit::Exit;
use rdtriage::output::AtomicFile;

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
    let on_terminal = stdout.is_terminal() && config.output.is_none();
    let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    config.color = match config.color_choice {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => on_terminal && !no_color,
    };
    if on_terminal {
        config.terminal_width = terminal_size::terminal_size_of(&stdout)
            .map(|(w, _)| w.0)
            .filter(|w| *w > 0)
            .or_else(|| {
                std::env::var("COLUMNS")
                    .ok()
                    .and_then(|c| c.trim().parse().ok())
            });
    }
    // Diagnostics are best effort: an unwritable stderr must not stop the report.
    let mut err = LossyStderr;
    config.progress = !config.quiet && std::io::stderr().is_terminal();
    let exit = match &config.output {
        Some(path) => {
            let mut file = match AtomicFile::create(path) {
                Ok(file) => file,
                Err(e) => {
                    // Still run: the exit code keeps what the analysis found (a failed gate
                    // is 1 whatever happened to the output).
                    let exit = rdtriage::app::run(&config, &mut std::io::sink(), &mut err);
                    let _ = writeln!(err, "rdtriage: {}: cannot write: {e}", path.display());
                    return ExitCode::from(exit.worst(Exit::OutputFailed).code() as u8);
                }
            };
            let exit = rdtriage::app::run(&config, &mut file, &mut err);
            if exit == Exit::Usage || exit == Exit::OutputFailed {
                // Nothing (or not all) was written: leave any earlier file as it was.
                exit
            } else {
                match file.commit() {
                    Ok(()) => exit,
                    Err(e) => {
                        let _ = writeln!(err, "rdtriage: {}: cannot write: {e}", path.display());
                        exit.worst(Exit::OutputFailed)
                    }
                }
            }
        }
        None if config.quiet => rdtriage::app::run(&config, &mut std::io::sink(), &mut err),
        None => match stdout_file() {
            Ok(file) => {
                let mut out = std::io::BufWriter::with_capacity(64 * 1024, file);
                rdtriage::app::run(&config, &mut out, &mut err)
            }
            Err(e) => {
                // stdout is closed: still run, so the exit code keeps what was found.
                let exit = rdtriage::app::run(&config, &mut std::io::sink(), &mut err);
                let _ = writeln!(err, "rdtriage: <stdout>: cannot write: {e}");
                exit.worst(Exit::OutputFailed)
            }
        },
    };
    ExitCode::from(exit.code() as u8)
}

/// stderr whose failures are ignored: with stderr closed or full, the report still goes to
/// stdout or `--output`, and the exit code still tells the outcome.
struct LossyStderr;

impl Write for LossyStderr {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let _ = std::io::stderr().write_all(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        let _ = std::io::stderr().flush();
        Ok(())
    }
}

/// stdout as a plain file. Rust's `Stdout` treats a closed stdout (EBADF) as a sink that
/// accepts everything; a report that went nowhere must be exit 5, so write to a duplicate of
/// the descriptor, whose errors are real.
#[cfg(unix)]
fn stdout_file() -> std::io::Result<std::fs::File> {
    use std::os::fd::AsFd;
    Ok(std::fs::File::from(
        std::io::stdout().as_fd().try_clone_to_owned()?,
    ))
}

#[cfg(not(unix))]
fn stdout_file() -> std::io::Result<std::io::Stdout> {
    Ok(std::io::stdout())
}

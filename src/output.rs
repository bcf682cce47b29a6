//! Files written whole or not at all: `--output FILE` and report files go to a temporary file
//! in the same folder, renamed over the target only once everything was written. A reader
//! never sees half a report, and a failed run leaves the previous file as it was.

use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

pub struct AtomicFile {
    target: PathBuf,
    file: Sink,
}

/// Where the bytes go: a temporary file to rename, or, when the target is a device, a FIFO or
/// a socket (`-o /dev/null`, `-o /dev/stderr`, a named pipe), the target itself. Renaming over
/// such a target would replace it with a regular file: run as root, `-o /dev/null` would
/// destroy the device for every other program.
enum Sink {
    Temp(BufWriter<tempfile::NamedTempFile>),
    Special(BufWriter<std::fs::File>),
}

impl AtomicFile {
    /// A temporary file beside `target` (so the rename stays on one file system).
    pub fn create(target: &Path) -> io::Result<AtomicFile> {
        let dir = match target.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        if target.is_dir() {
            return Err(io::Error::other("is a folder"));
        }
        // Not a symlink (replaced, never written through) and not a regular file: written
        // to in place, as a shell's `>` would.
        if let Ok(meta) = std::fs::symlink_metadata(target)
            && !meta.file_type().is_file()
            && !meta.file_type().is_symlink()
        {
            let file = std::fs::OpenOptions::new().write(true).open(target)?;
            return Ok(AtomicFile {
                target: target.to_path_buf(),
                file: Sink::Special(BufWriter::new(file)),
            });
        }
        let mut builder = tempfile::Builder::new();
        builder.prefix(".rdtriage-").suffix(".tmp");
        // A report is for reading: the mode a plain `>` redirection would give, not the
        // temporary file's private 0600.
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            builder.permissions(std::fs::Permissions::from_mode(0o644));
        }
        let file = builder.tempfile_in(dir)?;
        Ok(AtomicFile {
            target: target.to_path_buf(),
            file: Sink::Temp(BufWriter::new(file)),
        })
    }

    /// Write `target` whole through `write`: a temporary file, synced, then renamed over it
    /// (a symlink at `target` is replaced, never written through).
    pub fn write_whole(
        target: &Path,
        write: &mut dyn FnMut(&mut dyn Write) -> io::Result<()>,
    ) -> io::Result<()> {
        let mut f = AtomicFile::create(target)?;
        write(&mut f)?;
        f.commit()
    }

    /// Flush, sync and rename over the target. Dropping an `AtomicFile` without committing
    /// removes the temporary file.
    pub fn commit(self) -> io::Result<()> {
        match self.file {
            Sink::Temp(file) => {
                let file = file.into_inner().map_err(|e| e.into_error())?;
                file.as_file().sync_all()?;
                file.persist(&self.target).map_err(|e| e.error)?;
            }
            Sink::Special(mut file) => file.flush()?,
        }
        Ok(())
    }
}

impl Write for AtomicFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match &mut self.file {
            Sink::Temp(f) => f.write(buf),
            Sink::Special(f) => f.write(buf),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match &mut self.file {
            Sink::Temp(f) => f.flush(),
            Sink::Special(f) => f.flush(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_appears_until_commit_and_a_dropped_file_leaves_no_trace() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("report.html");
        std::fs::write(&target, "old").unwrap();
        let mut f = AtomicFile::create(&target).unwrap();
        f.write_all(b"new").unwrap();
        f.flush().unwrap();
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "old");
        f.commit().unwrap();
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "new");
        let mut g = AtomicFile::create(&target).unwrap();
        g.write_all(b"half").unwrap();
        drop(g);
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "new");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    /// A named pipe (as a device would be) is written to, not renamed over: afterwards it is
    /// still a pipe, and its reader got the report. (`-o /dev/null` run as root once replaced
    /// the device with a regular file.)
    #[cfg(unix)]
    #[test]
    fn a_pipe_or_device_target_is_written_in_place_not_replaced() {
        use std::os::unix::fs::FileTypeExt;
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("pipe");
        let made = std::process::Command::new("mkfifo").arg(&fifo).status();
        if !made.is_ok_and(|s| s.success()) {
            eprintln!("SKIPPED: no mkfifo here");
            return;
        }
        let reader = {
            let fifo = fifo.clone();
            std::thread::spawn(move || std::fs::read(fifo).unwrap())
        };
        AtomicFile::write_whole(&fifo, &mut |w| w.write_all(b"report")).unwrap();
        // Checked before waiting for the reader: renamed over, the pipe never sees a writer.
        let kind = std::fs::symlink_metadata(&fifo).unwrap().file_type();
        assert!(kind.is_fifo(), "{kind:?}");
        assert_eq!(reader.join().unwrap(), b"report");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}

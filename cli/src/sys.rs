//! Small operating-system helpers shared by the operations and the local stack (neither
//! owns them: `ops/` must not reach into `devstack/`).

use nix::sys::signal::kill;
use nix::unistd::Pid;
use std::path::Path;

/// Writes a file only its owner can read (mode 0600), atomically: a temp file in the same
/// directory (created 0600, so the data is never readable by others), fsync, rename over
/// `path`, then fsync the directory so the rename itself survives a crash.
pub fn write_private(path: &Path, data: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::PermissionsExt;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let mut tmp = tempfile::Builder::new()
        .prefix(".tmp-")
        .permissions(std::fs::Permissions::from_mode(0o600))
        .tempfile_in(dir)?;
    tmp.write_all(data)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    // Best effort: makes the rename durable.
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// True when the process exists and is not a zombie. Reaps it if it is our own child.
pub fn alive(pid: u32) -> bool {
    let p = Pid::from_raw(pid as i32);
    let _ = nix::sys::wait::waitpid(p, Some(nix::sys::wait::WaitPidFlag::WNOHANG));
    if kill(p, None).is_err() {
        return false;
    }
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // Field 3, after the parenthesised command name, is the state.
        Ok(stat) => stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .is_some_and(|s| s != "Z" && s != "X"),
        Err(_) => false,
    }
}

//! `pmctl deploy build`: the Lambda artifact of the API — the `lambda` binary of pm-api as
//! `bootstrap` for the `provided.al2023` runtime, in a reproducible zip ([`super::zip`]).

use crate::config::Arch;
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::process::Command;

#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("architecture {arch} needs the Rust target {triple}, which is not installed here (installed: {installed}); install it (`rustup target add {triple}`, plus a linker for it) or set `[environments.<env>.deploy] architecture = \"{host}\"`")]
    NoTarget {
        arch: Arch,
        triple: &'static str,
        installed: String,
        host: Arch,
    },
    #[error(
        "{path} is built for {found}, but the environment deploys {want}: refusing to package it"
    )]
    WrongArchitecture {
        path: PathBuf,
        found: String,
        want: Arch,
    },
    #[error("{path} is not a 64-bit ELF executable")]
    NotElf { path: PathBuf },
    #[error("`{cmd}` failed ({status}); its output is above")]
    Cargo { cmd: String, status: String },
    #[error("`{path} --version` did not print a version: {why}")]
    NoVersion { path: PathBuf, why: String },
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> BuildError {
    let what = what.into();
    move |source| BuildError::Io { what, source }
}

#[derive(Debug, Clone)]
pub struct BuildOptions {
    /// The workspace to build (holds `Cargo.toml` with the `pm-api` member).
    pub workspace: PathBuf,
    pub arch: Arch,
    /// Cargo profile (`release`).
    pub profile: String,
    /// Where the zip goes (`target/lambda`).
    pub out_dir: PathBuf,
    /// Package this already-built `lambda` binary instead of running cargo.
    pub binary: Option<PathBuf>,
}

/// What `deploy build` made.
#[derive(Debug, Clone, Serialize)]
pub struct Artifact {
    pub zip: PathBuf,
    pub sha256: String,
    pub bytes: u64,
    /// What the binary reports (`bootstrap --version` = `/ready`'s `version`).
    pub version: String,
    pub arch: Arch,
    pub runtime: &'static str,
    pub binary: PathBuf,
}

/// The architecture of this machine.
pub fn host_arch() -> Arch {
    if std::env::consts::ARCH == "aarch64" {
        Arch::Arm64
    } else {
        Arch::X86_64
    }
}

fn installed_targets() -> Vec<String> {
    Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .map(|l| l.trim().to_string())
                .filter(|l| !l.is_empty())
                .collect()
        })
        .unwrap_or_default()
}

/// The architecture an ELF file is built for (`x86_64`, `arm64`, or its machine number).
pub fn elf_arch(path: &Path) -> Result<String, BuildError> {
    use std::io::Read;
    let mut head = [0u8; 20];
    std::fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut head))
        .map_err(io(format!("reading {}", path.display())))?;
    if &head[..4] != b"\x7fELF" || head[4] != 2 {
        return Err(BuildError::NotElf {
            path: path.to_path_buf(),
        });
    }
    Ok(match u16::from_le_bytes([head[18], head[19]]) {
        0x3e => "x86_64".into(),
        0xb7 => "arm64".into(),
        m => format!("ELF machine {m:#x}"),
    })
}

/// Runs `cargo build -p pm-api --bin lambda` and returns the binary.
fn cargo_build(o: &BuildOptions, shell: &crate::shell::Shell) -> Result<PathBuf, BuildError> {
    let host = host_arch();
    let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cmd.current_dir(&o.workspace).args([
        "build",
        "--locked",
        "-p",
        "pm-api",
        "--bin",
        "lambda",
        "--profile",
        &o.profile,
    ]);
    let mut dir = o.workspace.join("target");
    if let Ok(t) = std::env::var("CARGO_TARGET_DIR") {
        dir = o.workspace.join(t);
    }
    if o.arch != host {
        let triple = o.arch.triple();
        let installed = installed_targets();
        if !installed.iter().any(|t| t == triple) {
            return Err(BuildError::NoTarget {
                arch: o.arch,
                triple,
                installed: if installed.is_empty() {
                    "none".into()
                } else {
                    installed.join(", ")
                },
                host,
            });
        }
        cmd.args(["--target", triple]);
        dir = dir.join(triple);
    }
    let shown = format!(
        "cargo build --locked -p pm-api --bin lambda --profile {}{}",
        o.profile,
        if o.arch != host {
            format!(" --target {}", o.arch.triple())
        } else {
            String::new()
        }
    );
    shell.status("Building", &shown);
    let status = cmd.status().map_err(io("running cargo"))?;
    if !status.success() {
        return Err(BuildError::Cargo {
            cmd: shown,
            status: status.to_string(),
        });
    }
    let profile_dir = if o.profile == "dev" {
        "debug"
    } else {
        &o.profile
    };
    Ok(dir.join(profile_dir).join("lambda"))
}

/// The version a built binary reports: the last word of its `--version` line.
pub fn binary_version(path: &Path) -> Result<String, BuildError> {
    let err = |why: String| BuildError::NoVersion {
        path: path.to_path_buf(),
        why,
    };
    let out = Command::new(path)
        .arg("--version")
        .env_remove(pm_api::VERSION_ENV)
        .output()
        .map_err(|e| err(e.to_string()))?;
    if !out.status.success() {
        return Err(err(format!("exit {}", out.status)));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let v = text
        .lines()
        .next()
        .and_then(|l| l.split_whitespace().last())
        .unwrap_or("")
        .to_string();
    if pm_api::valid_version_label(&v) {
        Ok(v)
    } else {
        Err(err(format!("printed {:?}", text.trim())))
    }
}

/// What a zip from [`build`] says it packages: (version, architecture).
pub fn zip_label(zip: &[u8]) -> Option<(String, String)> {
    let c = super::zip::comment(zip)?;
    let mut words = c.split_whitespace();
    match (words.next(), words.next(), words.next()) {
        (Some("pm-api"), Some(v), Some(arch)) if pm_api::valid_version_label(v) => {
            Some((v.to_string(), arch.to_string()))
        }
        _ => None,
    }
}

pub fn sha256_file(path: &Path) -> Result<String, BuildError> {
    let bytes = std::fs::read(path).map_err(io(format!("reading {}", path.display())))?;
    Ok(hex::encode(Sha256::digest(&bytes)))
}

/// Builds (or takes) the binary, checks its architecture, zips it as `bootstrap`.
pub fn build(o: &BuildOptions, shell: &crate::shell::Shell) -> Result<Artifact, BuildError> {
    let binary = match &o.binary {
        Some(b) => b.clone(),
        None => cargo_build(o, shell)?,
    };
    let found = elf_arch(&binary)?;
    if found != o.arch.to_string() {
        return Err(BuildError::WrongArchitecture {
            path: binary,
            found,
            want: o.arch,
        });
    }
    let version = binary_version(&binary)?;
    let data = std::fs::read(&binary).map_err(io(format!("reading {}", binary.display())))?;
    let bytes = super::zip::write(
        &mut [super::zip::Entry {
            name: "bootstrap",
            mode: 0o755,
            data: &data,
        }],
        &format!("pm-api {version} {}", o.arch),
    )
    .map_err(io("zipping bootstrap"))?;
    std::fs::create_dir_all(&o.out_dir).map_err(io(format!("creating {}", o.out_dir.display())))?;
    let zip = o.out_dir.join(format!("pm-api-{version}-{}.zip", o.arch));
    let tmp = o
        .out_dir
        .join(format!(".pm-api-{}.zip.tmp", std::process::id()));
    std::fs::write(&tmp, &bytes)
        .and_then(|_| std::fs::rename(&tmp, &zip))
        .map_err(io(format!("writing {}", zip.display())))?;
    Ok(Artifact {
        sha256: hex::encode(Sha256::digest(&bytes)),
        bytes: bytes.len() as u64,
        zip,
        version,
        arch: o.arch,
        runtime: "provided.al2023",
        binary,
    })
}

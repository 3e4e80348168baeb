//! A reproducible zip: entries in name order, every timestamp 1980-01-01 00:00 (the zip
//! epoch), Unix permissions from the caller, deflate at level 9, no extra fields, no file
//! comments; the archive comment carries what was packaged (`pm-api 0.3.0 arm64`), so a
//! deploy can tell the version from the zip alone. The same inputs give the same bytes on
//! every machine with this pmctl.

use std::io::Write;

/// One file of the archive.
pub struct Entry<'a> {
    pub name: &'a str,
    /// Unix permission bits (e.g. 0o755); stored as a regular file.
    pub mode: u32,
    pub data: &'a [u8],
}

/// 1980-01-01 in MS-DOS date format (day 1, month 1, year 0); time 00:00:00.
const DOS_DATE: u16 = (1 << 5) | 1;
const DOS_TIME: u16 = 0;
/// Version 2.0 (deflate); "made by" Unix (3) so external attributes carry permissions.
const VERSION: u16 = 20;
const MADE_BY_UNIX: u16 = (3 << 8) | VERSION;

fn u16le(out: &mut Vec<u8>, v: u16) {
    out.extend_from_slice(&v.to_le_bytes());
}
fn u32le(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_le_bytes());
}

/// The archive's bytes, with `comment` as the archive comment. Refuses what a plain
/// (non-zip64) archive cannot hold.
pub fn write(entries: &mut [Entry<'_>], comment: &str) -> std::io::Result<Vec<u8>> {
    entries.sort_by(|a, b| a.name.cmp(b.name));
    let too_big = |what: &str| std::io::Error::other(format!("{what} is too large for a zip"));
    let mut out = Vec::new();
    let mut central = Vec::new();
    for e in entries.iter() {
        let mut z = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::best());
        z.write_all(e.data)?;
        let compressed = z.finish()?;
        let crc = crc32fast::hash(e.data);
        let size = u32::try_from(e.data.len()).map_err(|_| too_big(e.name))?;
        let csize = u32::try_from(compressed.len()).map_err(|_| too_big(e.name))?;
        let name_len = u16::try_from(e.name.len()).map_err(|_| too_big("a file name"))?;
        let offset = u32::try_from(out.len()).map_err(|_| too_big("the archive"))?;
        // Local file header.
        u32le(&mut out, 0x0403_4b50);
        u16le(&mut out, VERSION);
        u16le(&mut out, 0); // flags
        u16le(&mut out, 8); // deflate
        u16le(&mut out, DOS_TIME);
        u16le(&mut out, DOS_DATE);
        u32le(&mut out, crc);
        u32le(&mut out, csize);
        u32le(&mut out, size);
        u16le(&mut out, name_len);
        u16le(&mut out, 0); // extra
        out.extend_from_slice(e.name.as_bytes());
        out.extend_from_slice(&compressed);
        // Its central directory record.
        u32le(&mut central, 0x0201_4b50);
        u16le(&mut central, MADE_BY_UNIX);
        u16le(&mut central, VERSION);
        u16le(&mut central, 0);
        u16le(&mut central, 8);
        u16le(&mut central, DOS_TIME);
        u16le(&mut central, DOS_DATE);
        u32le(&mut central, crc);
        u32le(&mut central, csize);
        u32le(&mut central, size);
        u16le(&mut central, name_len);
        u16le(&mut central, 0); // extra
        u16le(&mut central, 0); // comment
        u16le(&mut central, 0); // disk
        u16le(&mut central, 0); // internal attributes
        u32le(&mut central, (0o100_000 | (e.mode & 0o7777)) << 16);
        u32le(&mut central, offset);
        central.extend_from_slice(e.name.as_bytes());
    }
    let cd_offset = u32::try_from(out.len()).map_err(|_| too_big("the archive"))?;
    let cd_size = u32::try_from(central.len()).map_err(|_| too_big("the archive"))?;
    let count = u16::try_from(entries.len()).map_err(|_| too_big("the file list"))?;
    out.extend_from_slice(&central);
    u32le(&mut out, 0x0605_4b50);
    u16le(&mut out, 0);
    u16le(&mut out, 0);
    u16le(&mut out, count);
    u16le(&mut out, count);
    u32le(&mut out, cd_size);
    u32le(&mut out, cd_offset);
    let comment_len = u16::try_from(comment.len()).map_err(|_| too_big("the comment"))?;
    u16le(&mut out, comment_len);
    out.extend_from_slice(comment.as_bytes());
    Ok(out)
}

/// The archive comment of a zip (its end-of-central-directory record is the last thing in
/// the file, followed only by the comment). None: not a zip, or no comment.
pub fn comment(zip: &[u8]) -> Option<String> {
    const EOCD: usize = 22;
    if zip.len() < EOCD {
        return None;
    }
    // The comment is at most 65535 bytes: search that far back for the record whose
    // comment length reaches exactly the end of the file.
    let lowest = zip.len().saturating_sub(EOCD + usize::from(u16::MAX));
    (lowest..=zip.len() - EOCD).rev().find_map(|at| {
        let rec = &zip[at..];
        if rec[..4] != 0x0605_4b50u32.to_le_bytes() {
            return None;
        }
        let len = usize::from(u16::from_le_bytes([rec[20], rec[21]]));
        (at + EOCD + len == zip.len() && len > 0)
            .then(|| String::from_utf8_lossy(&rec[EOCD..]).into_owned())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_input_same_bytes_whatever_the_order() {
        let a = write(
            &mut [
                Entry {
                    name: "b",
                    mode: 0o644,
                    data: b"two",
                },
                Entry {
                    name: "bootstrap",
                    mode: 0o755,
                    data: &[7u8; 5000],
                },
            ],
            "pm-api 1.0.0 x86_64",
        )
        .unwrap();
        let b = write(
            &mut [
                Entry {
                    name: "bootstrap",
                    mode: 0o755,
                    data: &[7u8; 5000],
                },
                Entry {
                    name: "b",
                    mode: 0o644,
                    data: b"two",
                },
            ],
            "pm-api 1.0.0 x86_64",
        )
        .unwrap();
        assert_eq!(a, b);
        assert_eq!(comment(&a).as_deref(), Some("pm-api 1.0.0 x86_64"));
        assert_eq!(&a[..4], b"PK\x03\x04");
        assert_eq!(comment(b"not a zip"), None);
        let plain = write(&mut [], "").unwrap();
        assert_eq!(comment(&plain), None);
    }

    #[test]
    fn unzip_reads_it_back_with_permissions() {
        let Ok(out) = std::process::Command::new("unzip").arg("-v").output() else {
            return; // no unzip here: the byte-level test above still holds
        };
        if !out.status.success() {
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let zip = dir.path().join("a.zip");
        let data: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
        std::fs::write(
            &zip,
            write(
                &mut [Entry {
                    name: "bootstrap",
                    mode: 0o755,
                    data: &data,
                }],
                "pm-api test",
            )
            .unwrap(),
        )
        .unwrap();
        let st = std::process::Command::new("unzip")
            .args(["-q", "-o"])
            .arg(&zip)
            .arg("-d")
            .arg(dir.path())
            .status()
            .unwrap();
        assert!(st.success());
        let f = dir.path().join("bootstrap");
        assert_eq!(std::fs::read(&f).unwrap(), data);
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&f).unwrap().permissions().mode() & 0o777,
            0o755
        );
    }
}

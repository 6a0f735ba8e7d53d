//! ZIP archives: the `zip` crate decompresses; this module reads the member count and the
//! raw member names from the central directory itself, because the crate keeps one member
//! per name (a second member of the same name silently replaces the first) and allocates
//! for every member the end record announces before anything can be refused.

use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};

use zip::CompressionMethod;
use zip::ZipArchive;

use crate::{ArchiveError, Kind, Refusal, Sink, name};

/// `PK\x05\x06`: end of central directory record.
const EOCD_SIG: u32 = 0x0605_4b50;
/// `PK\x06\x07`: ZIP64 end of central directory locator.
const EOCD64_LOCATOR_SIG: u32 = 0x0706_4b50;
/// `PK\x06\x06`: ZIP64 end of central directory record.
const EOCD64_SIG: u32 = 0x0606_4b50;
/// `PK\x01\x02`: central directory file header.
const CDH_SIG: u32 = 0x0201_4b50;
/// Fixed part of an end record, and the longest comment after it.
const EOCD_LEN: u64 = 22;
const MAX_COMMENT: u64 = 0xFFFF;

/// Unix file-type bits of a member's external attributes (`st_mode & S_IFMT`).
const S_IFMT: u32 = 0o170_000;

fn le16(b: &[u8], at: usize) -> u64 {
    u64::from(u16::from_le_bytes([b[at], b[at + 1]]))
}

fn le32(b: &[u8], at: usize) -> u64 {
    u64::from(u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]]))
}

fn le64(b: &[u8], at: usize) -> u64 {
    let mut x = [0u8; 8];
    x.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(x)
}

fn read_at<R: Read + Seek>(r: &mut R, at: u64, len: usize) -> std::io::Result<Vec<u8>> {
    r.seek(SeekFrom::Start(at))?;
    let mut buf = vec![0u8; len];
    r.read_exact(&mut buf)?;
    Ok(buf)
}

/// Where the central directory starts and how many members the end record announces (the
/// larger of its two counts, from the ZIP64 record when there is one). The record must end
/// the file, its comment included.
fn end_record<R: Read + Seek>(r: &mut R, len: u64) -> Result<(u64, u64), String> {
    let tail_len = len.min(EOCD_LEN + MAX_COMMENT);
    let tail = read_at(r, len - tail_len, tail_len as usize).map_err(|e| e.to_string())?;
    let fixed = EOCD_LEN as usize;
    let at = (0..=tail.len().saturating_sub(fixed))
        .rev()
        .find(|&p| {
            p + fixed <= tail.len()
                && le32(&tail, p) == u64::from(EOCD_SIG)
                && p + fixed + le16(&tail, p + 20) as usize == tail.len()
        })
        .ok_or("there is no end-of-central-directory record at the end of the file")?;
    let (on_disk, total) = (le16(&tail, at + 8), le16(&tail, at + 10));
    let (cd_size, cd_off) = (le32(&tail, at + 12), le32(&tail, at + 16));
    if on_disk != 0xFFFF && total != 0xFFFF && cd_size != 0xFFFF_FFFF && cd_off != 0xFFFF_FFFF {
        return Ok((cd_off, on_disk.max(total)));
    }
    let eocd_at = len - tail_len + at as u64;
    let locator = eocd_at
        .checked_sub(20)
        .and_then(|p| read_at(r, p, 20).ok())
        .filter(|l| le32(l, 0) == u64::from(EOCD64_LOCATOR_SIG))
        .ok_or("the end record asks for a ZIP64 record, and its locator is missing")?;
    let record = read_at(r, le64(&locator, 8), 56)
        .ok()
        .filter(|rec| le32(rec, 0) == u64::from(EOCD64_SIG))
        .ok_or("the ZIP64 end record is missing")?;
    Ok((le64(&record, 48), le64(&record, 24).max(le64(&record, 32))))
}

/// The raw names of the `count` central directory file headers from `start`.
fn central_names<R: Read + Seek>(
    r: &mut R,
    start: u64,
    count: u64,
) -> Result<Vec<Vec<u8>>, String> {
    let mut names = Vec::with_capacity(count as usize);
    let mut at = start;
    for i in 0..count {
        let fixed = read_at(r, at, 46)
            .map_err(|e| format!("the central directory is cut short at member {i}: {e}"))?;
        if le32(&fixed, 0) != u64::from(CDH_SIG) {
            return Err(format!(
                "central directory header {i} is not where the end record says (data before the first member, or a broken directory)"
            ));
        }
        let (n, extra, comment) = (le16(&fixed, 28), le16(&fixed, 30), le16(&fixed, 32));
        let name = read_at(r, at + 46, n as usize)
            .map_err(|e| format!("the central directory is cut short at member {i}: {e}"))?;
        names.push(name);
        at += 46 + n + extra + comment;
    }
    Ok(names)
}

/// Extracts every member of the ZIP file `file` (of `len` bytes) into `sink`.
pub(crate) fn extract(file: File, len: u64, sink: &mut Sink<'_>) -> Result<(), ArchiveError> {
    let mut reader = BufReader::new(file);
    let (cd_start, announced) = end_record(&mut reader, len).map_err(|why| sink.malformed(why))?;
    if announced > sink.limits.max_entries {
        return Err(sink.malformed(format!(
            "the archive announces {announced} members, over the limit of {}",
            sink.limits.max_entries
        )));
    }
    // The crate keeps one member per name, so duplicates are found in the raw listing.
    let names =
        central_names(&mut reader, cd_start, announced).map_err(|why| sink.malformed(why))?;
    let mut normalized = std::collections::BTreeSet::new();
    for raw in &names {
        let p = name::check(raw).map_err(|why| sink.refuse(raw, why))?;
        if !p.components.is_empty() && !normalized.insert(p.normalized()) {
            return Err(sink.refuse(raw, Refusal::Duplicate));
        }
    }
    let mut zip = ZipArchive::new(reader)
        .map_err(|e| sink.malformed(format!("not a readable ZIP archive: {e}")))?;
    if zip.central_directory_start() != cd_start || zip.len() != names.len() {
        return Err(sink.malformed(
            "the ZIP reader and the central directory disagree on the members (data before the first member?)",
        ));
    }
    for (i, listed) in names.iter().enumerate() {
        let (raw, kind, declared) = {
            let m = zip
                .by_index_raw(i)
                .map_err(|e| sink.refuse(listed, Refusal::Unreadable(e.to_string())))?;
            let raw = m.name_raw().to_vec();
            if m.encrypted() {
                return Err(sink.refuse(&raw, Refusal::Encrypted));
            }
            match m.compression() {
                CompressionMethod::Stored | CompressionMethod::Deflated => {}
                other => return Err(sink.refuse(&raw, Refusal::Compression(other.to_string()))),
            }
            let kind = match m.unix_mode().map(|mode| mode & S_IFMT) {
                Some(0o120_000) => return Err(sink.refuse(&raw, Refusal::Symlink)),
                Some(0o010_000) => return Err(sink.refuse(&raw, Refusal::Special("FIFO"))),
                Some(0o020_000) => {
                    return Err(sink.refuse(&raw, Refusal::Special("character device")));
                }
                Some(0o060_000) => return Err(sink.refuse(&raw, Refusal::Special("block device"))),
                Some(0o140_000) => return Err(sink.refuse(&raw, Refusal::Special("socket"))),
                Some(0o040_000) => Kind::Dir,
                _ if m.is_dir() => Kind::Dir,
                Some(0 | 0o100_000) | None => Kind::File,
                Some(_) => return Err(sink.refuse(&raw, Refusal::Special("special file"))),
            };
            (raw, kind, m.size())
        };
        match kind {
            Kind::Dir => sink.dir(&raw)?,
            Kind::File => {
                let mut m = zip
                    .by_index(i)
                    .map_err(|e| sink.refuse(&raw, Refusal::Unreadable(e.to_string())))?;
                sink.file(&raw, declared, &mut m)?;
            }
        }
    }
    Ok(())
}

//! tar archives, plain or gzip-compressed: the `tar` crate splits the stream into members
//! (resolving GNU long names and PAX headers); every member goes through the shared sink.

use std::io::{self, Read};

use tar::{Archive, EntryType};

use crate::{ArchiveError, Refusal, Sink};

/// Bytes of tar structure allowed per member on top of the members' data: a 512-byte
/// header, a PAX or GNU long-name header with its data, and the padding of each.
const OVERHEAD_PER_MEMBER: u64 = 4 * 1024;

/// Stops a stream after `left` bytes with an error, so a gzip stream that inflates to more
/// than an archive may hold is cut off whatever its members' headers say.
struct Bounded<R> {
    inner: R,
    left: u64,
}

impl<R: Read> Read for Bounded<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.left == 0 {
            // One byte more tells a stream that ends exactly at the bound from a longer one.
            let mut probe = [0u8; 1];
            return match self.inner.read(&mut probe)? {
                0 => Ok(0),
                _ => Err(io::Error::other(
                    "the tar stream is longer than the limits allow",
                )),
            };
        }
        let want = buf
            .len()
            .min(usize::try_from(self.left).unwrap_or(usize::MAX));
        let n = self.inner.read(&mut buf[..want])?;
        self.left -= n as u64;
        Ok(n)
    }
}

/// Extracts every member of the tar stream `reader` into `sink`.
pub(crate) fn extract<R: Read>(reader: R, sink: &mut Sink<'_>) -> Result<(), ArchiveError> {
    let bound = sink.limits.max_total_bytes.saturating_add(
        sink.limits
            .max_entries
            .saturating_add(2)
            .saturating_mul(OVERHEAD_PER_MEMBER),
    );
    let mut archive = Archive::new(Bounded {
        inner: reader,
        left: bound,
    });
    let entries = archive
        .entries()
        .map_err(|e| sink.malformed(format!("not a readable tar archive: {e}")))?;
    for entry in entries {
        let mut entry =
            entry.map_err(|e| sink.malformed(format!("not a readable tar archive: {e}")))?;
        let raw = entry.path_bytes().into_owned();
        let declared = entry.size();
        match entry.header().entry_type() {
            EntryType::Regular | EntryType::Continuous => sink.file(&raw, declared, &mut entry)?,
            EntryType::Directory => sink.dir(&raw)?,
            // A global PAX header (as `git archive` writes) describes no file.
            EntryType::XGlobalHeader => {}
            EntryType::Symlink => return Err(sink.refuse(&raw, Refusal::Symlink)),
            EntryType::Link => return Err(sink.refuse(&raw, Refusal::Hardlink)),
            EntryType::Char => return Err(sink.refuse(&raw, Refusal::Special("character device"))),
            EntryType::Block => return Err(sink.refuse(&raw, Refusal::Special("block device"))),
            EntryType::Fifo => return Err(sink.refuse(&raw, Refusal::Special("FIFO"))),
            EntryType::GNUSparse => return Err(sink.refuse(&raw, Refusal::Special("sparse file"))),
            _ => return Err(sink.refuse(&raw, Refusal::Special("tar member of an unknown type"))),
        }
    }
    Ok(())
}

//! Crafted hostile archives, one per refusal, built here with the zip and tar writers (and
//! byte patches where a writer will not produce the attack), plus the two accepted layouts.

use std::io::{Cursor, Write};
use std::path::{Path, PathBuf};

use receipt_archive::{ArchiveError, Format, Limits, Refusal, open, open_with};
use zip::CompressionMethod;
use zip::write::{SimpleFileOptions, ZipWriter};

/// A ZIP of `(name, content)` members (a name ending in `/` is a directory).
fn zip_of(members: &[(&str, &[u8])]) -> Vec<u8> {
    let mut w = ZipWriter::new(Cursor::new(Vec::new()));
    let opts = SimpleFileOptions::default().compression_method(CompressionMethod::Deflated);
    for (name, data) in members {
        if name.ends_with('/') {
            w.add_directory(*name, opts).unwrap();
        } else {
            w.start_file(*name, opts).unwrap();
            w.write_all(data).unwrap();
        }
    }
    w.finish().unwrap().into_inner()
}

/// A minimal ledger's files: what the layouts need is `chain.head`.
fn ledger_members(prefix: &str) -> Vec<(String, Vec<u8>)> {
    vec![
        (format!("{prefix}chain.head"), b"x\n".to_vec()),
        (format!("{prefix}receipt.json"), b"{}".to_vec()),
    ]
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

/// Offsets of every `sig` in `bytes`.
fn find_all(bytes: &[u8], sig: &[u8]) -> Vec<usize> {
    bytes
        .windows(sig.len())
        .enumerate()
        .filter(|(_, w)| *w == sig)
        .map(|(i, _)| i)
        .collect()
}

/// The offset of the header with signature `sig` that names `name` (a ZIP header keeps its
/// name's length at `len_at` and the name at `name_at`).
fn header(zip: &[u8], sig: &[u8], len_at: usize, name_at: usize, name: &[u8]) -> usize {
    find_all(zip, sig)
        .into_iter()
        .find(|&p| {
            let n = u16::from_le_bytes([zip[p + len_at], zip[p + len_at + 1]]) as usize;
            &zip[p + name_at..p + name_at + n] == name
        })
        .unwrap_or_else(|| panic!("no {sig:?} header names the member"))
}

/// The offsets of the local and central headers of the member named `name`.
fn headers_of(zip: &[u8], name: &[u8]) -> (usize, usize) {
    (
        header(zip, b"PK\x03\x04", 26, 30, name),
        header(zip, b"PK\x01\x02", 28, 46, name),
    )
}

fn put32(b: &mut [u8], at: usize, v: u32) {
    b[at..at + 4].copy_from_slice(&v.to_le_bytes());
}

fn refusal(result: Result<receipt_archive::Extracted, ArchiveError>) -> (String, Refusal, String) {
    match result {
        Err(e @ ArchiveError::Refused { .. }) => {
            let sentence = e.to_string();
            let ArchiveError::Refused { entry, why, .. } = e else {
                unreachable!()
            };
            (entry, why, sentence)
        }
        Err(e) => panic!("expected a refused member, got: {e}"),
        Ok(x) => panic!(
            "expected a refusal, got an extraction at {}",
            x.root().display()
        ),
    }
}

fn refused_zip(members: &[(&str, &[u8])], limits: &Limits) -> (String, Refusal, String) {
    let t = tempfile::tempdir().unwrap();
    let p = write(t.path(), "a.zip", &zip_of(members));
    refusal(open_with(&p, limits))
}

fn refused_bytes(bytes: &[u8], limits: &Limits) -> (String, Refusal, String) {
    let t = tempfile::tempdir().unwrap();
    let p = write(t.path(), "a.bin", bytes);
    refusal(open_with(&p, limits))
}

#[test]
fn a_zip_with_the_ledger_at_its_root_opens_private_and_is_removed_on_drop() {
    use std::os::unix::fs::PermissionsExt;
    let members = ledger_members("");
    let refs: Vec<(&str, &[u8])> = members
        .iter()
        .map(|(n, d)| (n.as_str(), d.as_slice()))
        .collect();
    let t = tempfile::tempdir().unwrap();
    let p = write(t.path(), "artifact.zip", &zip_of(&refs));
    let x = open(&p).unwrap();
    assert_eq!(x.format(), Format::Zip);
    assert_eq!(x.root(), x.dir());
    assert_eq!(std::fs::read(x.root().join("chain.head")).unwrap(), b"x\n");
    let mode = std::fs::metadata(x.dir()).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o700, "the extraction directory is private");
    let dir = x.dir().to_owned();
    drop(x);
    assert!(!dir.exists(), "the extraction directory is removed on drop");
}

#[test]
fn a_single_top_level_directory_wrapping_the_ledger_is_unwrapped() {
    let members = ledger_members("receipt/");
    let mut refs: Vec<(&str, &[u8])> = vec![("receipt/", b"")];
    refs.extend(members.iter().map(|(n, d)| (n.as_str(), d.as_slice())));
    let t = tempfile::tempdir().unwrap();
    let p = write(t.path(), "artifact.zip", &zip_of(&refs));
    let x = open(&p).unwrap();
    assert_eq!(x.root(), x.dir().join("receipt"));
}

#[test]
fn an_archive_without_chain_head_or_with_two_top_directories_holds_no_ledger() {
    let t = tempfile::tempdir().unwrap();
    let p = write(t.path(), "a.zip", &zip_of(&[("receipt.json", b"{}")]));
    assert!(matches!(open(&p), Err(ArchiveError::NoLedger { .. })));
    let p = write(
        t.path(),
        "b.zip",
        &zip_of(&[("a/chain.head", b"x\n"), ("b/chain.head", b"x\n")]),
    );
    let e = open(&p).unwrap_err();
    assert!(matches!(e, ArchiveError::NoLedger { .. }));
    assert!(e.to_string().contains("no `chain.head`"), "{e}");
}

#[test]
fn zip_slip_dot_dot_member_is_refused_naming_it() {
    let (entry, why, sentence) = refused_zip(&[("../../evil.txt", b"x")], &Limits::default());
    assert_eq!(entry, "../../evil.txt");
    assert_eq!(why, Refusal::ParentComponent);
    assert!(
        sentence.contains("\"../../evil.txt\"") && sentence.contains("zip-slip"),
        "{sentence}"
    );
    let (_, why, _) = refused_zip(&[("receipt/../../x", b"x")], &Limits::default());
    assert_eq!(why, Refusal::ParentComponent);
}

#[test]
fn absolute_drive_and_backslash_members_are_refused() {
    // The writer keeps names as given; patching is not needed for these.
    for (name, want) in [
        ("/etc/passwd", Refusal::Absolute),
        ("C:/Windows/evil.dll", Refusal::Absolute),
        ("C:\\Windows\\evil.dll", Refusal::Backslash),
        ("receipt\\..\\..\\evil", Refusal::Backslash),
    ] {
        let (entry, why, _) = refused_zip(&[(name, b"x")], &Limits::default());
        assert_eq!((entry.as_str(), why), (name, want));
    }
}

#[test]
fn members_with_nul_or_control_characters_are_refused() {
    let (_, why, _) = refused_zip(&[("chain.head\nx", b"x")], &Limits::default());
    assert_eq!(why, Refusal::ControlCharacter);
    // A NUL byte: the writer refuses it, so the name is patched in both headers.
    let mut zip = zip_of(&[("abc", b"x")]);
    let (local, central) = headers_of(&zip, b"abc");
    zip[local + 31] = 0;
    zip[central + 47] = 0;
    let (entry, why, _) = refused_bytes(&zip, &Limits::default());
    assert_eq!(why, Refusal::ControlCharacter);
    assert_eq!(entry, "a\0c");
}

#[test]
fn a_symlink_member_is_refused() {
    let mut w = ZipWriter::new(Cursor::new(Vec::new()));
    w.add_symlink("chain.head", "/etc/passwd", SimpleFileOptions::default())
        .unwrap();
    let zip = w.finish().unwrap().into_inner();
    let (entry, why, sentence) = refused_bytes(&zip, &Limits::default());
    assert_eq!((entry.as_str(), why), ("chain.head", Refusal::Symlink));
    assert!(sentence.contains("symbolic link"), "{sentence}");
}

#[test]
fn a_fifo_or_device_member_is_refused_by_its_unix_mode() {
    for (ifmt, kind) in [(0o010_000u32, "FIFO"), (0o020_000, "character device")] {
        let mut zip = zip_of(&[("dev", b"")]);
        let (_, central) = headers_of(&zip, b"dev");
        // External attributes: the unix mode in the high 16 bits (made by unix: 3).
        put32(&mut zip, central + 38, (ifmt | 0o644) << 16);
        zip[central + 5] = 3;
        let (_, why, _) = refused_bytes(&zip, &Limits::default());
        assert_eq!(why, Refusal::Special(kind));
    }
}

#[test]
fn duplicate_members_are_refused_also_after_normalization() {
    // The writer refuses an exact duplicate, so the second name is patched to the first.
    let mut zip = zip_of(&[("chain.head", b"a\n"), ("chain.heaX", b"b\n")]);
    let (local, central) = headers_of(&zip, b"chain.heaX");
    zip[local + 30 + 9] = b'd';
    zip[central + 46 + 9] = b'd';
    let (entry, why, _) = refused_bytes(&zip, &Limits::default());
    assert_eq!((entry.as_str(), why), ("chain.head", Refusal::Duplicate));
    let (entry, why, _) = refused_zip(
        &[
            ("receipts/1/receipt.json", b"a"),
            ("receipts//1/./receipt.json", b"b"),
        ],
        &Limits::default(),
    );
    assert_eq!(
        (entry.as_str(), why),
        ("receipts//1/./receipt.json", Refusal::Duplicate)
    );
}

#[test]
fn a_file_that_is_also_a_directory_is_refused() {
    let (_, why, _) = refused_zip(&[("a", b"x"), ("a/b", b"y")], &Limits::default());
    assert_eq!(why, Refusal::Conflict);
    let (_, why, _) = refused_zip(&[("a/b", b"y"), ("a", b"x")], &Limits::default());
    assert_eq!(why, Refusal::Conflict);
}

#[test]
fn an_encrypted_member_is_refused() {
    let mut zip = zip_of(&[("receipt.json", b"{}")]);
    let (local, central) = headers_of(&zip, b"receipt.json");
    // General-purpose flag bit 0: the member is encrypted.
    zip[local + 6] |= 1;
    zip[central + 8] |= 1;
    let (_, why, sentence) = refused_bytes(&zip, &Limits::default());
    assert_eq!(why, Refusal::Encrypted);
    assert!(
        sentence.contains("\"receipt.json\", which is encrypted"),
        "{sentence}"
    );
}

#[test]
fn an_unsupported_compression_method_is_refused() {
    let mut zip = zip_of(&[("receipt.json", b"{}")]);
    let (local, central) = headers_of(&zip, b"receipt.json");
    // Method 12 is bzip2, which this reader is not built to decompress.
    zip[local + 8] = 12;
    zip[central + 10] = 12;
    let (_, why, _) = refused_bytes(&zip, &Limits::default());
    assert!(matches!(why, Refusal::Compression(_)), "{why:?}");
}

#[test]
fn a_member_over_the_size_limit_is_refused_by_its_header() {
    let limits = Limits {
        max_entry_bytes: 100,
        ..Limits::default()
    };
    let (_, why, _) = refused_zip(&[("big", &[7u8; 101])], &limits);
    assert_eq!(why, Refusal::EntryTooLarge { limit: 100 });
}

#[test]
fn a_header_that_lies_about_the_size_is_caught_by_the_bytes_read() {
    let content = vec![b'z'; 10_000];
    for claimed in [10u32, 20_000] {
        let mut zip = zip_of(&[("receipt.json", &content)]);
        let (local, central) = headers_of(&zip, b"receipt.json");
        put32(&mut zip, local + 22, claimed);
        put32(&mut zip, central + 24, claimed);
        let (_, why, sentence) = refused_bytes(&zip, &Limits::default());
        match why {
            Refusal::SizeMismatch { declared, actual } => {
                assert_eq!(declared, u64::from(claimed));
                if claimed < 10_000 {
                    assert_eq!(actual, 11, "reading stops one byte past the claim");
                } else {
                    assert_eq!(actual, 10_000);
                }
            }
            other => panic!("expected a size mismatch, got {other:?}: {sentence}"),
        }
    }
}

/// 300 MiB of zeros deflated at ratio ~1000:1.
fn zip_bomb() -> Vec<u8> {
    let mut w = ZipWriter::new(Cursor::new(Vec::new()));
    let opts = SimpleFileOptions::default()
        .compression_method(CompressionMethod::Deflated)
        .large_file(true);
    w.start_file("chain.head", opts).unwrap();
    let chunk = vec![0u8; 1 << 20];
    for _ in 0..300 {
        w.write_all(&chunk).unwrap();
    }
    w.finish().unwrap().into_inner()
}

#[test]
fn a_zip_bomb_is_refused_by_its_header_and_by_the_bytes_when_the_header_lies() {
    let bomb = zip_bomb();
    let ratio = (300u64 << 20) / bomb.len() as u64;
    assert!(ratio > 500, "a high-ratio bomb ({ratio}:1)");
    let (_, why, _) = refused_bytes(&bomb, &Limits::default());
    assert_eq!(why, Refusal::EntryTooLarge { limit: 256 << 20 });

    // The same bomb with a header claiming 1 KiB: caught after 1 KiB + 1 byte. The ZIP64
    // extra field holds the sizes of a large-file member, in both headers.
    let mut lying = bomb.clone();
    let (local, central) = headers_of(&lying, b"chain.head");
    for zip64 in find_all(&lying, &[0x01, 0x00]) {
        // Extra field id 0x0001 with a 16- or 24-byte body, right after a header's name.
        let after_local = local + 30 + 10;
        let after_central = central + 46 + 10;
        if zip64 == after_local || zip64 == after_central {
            lying[zip64 + 4..zip64 + 12].copy_from_slice(&1024u64.to_le_bytes());
        }
    }
    let (_, why, _) = refused_bytes(&lying, &Limits::default());
    assert_eq!(
        why,
        Refusal::SizeMismatch {
            declared: 1024,
            actual: 1025
        }
    );
}

#[test]
fn members_adding_up_past_the_total_or_count_limit_are_refused() {
    let limits = Limits {
        max_total_bytes: 100,
        ..Limits::default()
    };
    let (entry, why, _) = refused_zip(
        &[("a", &[1u8; 40]), ("b", &[2; 40]), ("c", &[3; 40])],
        &limits,
    );
    assert_eq!(
        (entry.as_str(), why),
        ("c", Refusal::TotalTooLarge { limit: 100 })
    );

    let limits = Limits {
        max_entries: 3,
        ..Limits::default()
    };
    let t = tempfile::tempdir().unwrap();
    let p = write(
        t.path(),
        "many.zip",
        &zip_of(&[("a", b"1"), ("b", b"2"), ("c", b"3"), ("d", b"4")]),
    );
    let e = open_with(&p, &limits).unwrap_err();
    assert!(
        matches!(&e, ArchiveError::Malformed { why, .. } if why.contains("announces 4 members, over the limit of 3")),
        "{e}"
    );
}

#[test]
fn an_archive_file_over_the_size_limit_is_not_read() {
    let limits = Limits {
        max_archive_bytes: 64,
        ..Limits::default()
    };
    let t = tempfile::tempdir().unwrap();
    let p = write(t.path(), "a.zip", &zip_of(&[("chain.head", &[b'x'; 200])]));
    let e = open_with(&p, &limits).unwrap_err();
    assert!(e.to_string().contains("over the limit of 64 bytes"), "{e}");
}

#[test]
fn a_fifo_or_a_non_archive_is_not_opened_as_an_archive() {
    let t = tempfile::tempdir().unwrap();
    let fifo = t.path().join("fifo.zip");
    let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    let e = open(&fifo).unwrap_err();
    assert!(e.to_string().contains("not a regular file"), "{e}");
    let p = write(t.path(), "receipt.json", b"{\"schema\":\"x\"}");
    let e = open(&p).unwrap_err();
    assert!(matches!(e, ArchiveError::NotAnArchive { .. }), "{e}");
}

// --- tar -------------------------------------------------------------------------------------

fn tar_header(kind: tar::EntryType, name: &[u8], size: u64) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(kind);
    h.set_size(size);
    h.set_mode(0o644);
    // Raw bytes, so the writer's own path checks do not stand in the way of the attack.
    let field = &mut h.as_old_mut().name;
    field[..name.len()].copy_from_slice(name);
    h.set_cksum();
    h
}

fn tar_of(members: &[(tar::EntryType, &[u8], &[u8])]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (kind, name, data) in members {
        let h = tar_header(*kind, name, data.len() as u64);
        b.append(&h, *data).unwrap();
    }
    b.into_inner().unwrap()
}

fn gz(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

#[test]
fn tar_and_tar_gz_ledgers_open() {
    use tar::EntryType::{Directory, Regular};
    let tar = tar_of(&[
        (Directory, b"receipt/", b""),
        (Regular, b"receipt/chain.head", b"x\n"),
        (Regular, b"receipt/receipt.json", b"{}"),
    ]);
    for (bytes, format) in [(tar.clone(), Format::Tar), (gz(&tar), Format::TarGz)] {
        let t = tempfile::tempdir().unwrap();
        let p = write(t.path(), "artifact", &bytes);
        let x = open(&p).unwrap();
        assert_eq!(x.format(), format);
        assert_eq!(x.root(), x.dir().join("receipt"));
        assert_eq!(std::fs::read(x.root().join("receipt.json")).unwrap(), b"{}");
    }
}

#[test]
fn tar_links_devices_and_fifos_are_refused() {
    use tar::EntryType::*;
    for (kind, want) in [
        (Symlink, Refusal::Symlink),
        (Link, Refusal::Hardlink),
        (Char, Refusal::Special("character device")),
        (Block, Refusal::Special("block device")),
        (Fifo, Refusal::Special("FIFO")),
    ] {
        let (entry, why, _) =
            refused_bytes(&tar_of(&[(kind, b"chain.head", b"")]), &Limits::default());
        assert_eq!((entry.as_str(), why), ("chain.head", want));
    }
}

#[test]
fn tar_slip_absolute_and_duplicate_members_are_refused() {
    use tar::EntryType::Regular;
    let cases: [(&[u8], Refusal); 3] = [
        (b"../evil", Refusal::ParentComponent),
        (b"/etc/cron.d/evil", Refusal::Absolute),
        (b"a\x01b", Refusal::ControlCharacter),
    ];
    for (name, want) in cases {
        let (_, why, _) = refused_bytes(&tar_of(&[(Regular, name, b"x")]), &Limits::default());
        assert_eq!(why, want);
    }
    let dup = tar_of(&[
        (Regular, b"chain.head", b"a\n"),
        (Regular, b"./chain.head", b"b\n"),
    ]);
    let (entry, why, _) = refused_bytes(&gz(&dup), &Limits::default());
    assert_eq!((entry.as_str(), why), ("./chain.head", Refusal::Duplicate));
}

#[test]
fn a_tar_gz_bomb_is_refused_by_its_header() {
    // 300 MiB of zeros in one member, gzip-compressed to well under 1 MiB.
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Regular);
    h.set_path("chain.head").unwrap();
    h.set_size(300 << 20);
    h.set_cksum();
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(h.as_bytes()).unwrap();
    let chunk = vec![0u8; 1 << 20];
    for _ in 0..300 {
        e.write_all(&chunk).unwrap();
    }
    e.write_all(&[0u8; 1024]).unwrap();
    let bomb = e.finish().unwrap();
    assert!(bomb.len() < 2 << 20);
    let (_, why, _) = refused_bytes(&bomb, &Limits::default());
    assert_eq!(why, Refusal::EntryTooLarge { limit: 256 << 20 });
}

#[test]
fn a_tar_with_more_members_than_the_limit_is_refused_at_the_first_one_past_it() {
    use tar::EntryType::Regular;
    let limits = Limits {
        max_entries: 2,
        ..Limits::default()
    };
    let t = tar_of(&[
        (Regular, b"a", b"1"),
        (Regular, b"b", b"2"),
        (Regular, b"c", b"3"),
    ]);
    let (entry, why, _) = refused_bytes(&t, &limits);
    assert_eq!(
        (entry.as_str(), why),
        ("c", Refusal::TooManyEntries { limit: 2 })
    );
}

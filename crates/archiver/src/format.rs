//! Writing and reading archive files (the format is `domain::archive`): gzip-compressed JSON
//! Lines, a header line, one line per message, a trailer line.
//!
//! A file is written as `<name>.partial`, synced, and renamed into place with its directory
//! synced; so a file under its final name was complete when it was renamed. Reading checks
//! everything a reader can: the gzip CRC and length, the header, every line, the trailer's
//! message count and content digest, and that nothing follows the trailer.

use std::fs::File;
use std::io::{self, BufRead, BufReader, BufWriter, Read, Seek, Write};
use std::path::{Path, PathBuf};

use domain::archive::{ArchivedMessage, FORMAT, Header, Line, Trailer, VERSION};
use flate2::Compression;
use flate2::bufread::GzDecoder;
use flate2::write::GzEncoder;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use store::repo::archive_data::{DayMessage, Version};

/// gzip level: 1 is 3-4x faster than the default 6 on JSON and about 25% larger; archiving is
/// CPU-bound on small machines, so speed wins (measured in docs/benchmarks.md).
const GZIP_LEVEL: u32 = 1;

#[derive(Debug, thiserror::Error)]
pub enum FormatError {
    #[error("{path}: {what}: {source}")]
    Io {
        path: PathBuf,
        what: &'static str,
        #[source]
        source: io::Error,
    },
    #[error("{path}: not an IntegraMon archive file ({reason})")]
    NotArchive { path: PathBuf, reason: String },
    #[error(
        "{path}: written by a newer IntegraMon (format version {found}; this one reads up to {VERSION})"
    )]
    NewerVersion { path: PathBuf, found: u32 },
    #[error("{path}: truncated ({reason}); the file is incomplete")]
    Truncated { path: PathBuf, reason: String },
    #[error("{path}: corrupt at line {line}: {reason}")]
    Corrupt {
        path: PathBuf,
        line: u64,
        reason: String,
    },
    #[error("{0}")]
    Other(String),
}

fn io_err<'a>(path: &'a Path, what: &'static str) -> impl FnOnce(io::Error) -> FormatError + 'a {
    move |source| FormatError::Io {
        path: path.to_owned(),
        what,
        source,
    }
}

/// Writes one archive file under a temporary name.
pub struct Writer {
    path: PathBuf,
    gz: GzEncoder<BufWriter<File>>,
    content: Sha256,
    expected: u64,
    written: u64,
    line: Vec<u8>,
}

impl Writer {
    /// Create (or truncate) `path` and write the header.
    pub fn create(path: &Path, header: &Header) -> Result<Self, FormatError> {
        let file = File::create(path).map_err(io_err(path, "creating"))?;
        let mut gz = GzEncoder::new(
            BufWriter::with_capacity(1 << 20, file),
            Compression::new(GZIP_LEVEL),
        );
        let mut line = serde_json::to_vec(&Line::Header(header.clone()))
            .map_err(|e| FormatError::Other(format!("cannot encode the header: {e}")))?;
        line.push(b'\n');
        gz.write_all(&line).map_err(io_err(path, "writing"))?;
        Ok(Self {
            path: path.to_owned(),
            gz,
            content: Sha256::new(),
            expected: header.message_count,
            written: 0,
            line: Vec::with_capacity(4096),
        })
    }

    pub fn write(&mut self, m: &ArchivedMessage) -> Result<(), FormatError> {
        self.line.clear();
        // `{"kind":"message",` + the message object without its opening brace: the tagged form
        // `Line::Message` reads, without copying the message into a `Line`.
        self.line.extend_from_slice(br#"{"kind":"message","#);
        let body = serde_json::to_vec(m)
            .map_err(|e| FormatError::Other(format!("cannot encode message {}: {e}", m.guid)))?;
        self.line.extend_from_slice(&body[1..]);
        self.line.push(b'\n');
        self.content.update(&self.line);
        self.gz
            .write_all(&self.line)
            .map_err(io_err(&self.path, "writing"))?;
        self.written += 1;
        Ok(())
    }

    /// Copy a message line read from another archive file unchanged.
    pub fn write_raw(&mut self, line: &[u8]) -> Result<(), FormatError> {
        self.content.update(line);
        self.gz
            .write_all(line)
            .map_err(io_err(&self.path, "writing"))?;
        self.written += 1;
        Ok(())
    }

    pub fn written(&self) -> u64 {
        self.written
    }

    /// Write the trailer, finish the gzip stream and sync the file to disk.
    pub fn finish(mut self) -> Result<(), FormatError> {
        if self.written != self.expected {
            return Err(FormatError::Other(format!(
                "{}: the header announces {} messages but {} were written",
                self.path.display(),
                self.expected,
                self.written
            )));
        }
        let trailer = Line::Trailer(Trailer {
            message_count: self.written,
            content_sha256: hex::encode(self.content.finalize()),
        });
        let mut line = serde_json::to_vec(&trailer)
            .map_err(|e| FormatError::Other(format!("cannot encode the trailer: {e}")))?;
        line.push(b'\n');
        self.gz
            .write_all(&line)
            .map_err(io_err(&self.path, "writing"))?;
        let buffered = self.gz.finish().map_err(io_err(&self.path, "writing"))?;
        let file = buffered.into_inner().map_err(|e| FormatError::Io {
            path: self.path.clone(),
            what: "writing",
            source: e.into_error(),
        })?;
        file.sync_all().map_err(io_err(&self.path, "syncing"))?;
        Ok(())
    }
}

/// Move a finished `partial` file to `target` (replacing it) and sync the directory, so the
/// rename itself survives a crash.
pub fn publish(partial: &Path, target: &Path) -> Result<(), FormatError> {
    std::fs::rename(partial, target).map_err(io_err(target, "renaming into place"))?;
    if let Some(dir) = target.parent() {
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(io_err(dir, "syncing the directory"))?;
    }
    Ok(())
}

/// A file that passed every check.
#[derive(Debug, Clone)]
pub struct Verified {
    pub header: Header,
    pub trailer: Trailer,
    /// Size and hex SHA-256 of the file's bytes.
    pub size: u64,
    pub sha256: String,
    /// Every message's id and version, in file order.
    pub messages: Vec<DayMessage>,
}

/// Counts the bytes read and hashes them: the file's checksum comes from the same read that
/// decompresses it.
struct Hashing<R> {
    inner: R,
    hash: Sha256,
    size: u64,
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hash.update(&buf[..n]);
        self.size += n as u64;
        Ok(n)
    }
}

/// What verification reads of a message line: its id and version (other fields are skipped).
#[derive(Deserialize)]
struct Peek {
    kind: String,
    id: Option<i64>,
    guid: Option<String>,
    updated_at: Option<chrono::DateTime<chrono::Utc>>,
    details_fetched_at: Option<chrono::DateTime<chrono::Utc>>,
}

/// Read a whole file, checking it; `on_line` gets each message line's raw bytes (newline
/// included) with its id and version.
pub fn scan(
    path: &Path,
    mut on_line: impl FnMut(&[u8], DayMessage) -> Result<(), FormatError>,
) -> Result<Verified, FormatError> {
    let mut file = File::open(path).map_err(io_err(path, "opening"))?;
    let mut magic = [0u8; 2];
    let got = file.read(&mut magic).map_err(io_err(path, "reading"))?;
    if got < 2 || magic != [0x1f, 0x8b] {
        return Err(FormatError::NotArchive {
            path: path.to_owned(),
            reason: "not a gzip file".into(),
        });
    }
    file.seek(io::SeekFrom::Start(0))
        .map_err(io_err(path, "reading"))?;
    let hashing = Hashing {
        inner: file,
        hash: Sha256::new(),
        size: 0,
    };
    // The bufread decoder leaves bytes after the gzip stream in our buffer, where the check
    // for trailing data below finds them.
    let gz = GzDecoder::new(BufReader::with_capacity(1 << 20, hashing));
    let mut reader = BufReader::with_capacity(1 << 20, gz);
    let truncated = |reason: String| FormatError::Truncated {
        path: path.to_owned(),
        reason,
    };
    let read_err = |e: io::Error, line: u64| -> FormatError {
        match e.kind() {
            io::ErrorKind::UnexpectedEof => {
                truncated(format!("the gzip stream ends early after line {line}"))
            }
            io::ErrorKind::InvalidInput | io::ErrorKind::InvalidData if line == 0 => {
                FormatError::NotArchive {
                    path: path.to_owned(),
                    reason: format!("not gzip: {e}"),
                }
            }
            io::ErrorKind::InvalidInput | io::ErrorKind::InvalidData => FormatError::Corrupt {
                path: path.to_owned(),
                line,
                reason: format!("gzip: {e}"),
            },
            _ => FormatError::Io {
                path: path.to_owned(),
                what: "reading",
                source: e,
            },
        }
    };
    let mut buf = Vec::with_capacity(8192);
    let n = reader
        .read_until(b'\n', &mut buf)
        .map_err(|e| read_err(e, 0))?;
    if n == 0 {
        return Err(FormatError::NotArchive {
            path: path.to_owned(),
            reason: "empty".into(),
        });
    }
    let header = match serde_json::from_slice::<Line>(&buf) {
        Ok(Line::Header(h)) if h.format == FORMAT => h,
        Ok(_) => {
            return Err(FormatError::NotArchive {
                path: path.to_owned(),
                reason: "the first line is not an archive header".into(),
            });
        }
        Err(e) => {
            return Err(FormatError::NotArchive {
                path: path.to_owned(),
                reason: format!("the first line is not an archive header: {e}"),
            });
        }
    };
    if header.version > VERSION {
        return Err(FormatError::NewerVersion {
            path: path.to_owned(),
            found: header.version,
        });
    }
    let mut content = Sha256::new();
    let mut messages = Vec::with_capacity(header.message_count.min(10_000_000) as usize);
    let mut line_no = 1u64;
    let trailer = loop {
        buf.clear();
        let n = reader
            .read_until(b'\n', &mut buf)
            .map_err(|e| read_err(e, line_no))?;
        if n == 0 {
            return Err(truncated(format!(
                "no trailer after {} message lines",
                messages.len()
            )));
        }
        line_no += 1;
        if buf.last() != Some(&b'\n') {
            return Err(truncated(format!("line {line_no} has no end")));
        }
        let corrupt = |reason: String| FormatError::Corrupt {
            path: path.to_owned(),
            line: line_no,
            reason,
        };
        let peek: Peek =
            serde_json::from_slice(&buf).map_err(|e| corrupt(format!("not a JSON line: {e}")))?;
        match peek.kind.as_str() {
            "message" => {
                let (Some(id), Some(guid), Some(updated_at)) =
                    (peek.id, peek.guid, peek.updated_at)
                else {
                    return Err(corrupt("a message without id, guid or updated_at".into()));
                };
                content.update(&buf);
                let m = DayMessage {
                    id,
                    guid,
                    version: (updated_at, peek.details_fetched_at) as Version,
                };
                on_line(&buf, m.clone())?;
                messages.push(m);
            }
            "trailer" => match serde_json::from_slice::<Line>(&buf) {
                Ok(Line::Trailer(t)) => break t,
                _ => return Err(corrupt("unreadable trailer".into())),
            },
            other => return Err(corrupt(format!("unexpected line kind {other:?}"))),
        }
    };
    // Nothing may follow the trailer, and reading to the end checks the gzip CRC and length.
    buf.clear();
    let rest = reader
        .read_to_end(&mut buf)
        .map_err(|e| read_err(e, line_no))?;
    if rest > 0 {
        return Err(FormatError::Corrupt {
            path: path.to_owned(),
            line: line_no + 1,
            reason: "data after the trailer".into(),
        });
    }
    let mut rest_of_file = reader.into_inner().into_inner();
    // Bytes after the gzip member (a second member, garbage) count as corruption.
    let mut tail = Vec::new();
    rest_of_file
        .read_to_end(&mut tail)
        .map_err(io_err(path, "reading"))?;
    let hashing = rest_of_file.into_inner();
    if !tail.is_empty() {
        return Err(FormatError::Corrupt {
            path: path.to_owned(),
            line: line_no,
            reason: format!("{} bytes after the end of the gzip stream", tail.len()),
        });
    }
    let count = messages.len() as u64;
    let digest = hex::encode(content.finalize());
    if trailer.message_count != count || header.message_count != count {
        return Err(FormatError::Corrupt {
            path: path.to_owned(),
            line: line_no,
            reason: format!(
                "{count} message lines, but the header says {} and the trailer {}",
                header.message_count, trailer.message_count
            ),
        });
    }
    if trailer.content_sha256 != digest {
        return Err(FormatError::Corrupt {
            path: path.to_owned(),
            line: line_no,
            reason:
                "checksum mismatch: the message lines do not match the trailer's content_sha256"
                    .into(),
        });
    }
    Ok(Verified {
        header,
        trailer,
        size: hashing.size,
        sha256: hex::encode(hashing.hash.finalize()),
        messages,
    })
}

/// Check a file completely (see [`scan`]).
pub fn verify(path: &Path) -> Result<Verified, FormatError> {
    scan(path, |_, _| Ok(()))
}

/// Decode one message line (as [`scan`] hands it out).
pub fn decode_message(path: &Path, line: &[u8]) -> Result<ArchivedMessage, FormatError> {
    match serde_json::from_slice::<Line>(line) {
        Ok(Line::Message(m)) => Ok(*m),
        Ok(_) => Err(FormatError::Other(format!(
            "{}: expected a message line",
            path.display()
        ))),
        Err(e) => Err(FormatError::Corrupt {
            path: path.to_owned(),
            line: 0,
            reason: format!("a message line does not decode: {e}"),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{NaiveDate, TimeZone, Utc};

    fn header(n: u64) -> Header {
        Header {
            format: FORMAT.into(),
            version: VERSION,
            tenant: "t".into(),
            tenant_id: 1,
            day: NaiveDate::from_ymd_opt(2026, 1, 2).unwrap(),
            time_zone: "UTC".into(),
            from: Utc.with_ymd_and_hms(2026, 1, 2, 0, 0, 0).unwrap(),
            to: Utc.with_ymd_and_hms(2026, 1, 3, 0, 0, 0).unwrap(),
            message_count: n,
            created_at: Utc.with_ymd_and_hms(2026, 2, 1, 0, 0, 0).unwrap(),
            writer: "test".into(),
            replaces: None,
        }
    }

    fn message(i: i64) -> ArchivedMessage {
        let at = Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, 5).unwrap();
        ArchivedMessage {
            id: i,
            guid: format!("g{i}"),
            correlation_id: None,
            application_message_id: None,
            application_message_type: None,
            predecessor_guid: None,
            log_start: Some(at),
            log_end: Some(at),
            sender: None,
            receiver: None,
            iflow_id: Some("f".into()),
            iflow_name: None,
            artifact_type: None,
            package_id: None,
            package_name: None,
            status: Some("COMPLETED".into()),
            custom_status: None,
            log_level: None,
            alternate_web_link: None,
            transaction_id: None,
            archiving_status: None,
            origin_component_name: None,
            local_component_name: None,
            previous_component_name: None,
            duration_ms: Some(0),
            details_status: None,
            details_fetched_at: None,
            created_at: at,
            updated_at: at,
            headers: vec![],
            error: None,
            runs: vec![],
            adapter_attributes: vec![],
            payloads: vec![],
            attachments: vec![],
        }
    }

    fn write(dir: &Path, n: i64) -> PathBuf {
        let path = dir.join("a.archive");
        let mut w = Writer::create(&path, &header(n as u64)).unwrap();
        for i in 0..n {
            w.write(&message(i)).unwrap();
        }
        w.finish().unwrap();
        path
    }

    #[test]
    fn a_written_file_verifies_and_its_lines_decode() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(dir.path(), 3);
        let mut decoded = Vec::new();
        let v = scan(&path, |line, _| {
            decoded.push(decode_message(&path, line)?);
            Ok(())
        })
        .unwrap();
        assert_eq!(v.messages.len(), 3);
        assert_eq!(decoded, vec![message(0), message(1), message(2)]);
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(v.size, bytes.len() as u64);
        assert_eq!(v.sha256, hex::encode(Sha256::digest(&bytes)));
    }

    #[test]
    fn truncation_corruption_and_strangers_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(dir.path(), 50);
        let bytes = std::fs::read(&path).unwrap();
        let cut = dir.path().join("cut.archive");
        std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
        assert!(
            matches!(verify(&cut), Err(FormatError::Truncated { .. })),
            "{:?}",
            verify(&cut)
        );
        let mut flipped = bytes.clone();
        let mid = flipped.len() / 2;
        flipped[mid] ^= 0x55;
        let bad = dir.path().join("bad.archive");
        std::fs::write(&bad, &flipped).unwrap();
        assert!(verify(&bad).is_err());
        let mut longer = bytes.clone();
        longer.extend_from_slice(b"junk");
        let long = dir.path().join("long.archive");
        std::fs::write(&long, &longer).unwrap();
        assert!(matches!(verify(&long), Err(FormatError::Corrupt { .. })));
        let text = dir.path().join("text.archive");
        std::fs::write(&text, b"hello\n").unwrap();
        assert!(matches!(verify(&text), Err(FormatError::NotArchive { .. })));
        // A complete gzip stream without a trailer line is incomplete too.
        let no_trailer = dir.path().join("nt.archive");
        let mut gz = GzEncoder::new(Vec::new(), Compression::new(1));
        let mut h = serde_json::to_vec(&Line::Header(header(1))).unwrap();
        h.push(b'\n');
        gz.write_all(&h).unwrap();
        std::fs::write(&no_trailer, gz.finish().unwrap()).unwrap();
        assert!(matches!(
            verify(&no_trailer),
            Err(FormatError::Truncated { .. })
        ));
    }
}

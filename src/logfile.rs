//! Service logs: the one writer (the keeper's, for `start` and `up` alike) and the one reader
//! (`reaper logs`, `logs -f`, `up`'s output and its log readiness probe, start-up error tails).
//!
//! **Format.** `NAME.log` holds the service's output as written, whole lines only, so `cat`,
//! `tail` and `grep` work on it; with `--log-timestamps` each line starts with its RFC 3339 UTC
//! time and a space. Beside it, `NAME.log.idx` says where each write came from, one line per
//! write: `END STREAM MILLIS PREFIXED` (the data file's length after the write, `out` or `err`,
//! Unix time in milliseconds, `1` when the lines carry the time prefix). A write holds whole lines
//! of one stream only, so every line has one stream and one time, whether or not the time is
//! shown in the file: `logs --json`, `--since` and `--until` work on every log.
//!
//! **Rotation** is by rename, done by the writer between two writes (a line is never split):
//! the oldest kept generation (`LOG` itself with `--log-keep 0`) is renamed aside and deleted,
//! `LOG.(N-1)` → `LOG.N`, …, `LOG` → `LOG.1`, each data file before its index, then a new index
//! and a new `LOG` are created (index first). The service never holds the file (it writes to a
//! pipe the keeper reads), so nothing is written to a renamed file and nothing is lost on disk.
//! A follower holds its generation open, reads it to the end once the name points elsewhere, and
//! then finds the next generation by comparing file identities, across any number of rotations;
//! only a follower that falls more than `--log-keep` files behind misses output, says so, and
//! goes on with the oldest generation kept. No rename lands on an existing name and no name is
//! deleted in place, because Windows keeps a deleted file's name until its last reader closes it.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use same_file::Handle;

use crate::state::files;

/// Which pipe a line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Stream {
    /// Standard output.
    Stdout,
    /// Standard error.
    Stderr,
}

impl Stream {
    fn code(self) -> &'static str {
        match self {
            Stream::Stdout => "out",
            Stream::Stderr => "err",
        }
    }
}

/// Output held back without a newline is written as a line of its own once it reaches this
/// size (a service that never writes a newline still has its output on disk).
pub const PARTIAL_FLUSH: usize = 4096;

/// Output held back without a newline is also written once its stream has been quiet this long
/// (a prompt, a progress dot).
pub const IDLE_FLUSH: Duration = Duration::from_millis(500);

/// Length of the time prefix of `--log-timestamps` (`2026-12-06T03:24:03.123Z `).
const PREFIX_LEN: usize = 25;

/// Most rotated generations a log keeps (`--log-keep`).
pub const MAX_KEEP: u32 = 1000;

/// The index beside a log file (`NAME.log.idx`).
pub fn index_path(log: &Path) -> PathBuf {
    let mut name = log.as_os_str().to_owned();
    name.push(".idx");
    PathBuf::from(name)
}

/// A rotated generation of a log (`NAME.log.N`; 0 is the log itself).
pub fn rotated_path(log: &Path, n: u32) -> PathBuf {
    if n == 0 {
        return log.to_path_buf();
    }
    let mut name = log.as_os_str().to_owned();
    name.push(format!(".{n}"));
    PathBuf::from(name)
}

fn millis(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// Writes a service's log: whole lines, one stream per write, rotated by rename.
#[derive(Debug)]
pub struct LogWriter {
    path: PathBuf,
    max_bytes: u64,
    keep: u32,
    timestamps: bool,
    data: File,
    index: File,
    len: u64,
    /// After a failed rotation, the length at which it is tried again (the log grows on until
    /// then: another `max_bytes`).
    retry_rotation_at: Option<u64>,
    /// The file `data` is, to notice a log deleted or replaced under the writer.
    identity: Handle,
    /// This file's number in the sequence of rotations (unknown for an index without a header).
    generation: Option<u64>,
    checked: Instant,
}

/// How often the writer makes sure its file is still the log (one `stat` a second).
const IDENTITY_CHECK: Duration = Duration::from_secs(1);

impl LogWriter {
    /// Opens (or creates) `path` and its index for appending. `max_bytes` 0 never rotates.
    pub fn open(path: &Path, max_bytes: u64, keep: u32, timestamps: bool) -> io::Result<Self> {
        sweep_discarded(path);
        let (index, data, len, identity, generation) = open_for_append(path, 0)?;
        let mut writer = LogWriter {
            path: path.to_path_buf(),
            max_bytes,
            keep,
            timestamps,
            data,
            index,
            len,
            retry_rotation_at: None,
            identity,
            generation,
            checked: Instant::now(),
        };
        writer.index_unindexed()?;
        Ok(writer)
    }

    /// Appends `lines` (whole lines of `stream`, each ending in a newline), rotating first when
    /// they would take the file past its size limit.
    pub fn write(&mut self, stream: Stream, lines: &[u8]) -> io::Result<()> {
        let now = SystemTime::now();
        let body = if self.timestamps {
            let prefix = format!("{} ", humantime::format_rfc3339_millis(now));
            let mut body = Vec::with_capacity(lines.len() + 32);
            for line in lines.split_inclusive(|b| *b == b'\n') {
                body.extend_from_slice(prefix.as_bytes());
                body.extend_from_slice(line);
            }
            body
        } else {
            lines.to_vec()
        };
        if self.checked.elapsed() >= IDENTITY_CHECK {
            self.checked = Instant::now();
            if !Handle::from_path(&self.path).is_ok_and(|now| now == self.identity) {
                self.reopen()?;
                self.note("the log was deleted or replaced; a new one starts here")?;
            }
        }
        let mut rest = &body[..];
        while !rest.is_empty() {
            let part = self.fitting(rest);
            if part == 0 {
                if let Err(e) = self.rotate() {
                    // Not tried again before the note and the rest of this write are in.
                    self.retry_rotation_at = Some(u64::MAX);
                    self.note(&format!(
                        "log not rotated (it grows on; tried again after another {} bytes): {e}",
                        self.max_bytes
                    ))?;
                    self.retry_rotation_at = Some(self.len + self.max_bytes);
                }
                continue;
            }
            self.data.write_all(&rest[..part])?;
            self.len += part as u64;
            self.write_entry(stream, now, self.timestamps)?;
            rest = &rest[part..];
        }
        Ok(())
    }

    /// How many bytes of `lines` (whole lines) go into the current file before it must rotate:
    /// 0 when it must rotate first; at least one line into an empty file, however long.
    fn fitting(&self, lines: &[u8]) -> usize {
        if self.max_bytes == 0 || self.retry_rotation_at.is_some_and(|at| self.len < at) {
            return lines.len();
        }
        let room = usize::try_from(self.max_bytes.saturating_sub(self.len)).unwrap_or(usize::MAX);
        let mut fits = 0;
        for line in lines.split_inclusive(|b| *b == b'\n') {
            if fits + line.len() > room {
                if fits == 0 && self.len == 0 {
                    return line.len();
                }
                break;
            }
            fits += line.len();
        }
        fits
    }

    /// Appends a line from reaper itself (on stderr), marked `[reaper keeper]`.
    pub fn note(&mut self, message: &str) -> io::Result<()> {
        let line = format!("[reaper keeper] {}\n", message.replace('\n', " "));
        let timestamps = std::mem::replace(&mut self.timestamps, false);
        let written = self.write(Stream::Stderr, line.as_bytes());
        self.timestamps = timestamps;
        written
    }

    /// Starts writing to whatever is at the log's path now (a new file if nothing is).
    fn reopen(&mut self) -> io::Result<()> {
        let next = self.generation.map_or(0, |n| n + 1);
        (
            self.index,
            self.data,
            self.len,
            self.identity,
            self.generation,
        ) = open_for_append(&self.path, next)?;
        self.index_unindexed()
    }

    /// Gives the bytes no entry covers (an older reaper's log, or a writer killed between its
    /// two writes) to stdout, so the next entry covers only its own lines.
    fn index_unindexed(&mut self) -> io::Result<()> {
        if last_indexed_end(&index_path(&self.path)) < self.len {
            self.write_entry(Stream::Stdout, SystemTime::now(), false)?;
        }
        Ok(())
    }

    fn write_entry(&mut self, stream: Stream, time: SystemTime, prefixed: bool) -> io::Result<()> {
        let entry = format!(
            "{} {} {} {}\n",
            self.len,
            stream.code(),
            millis(time),
            u8::from(prefixed)
        );
        self.index.write_all(entry.as_bytes())
    }

    fn rotate(&mut self) -> io::Result<()> {
        // The oldest kept generation goes first (with `--log-keep 0`, the log itself), so no
        // rename below lands on an existing file.
        discard_generation(&self.path, &rotated_path(&self.path, self.keep))?;
        if self.keep > 0 {
            // Only the generations there are (numbered without gaps): a rotation costs two
            // renames per kept file, not per possible one.
            for n in (0..=rotated_count(&self.path, self.keep - 1)).rev() {
                let (from, to) = (rotated_path(&self.path, n), rotated_path(&self.path, n + 1));
                ignore_missing(std::fs::rename(&from, &to))?;
                ignore_missing(std::fs::rename(index_path(&from), index_path(&to)))?;
            }
        }
        // Index first: whoever opens the new `LOG` finds its index already there.
        self.index = files::create_new(&index_path(&self.path))?;
        let next = self.generation.map_or(0, |n| n + 1);
        write_header(&mut self.index, next)?;
        self.generation = Some(next);
        self.data = files::create_new(&self.path)?;
        self.identity = Handle::from_file(self.data.try_clone()?)?;
        self.len = 0;
        self.retry_rotation_at = None;
        Ok(())
    }
}

fn ignore_missing(result: io::Result<()>) -> io::Result<()> {
    match result {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        other => other,
    }
}

/// What a discarded generation is renamed to before it is deleted (`NAME.log.removed-…`).
const REMOVED_INFIX: &str = ".removed-";

/// A new name beside `log` for a file about to be deleted: `LOG.removed-PID-NANOS`.
fn aside_name(log: &Path) -> PathBuf {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let mut name = log.as_os_str().to_owned();
    name.push(format!("{REMOVED_INFIX}{}-{nanos}", std::process::id()));
    PathBuf::from(name)
}

/// Deletes `file`, renaming it to `aside` first: Windows deletes a file that a follower holds
/// open only once the follower closes it, and until then the name stays taken (a new `LOG`
/// could not be created there, nor a rename land on it). A rename never writes through a
/// name: a link planted at `LOG.N` is moved, not followed.
fn discard(file: &Path, aside: &Path) -> io::Result<()> {
    if std::fs::symlink_metadata(file).is_ok_and(|meta| meta.is_dir()) {
        return Err(io::Error::other(format!(
            "{} is a directory (remove it)",
            file.display()
        )));
    }
    match std::fs::rename(file, aside) {
        Ok(()) => std::fs::remove_file(aside),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

/// Deletes the generation at `data` of `log` and its index.
fn discard_generation(log: &Path, data: &Path) -> io::Result<()> {
    let aside = aside_name(log);
    discard(data, &aside)?;
    discard(&index_path(data), &index_path(&aside))
}

/// Deletes what a writer killed between the two steps of [`discard`] left of `log`: names made
/// by [`aside_name`] only (`LOG.removed-PID-NANOS`, and its `.idx`), never another service's log.
fn sweep_discarded(log: &Path) {
    let (Some(dir), Some(name)) = (log.parent(), log.file_name()) else {
        return;
    };
    let mut prefix = name.to_owned();
    prefix.push(REMOVED_INFIX);
    let made_by_discard = |file: &std::ffi::OsStr| {
        file.as_encoded_bytes()
            .strip_prefix(prefix.as_encoded_bytes())
            .map(|rest| rest.strip_suffix(b".idx").unwrap_or(rest))
            .is_some_and(|rest| {
                !rest.is_empty() && rest.iter().all(|b| b.is_ascii_digit() || *b == b'-')
            })
    };
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        if made_by_discard(&entry.file_name()) {
            // On Windows, a file a follower still holds is already being deleted: ignored.
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// The first line of an index: the file's number in the sequence of rotations, so a follower
/// can tell whether it skipped one.
const GENERATION_HEADER: &str = "#generation ";

fn write_header(index: &mut File, generation: u64) -> io::Result<()> {
    index.write_all(format!("{GENERATION_HEADER}{generation}\n").as_bytes())
}

/// The generation an index's header names.
fn read_header(index: &mut impl BufRead) -> io::Result<Option<u64>> {
    let mut first = String::new();
    index.read_line(&mut first)?;
    Ok(header_generation(&first))
}

/// The generation `line` names if it is a whole header line.
fn header_generation(line: &str) -> Option<u64> {
    line.strip_suffix('\n')?
        .strip_prefix(GENERATION_HEADER)?
        .parse()
        .ok()
}

/// The entry a whole index line holds; a header, when `generation` is not known yet (the
/// index was opened between its creation and its header), sets it.
fn index_line(generation: &mut Option<u64>, line: &str) -> Option<Entry> {
    if generation.is_none() {
        if let Some(named) = header_generation(line) {
            *generation = Some(named);
            return None;
        }
    }
    Entry::parse(line.trim_end())
}

/// A log and its index opened for appending: index, data, data length, data identity and
/// generation (a new index gets `new_generation`).
fn open_for_append(
    path: &Path,
    new_generation: u64,
) -> io::Result<(File, File, u64, Handle, Option<u64>)> {
    let data = files::open_append(path)?;
    let len = data.metadata()?.len();
    // An index that covers more than the data belongs to a log deleted since (the data file
    // was deleted alone): it starts again.
    if last_indexed_end(&index_path(path)) > len {
        discard(&index_path(path), &index_path(&aside_name(path)))?;
    }
    let mut index = files::open_append(&index_path(path))?;
    let generation = if index.metadata()?.len() == 0 {
        write_header(&mut index, new_generation)?;
        Some(new_generation)
    } else {
        read_header(&mut BufReader::new(files::open_read(&index_path(path))?))?
    };
    let identity = Handle::from_file(data.try_clone()?)?;
    Ok((index, data, len, identity, generation))
}

/// The data length the last entry of an index covers (0 without an index).
fn last_indexed_end(index: &Path) -> u64 {
    let Ok(mut file) = files::open_read(index) else {
        return 0;
    };
    let len = file.metadata().map_or(0, |m| m.len());
    if file.seek(SeekFrom::Start(len.saturating_sub(256))).is_err() {
        return 0;
    }
    let mut tail = String::new();
    if file.read_to_string(&mut tail).is_err() {
        return 0;
    }
    tail.lines()
        .rev()
        .find_map(Entry::parse)
        .map_or(0, |e| e.end)
}

enum Message {
    Output(Stream, Vec<u8>),
    Closed,
    Note(String),
}

/// The keeper's log pump: one thread per pipe reads, one thread owns the file and writes. The
/// channel between them is bounded, so a service that writes faster than the disk is slowed
/// down by its full pipe, never has output dropped.
pub struct LogPump {
    sender: mpsc::SyncSender<Message>,
    writer: std::thread::JoinHandle<()>,
    /// Messages sent by the pipe readers, and handled by the writer.
    sent: Arc<AtomicU64>,
    handled: Arc<AtomicU64>,
}

impl LogPump {
    /// Starts pumping `stdout` and `stderr` (the read ends of the service's pipes) into `log`.
    pub fn start(
        mut log: LogWriter,
        stdout: impl Read + Send + 'static,
        stderr: impl Read + Send + 'static,
    ) -> LogPump {
        let (sender, receiver) = mpsc::sync_channel::<Message>(16);
        let sent = Arc::new(AtomicU64::new(0));
        let handled = Arc::new(AtomicU64::new(0));
        for (stream, pipe) in [
            (Stream::Stdout, Box::new(stdout) as Box<dyn Read + Send>),
            (Stream::Stderr, Box::new(stderr)),
        ] {
            let sender = sender.clone();
            let sent = sent.clone();
            std::thread::spawn(move || read_pipe(stream, pipe, &sender, &sent));
        }
        let handled_by_writer = handled.clone();
        let writer = std::thread::spawn(move || {
            let mut lines = LineAssembler::default();
            let mut open = 2;
            let mut lost: Option<(u64, io::Error)> = None;
            while open > 0 {
                let message = receiver.recv_timeout(IDLE_FLUSH);
                let counted = matches!(message, Ok(Message::Output(..) | Message::Closed));
                let ready = match message {
                    Ok(Message::Output(stream, bytes)) => lines.push(stream, &bytes),
                    Ok(Message::Closed) => {
                        open -= 1;
                        lines.flush_all()
                    }
                    Ok(Message::Note(text)) => {
                        let _ = log.note(&text);
                        Vec::new()
                    }
                    Err(mpsc::RecvTimeoutError::Timeout) => lines.flush_all(),
                    Err(mpsc::RecvTimeoutError::Disconnected) => break,
                };
                for (stream, bytes) in ready {
                    if let Err(e) = log.write(stream, &bytes) {
                        // The disk is full or gone: the pipes are still drained (a blocked
                        // service would hang), and the loss is reported once writing works.
                        let (count, _) = lost.get_or_insert((0, e));
                        *count += bytes.len() as u64;
                    } else if let Some((count, e)) = lost.take() {
                        let _ = log.note(&format!("{count} bytes of output lost: {e}"));
                    }
                }
                if counted {
                    handled_by_writer.fetch_add(1, Ordering::SeqCst);
                }
            }
        });
        LogPump {
            sender,
            writer,
            sent,
            handled,
        }
    }

    /// Waits, at most `limit`, until the output already in the pipes is written: the readers
    /// have found nothing more for a few milliseconds and the writer has handled all they sent.
    pub fn settle(&self, limit: Duration) {
        let deadline = Instant::now() + limit;
        let mut last = u64::MAX;
        while Instant::now() < deadline {
            let sent = self.sent.load(Ordering::SeqCst);
            if sent == last && self.handled.load(Ordering::SeqCst) == sent {
                return;
            }
            last = sent;
            std::thread::sleep(Duration::from_millis(3));
        }
    }

    /// Adds a line from the keeper itself.
    pub fn note(&self, message: &str) {
        let _ = self.sender.send(Message::Note(message.to_string()));
    }

    /// Waits until both pipes are closed and everything is written, at most `limit` (a process
    /// that escaped the tree may hold a pipe open; the keeper does not wait for it forever).
    pub fn finish(self, limit: Duration) {
        drop(self.sender);
        let deadline = std::time::Instant::now() + limit;
        while !self.writer.is_finished() && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

fn read_pipe(
    stream: Stream,
    mut pipe: Box<dyn Read + Send>,
    sender: &mpsc::SyncSender<Message>,
    sent: &AtomicU64,
) {
    let mut buffer = vec![0; 64 * 1024];
    loop {
        match pipe.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => {
                // Counted first: the writer's count never passes it.
                sent.fetch_add(1, Ordering::SeqCst);
                if sender
                    .send(Message::Output(stream, buffer[..n].to_vec()))
                    .is_err()
                {
                    return;
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            // A pipe reports its end as EOF on Unix, as an error (broken pipe) on Windows.
            Err(_) => break,
        }
    }
    sent.fetch_add(1, Ordering::SeqCst);
    let _ = sender.send(Message::Closed);
}

/// Cuts each stream's output into whole lines; what is held back without a newline is released
/// as a line of its own once it reaches [`PARTIAL_FLUSH`] bytes or on a flush.
#[derive(Debug, Default)]
pub struct LineAssembler {
    pending: [Vec<u8>; 2],
}

impl LineAssembler {
    /// Adds output of `stream`; returns what is ready to be written.
    pub fn push(&mut self, stream: Stream, bytes: &[u8]) -> Vec<(Stream, Vec<u8>)> {
        let pending = &mut self.pending[stream as usize];
        pending.extend_from_slice(bytes);
        let mut ready = match pending.iter().rposition(|b| *b == b'\n') {
            Some(end) => pending.drain(..=end).collect(),
            None => Vec::new(),
        };
        while pending.len() >= PARTIAL_FLUSH {
            // Cut before a UTF-8 continuation byte, so a character is not split in two lines.
            let cut = (1..=PARTIAL_FLUSH)
                .rev()
                .find(|i| pending.get(*i).is_none_or(|b| b & 0xC0 != 0x80))
                .unwrap_or(PARTIAL_FLUSH);
            ready.extend(pending.drain(..cut));
            ready.push(b'\n');
        }
        if ready.is_empty() {
            Vec::new()
        } else {
            vec![(stream, ready)]
        }
    }

    /// Releases everything held back, each stream's rest as a line of its own.
    pub fn flush_all(&mut self) -> Vec<(Stream, Vec<u8>)> {
        let mut ready = Vec::new();
        for (stream, pending) in [Stream::Stdout, Stream::Stderr]
            .into_iter()
            .zip(self.pending.iter_mut())
        {
            if !pending.is_empty() {
                pending.push(b'\n');
                ready.push((stream, std::mem::take(pending)));
            }
        }
        ready
    }
}

/// One line of a log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine {
    /// The pipe it came from.
    pub stream: Stream,
    /// When the keeper wrote it (`None` for a log without an index).
    pub time: Option<SystemTime>,
    /// The line as stored, time prefix included, without its newline.
    pub shown: String,
    prefix: usize,
}

impl LogLine {
    /// The line as the service wrote it (without the time prefix).
    pub fn text(&self) -> &str {
        &self.shown[self.prefix..]
    }
}

/// An index entry.
#[derive(Debug, Clone, Copy)]
struct Entry {
    end: u64,
    stream: Stream,
    time: SystemTime,
    prefixed: bool,
}

impl Entry {
    fn parse(line: &str) -> Option<Entry> {
        let mut fields = line.split(' ');
        let end = fields.next()?.parse().ok()?;
        let stream = match fields.next()? {
            "out" => Stream::Stdout,
            "err" => Stream::Stderr,
            _ => return None,
        };
        let time = UNIX_EPOCH + Duration::from_millis(fields.next()?.parse().ok()?);
        let prefixed = fields.next()? == "1";
        Some(Entry {
            end,
            stream,
            time,
            prefixed,
        })
    }
}

fn push_lines(
    bytes: &[u8],
    stream: Stream,
    time: Option<SystemTime>,
    prefixed: bool,
    out: &mut Vec<LogLine>,
) {
    let bytes = bytes.strip_suffix(b"\n").unwrap_or(bytes);
    if bytes.is_empty() && time.is_none() {
        return;
    }
    for line in bytes.split(|b| *b == b'\n') {
        let shown = String::from_utf8_lossy(line.strip_suffix(b"\r").unwrap_or(line)).into_owned();
        let prefix = if prefixed && shown.len() >= PREFIX_LEN && shown.is_char_boundary(PREFIX_LEN)
        {
            PREFIX_LEN
        } else {
            0
        };
        out.push(LogLine {
            stream,
            time,
            shown,
            prefix,
        });
    }
}

/// One generation of a log (the log itself or a rotated `LOG.N`), open for reading.
#[derive(Debug)]
struct Generation {
    data: File,
    identity: Handle,
    /// Its number in the sequence of rotations, if its index has a header.
    generation: Option<u64>,
    index: Option<BufReader<File>>,
    /// Data bytes consumed.
    offset: u64,
    /// An index line read in part (the writer is between two writes).
    partial_entry: String,
}

impl Generation {
    /// Opens the generation at `path` with the index that belongs to it: the name still points
    /// at the same file once both are open, so no rotation came between (rotation moves a data
    /// file before its index and creates a new index before its data). `None` when there is no
    /// file at `path`.
    fn open(path: &Path) -> io::Result<Option<Generation>> {
        for _ in 0..100 {
            let data = match files::open_read(path) {
                Ok(data) => data,
                Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
                Err(e) => return Err(e),
            };
            let identity = Handle::from_file(data.try_clone()?)?;
            let mut index = None;
            let mut generation = None;
            // A rotated data file's index follows it a moment later.
            for _ in 0..20 {
                match files::open_read(&index_path(path)) {
                    Ok(file) => {
                        let mut reader = BufReader::new(file);
                        generation = read_header(&mut reader)?;
                        if generation.is_none() {
                            // Entries, or a header being written: read as they come.
                            reader.seek(SeekFrom::Start(0))?;
                        }
                        index = Some(reader);
                        break;
                    }
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {
                        std::thread::sleep(Duration::from_millis(1));
                    }
                    Err(e) => return Err(e),
                }
            }
            if Handle::from_path(path).is_ok_and(|now| now == identity) {
                return Ok(Some(Generation {
                    data,
                    identity,
                    generation,
                    index,
                    offset: 0,
                    partial_entry: String::new(),
                }));
            }
        }
        Err(io::Error::other(format!(
            "{} keeps changing while it is opened",
            path.display()
        )))
    }

    /// Skips what is written now without reading it: to the end of the last entry (the end of
    /// the data without an index).
    fn skip_to_end(&mut self) -> io::Result<()> {
        match &mut self.index {
            Some(index) => {
                let mut line = String::new();
                while index.read_line(&mut line)? > 0 && line.ends_with('\n') {
                    if let Some(entry) = index_line(&mut self.generation, &line) {
                        self.offset = self.offset.max(entry.end);
                    }
                    line.clear();
                }
                self.partial_entry = line;
            }
            None => self.offset = self.data.metadata()?.len(),
        }
        Ok(())
    }

    /// Reads the lines written since the last call. `writer_gone`: also the bytes after the
    /// last index entry (a log without an index, or a writer killed between its two writes).
    fn read_new(&mut self, out: &mut Vec<LogLine>, writer_gone: bool) -> io::Result<()> {
        if let Some(index) = &mut self.index {
            loop {
                let read = index.read_line(&mut self.partial_entry)?;
                if read == 0 || !self.partial_entry.ends_with('\n') {
                    break;
                }
                let entry = index_line(&mut self.generation, &self.partial_entry);
                self.partial_entry.clear();
                let Some(entry) = entry else { continue };
                if entry.end > self.offset {
                    let bytes = read_range(&mut self.data, self.offset, entry.end)?;
                    self.offset = entry.end;
                    push_lines(&bytes, entry.stream, Some(entry.time), entry.prefixed, out);
                }
            }
        }
        if writer_gone || self.index.is_none() {
            let len = self.data.metadata()?.len();
            if len > self.offset {
                let mut bytes = read_range(&mut self.data, self.offset, len)?;
                // Only whole lines while someone may still be writing.
                let whole = if writer_gone {
                    bytes.len()
                } else {
                    bytes.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1)
                };
                bytes.truncate(whole);
                self.offset += whole as u64;
                push_lines(&bytes, Stream::Stdout, None, false, out);
            }
        }
        Ok(())
    }
}

fn read_range(file: &mut File, from: u64, to: u64) -> io::Result<Vec<u8>> {
    file.seek(SeekFrom::Start(from))?;
    let mut bytes = Vec::new();
    file.take(to - from).read_to_end(&mut bytes)?;
    Ok(bytes)
}

/// The last `count` lines of a log that `keep` accepts (all of them with `None`), oldest first,
/// reaching into rotated generations as far as it takes.
pub fn read_log(
    path: &Path,
    count: Option<usize>,
    keep: impl FnMut(&LogLine) -> bool,
) -> io::Result<Vec<LogLine>> {
    Ok(LogFollower::with_tail(path, count, keep, true)?.1)
}

/// The last `count` lines of a log as stored, reaching into rotated generations when the log
/// holds fewer.
pub fn tail_log(path: &Path, count: usize) -> io::Result<Vec<String>> {
    Ok(read_log(path, Some(count), |_| true)?
        .into_iter()
        .map(|line| line.shown)
        .collect())
}

/// Follows a log as it grows, across rotations.
#[derive(Debug)]
pub struct LogFollower {
    path: PathBuf,
    current: Option<Generation>,
}

/// What a follower found.
#[derive(Debug, Default)]
pub struct Followed {
    /// New lines, oldest first.
    pub lines: Vec<LogLine>,
    /// Generations rotated away (deleted) before they could be read: their lines are missing.
    pub missed: bool,
}

impl LogFollower {
    /// Follows from the end of what `path` holds now (from its start if it does not exist yet).
    pub fn from_end(path: &Path) -> io::Result<LogFollower> {
        let mut current = Generation::open(path)?;
        if let Some(generation) = &mut current {
            generation.skip_to_end()?;
        }
        Ok(LogFollower {
            path: path.to_path_buf(),
            current,
        })
    }

    /// The last `count` lines of the log that `keep` accepts (all with `None`), oldest first,
    /// and a follower that goes on right after them: nothing written meanwhile is missed or
    /// repeated. `writer_gone`: see [`LogFollower::poll_final`].
    pub fn with_tail(
        path: &Path,
        count: Option<usize>,
        mut keep: impl FnMut(&LogLine) -> bool,
        writer_gone: bool,
    ) -> io::Result<(LogFollower, Vec<LogLine>)> {
        let mut follower = LogFollower {
            path: path.to_path_buf(),
            current: Generation::open(path)?,
        };
        let first = match &follower.current {
            Some(generation) => Some(Handle::from_file(generation.data.try_clone()?)?),
            None => None,
        };
        let mut lines = follower.read(writer_gone)?.lines;
        lines.retain(&mut keep);
        // The generations before the one read first, wherever rotations have moved it since.
        let older_from = match &first {
            None => None,
            Some(first) if Handle::from_path(path).is_ok_and(|now| now == *first) => Some(1),
            Some(first) => position_of(path, first)?.map(|n| n + 1),
        };
        if let Some(from) = older_from {
            for n in from..=MAX_KEEP {
                if count.is_some_and(|count| lines.len() >= count) {
                    break;
                }
                let Some(mut generation) = Generation::open(&rotated_path(path, n))? else {
                    break;
                };
                let mut older = Vec::new();
                generation.read_new(&mut older, true)?;
                older.retain(&mut keep);
                older.append(&mut lines);
                lines = older;
            }
        }
        if let Some(count) = count {
            lines.drain(..lines.len().saturating_sub(count));
        }
        Ok((follower, lines))
    }

    /// Follows from byte `offset` of the log as it is now (lines written after a known size).
    /// A log that cannot be opened yet is opened by [`LogFollower::poll`], from its start.
    pub fn from_offset(path: &Path, offset: u64) -> LogFollower {
        let mut current = Generation::open(path).ok().flatten();
        if let Some(generation) = &mut current {
            // Entries ending at or before `offset` are passed over; an offset taken from the
            // file's size is an entry's end (the data is written before its entry).
            // A log rotated since the offset was taken is read from its start.
            if generation.data.metadata().is_ok_and(|m| offset <= m.len()) {
                generation.offset = offset;
            }
        }
        LogFollower {
            path: path.to_path_buf(),
            current,
        }
    }

    /// The lines written since the last call, across any rotations since.
    pub fn poll(&mut self) -> io::Result<Followed> {
        self.read(false)
    }

    /// Like [`LogFollower::poll`], plus the bytes no index entry covers: call once the writer
    /// is gone (a keeper killed between its two writes leaves such bytes).
    pub fn poll_final(&mut self) -> io::Result<Followed> {
        self.read(true)
    }

    fn read(&mut self, writer_gone: bool) -> io::Result<Followed> {
        let mut found = Followed::default();
        for _ in 0..10_000 {
            let Some(generation) = &mut self.current else {
                self.current = Generation::open(&self.path)?;
                if self.current.is_none() {
                    break;
                }
                continue;
            };
            generation.read_new(&mut found.lines, false)?;
            if Handle::from_path(&self.path).is_ok_and(|now| now == generation.identity) {
                if writer_gone {
                    generation.read_new(&mut found.lines, true)?;
                }
                break;
            }
            // Rotated: whatever was written before the rename is in the index by now.
            generation.read_new(&mut found.lines, false)?;
            // The generation after it; when it is gone (rotated past `--log-keep`, or deleted),
            // the oldest one kept after it, and the lines in between are reported missing.
            let position = position_of(&self.path, &generation.identity)?;
            let next = match position {
                Some(n) => Generation::open(&rotated_path(&self.path, n - 1))?,
                None => oldest_after(&self.path, generation.generation)?,
            };
            match next {
                Some(next) => {
                    found.missed |= match (generation.generation, next.generation) {
                        (Some(read), Some(next)) => next != read + 1,
                        _ => position.is_none(),
                    };
                    self.current = Some(next);
                }
                // Between a rename and the new file: the next call goes on.
                None => break,
            }
        }
        Ok(found)
    }
}

/// The oldest generation of `log` kept that came after generation `read`; the log itself
/// when none did, or when `read` is unknown.
fn oldest_after(log: &Path, read: Option<u64>) -> io::Result<Option<Generation>> {
    if let Some(read) = read {
        for n in (1..=rotated_count(log, MAX_KEEP)).rev() {
            let Some(kept) = Generation::open(&rotated_path(log, n))? else {
                continue;
            };
            if kept.generation.is_some_and(|kept| kept > read) {
                return Ok(Some(kept));
            }
        }
    }
    Generation::open(log)
}

/// How many rotated generations `LOG.1`, `LOG.2`, … follow each other without a gap, at most
/// `up_to`.
fn rotated_count(log: &Path, up_to: u32) -> u32 {
    (1..=up_to)
        .take_while(|n| std::fs::symlink_metadata(rotated_path(log, *n)).is_ok())
        .last()
        .unwrap_or(0)
}

/// The `N` of the rotated `LOG.N` that `identity` is now, if it still exists.
fn position_of(log: &Path, identity: &Handle) -> io::Result<Option<u32>> {
    for n in 1..=MAX_KEEP {
        match Handle::from_path(rotated_path(log, n)) {
            Ok(handle) if handle == *identity => return Ok(Some(n)),
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assemble(chunks: &[&[u8]]) -> Vec<Vec<u8>> {
        let mut lines = LineAssembler::default();
        let mut out = Vec::new();
        for chunk in chunks {
            out.extend(
                lines
                    .push(Stream::Stdout, chunk)
                    .into_iter()
                    .map(|(_, b)| b),
            );
        }
        out.extend(lines.flush_all().into_iter().map(|(_, b)| b));
        out
    }

    #[test]
    fn a_line_cut_across_reads_is_written_whole() {
        assert_eq!(
            assemble(&[b"one\ntw", b"o\nthr", b"ee"]),
            vec![b"one\n".to_vec(), b"two\n".to_vec(), b"three\n".to_vec()]
        );
    }

    #[test]
    fn output_without_newlines_is_released_by_size() {
        let big = vec![b'x'; PARTIAL_FLUSH];
        let out = assemble(&[&big[..10], &big[10..], &big[..10]]);
        assert_eq!(out.len(), 2);
        assert_eq!(out[0].len(), PARTIAL_FLUSH + 1);
        assert_eq!(out[1], b"xxxxxxxxxx\n");
        let accents = "é".repeat(PARTIAL_FLUSH);
        for line in assemble(&[accents.as_bytes()]) {
            assert!(std::str::from_utf8(&line).is_ok());
        }
    }

    #[test]
    fn streams_are_held_apart() {
        let mut lines = LineAssembler::default();
        assert!(lines.push(Stream::Stdout, b"half").is_empty());
        assert_eq!(
            lines.push(Stream::Stderr, b"err\n"),
            vec![(Stream::Stderr, b"err\n".to_vec())]
        );
        assert_eq!(
            lines.push(Stream::Stdout, b" done\n"),
            vec![(Stream::Stdout, b"half done\n".to_vec())]
        );
    }

    #[test]
    fn rotation_keeps_lines_whole_and_follower_reads_every_generation() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("svc.log");
        let mut writer = LogWriter::open(&log, 64, 50, false).unwrap();
        let mut follower = LogFollower::from_end(&log).unwrap();
        let mut seen = Vec::new();
        for i in 0..400 {
            let stream = if i % 3 == 0 {
                Stream::Stderr
            } else {
                Stream::Stdout
            };
            writer
                .write(stream, format!("line {i:04}\n").as_bytes())
                .unwrap();
            if i % 37 == 0 {
                seen.extend(follower.poll().unwrap().lines);
            }
        }
        let last = follower.poll().unwrap();
        assert!(!last.missed);
        seen.extend(last.lines);
        let texts: Vec<String> = seen.iter().map(|l| l.text().to_string()).collect();
        let expected: Vec<String> = (0..400).map(|i| format!("line {i:04}")).collect();
        assert_eq!(texts, expected);
        assert!(
            seen.iter()
                .enumerate()
                .all(|(i, l)| (l.stream == Stream::Stderr) == (i % 3 == 0))
        );
        assert!(rotated_path(&log, 50).exists() && !rotated_path(&log, 51).exists());
        for n in 0..=50 {
            if let Ok(bytes) = std::fs::read(rotated_path(&log, n)) {
                assert!(bytes.ends_with(b"\n") && bytes.len() <= 64);
            }
        }
    }

    #[test]
    fn a_follower_says_when_it_fell_behind_and_only_then() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("svc.log");
        let texts = |found: &Followed| -> Vec<String> {
            found.lines.iter().map(|l| l.text().to_string()).collect()
        };
        for keep in [0, 1] {
            let mut writer = LogWriter::open(&log, 16, keep, false).unwrap();
            let mut follower = LogFollower::from_end(&log).unwrap();
            // One rotation per write; polled after each: nothing is missed or repeated, even
            // with no rotated file kept (the follower holds the file it reads).
            for i in 0..5 {
                let line = format!("line {i:07}");
                writer
                    .write(Stream::Stdout, format!("{line}\n").as_bytes())
                    .unwrap();
                let found = follower.poll().unwrap();
                assert!(!found.missed, "keep {keep}");
                assert_eq!(texts(&found), [line], "keep {keep}");
            }
            // Three rotations between two polls with at most one file kept: the first is
            // missed, and said so; what is still kept is read.
            for i in 0..3 {
                writer
                    .write(Stream::Stdout, format!("line {i:07}\n").as_bytes())
                    .unwrap();
            }
            let found = follower.poll().unwrap();
            assert!(found.missed, "keep {keep}");
            let kept: Vec<String> = (2 - keep..3).map(|i| format!("line {i:07}")).collect();
            assert_eq!(texts(&found), kept, "keep {keep}");
        }
    }

    #[test]
    fn a_follower_caught_in_the_middle_of_a_rotation_misses_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("svc.log");
        let mut writer = LogWriter::open(&log, 16, 3, false).unwrap();
        let mut follower = LogFollower::from_end(&log).unwrap();
        let write = |writer: &mut LogWriter, i: u32| {
            writer
                .write(Stream::Stdout, format!("line {i:07}\n").as_bytes())
                .unwrap();
        };
        write(&mut writer, 0);
        assert_eq!(follower.poll().unwrap().lines.len(), 1);
        // The file read is now `LOG.2`; the next rotation has moved it to `LOG.3` and not yet
        // `LOG.1` to `LOG.2`: the follower finds its file nowhere below the gap.
        write(&mut writer, 1);
        write(&mut writer, 2);
        let (from, to) = (rotated_path(&log, 2), rotated_path(&log, 3));
        std::fs::rename(&from, &to).unwrap();
        std::fs::rename(index_path(&from), index_path(&to)).unwrap();
        let found = follower.poll().unwrap();
        let texts: Vec<&str> = found.lines.iter().map(LogLine::text).collect();
        assert_eq!(texts, ["line 0000001", "line 0000002"]);
        assert!(!found.missed);
    }

    #[test]
    fn a_generation_opened_before_its_header_is_written_learns_its_number() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("svc.log");
        std::fs::write(&log, "a\n").unwrap();
        // The writer has created the index and not yet written its header.
        std::fs::write(index_path(&log), "#genera").unwrap();
        let mut generation = Generation::open(&log).unwrap().unwrap();
        assert_eq!(generation.generation, None);
        let mut index = files::open_append(&index_path(&log)).unwrap();
        index.write_all(b"tion 7\n2 err 0 0\n").unwrap();
        let mut lines = Vec::new();
        generation.read_new(&mut lines, false).unwrap();
        assert_eq!(generation.generation, Some(7));
        assert_eq!(lines.len(), 1);
        assert_eq!((lines[0].text(), lines[0].stream), ("a", Stream::Stderr));
    }

    #[test]
    fn a_failed_rotation_is_tried_again_once_the_log_has_grown_by_its_limit() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("svc.log");
        let mut writer = LogWriter::open(&log, 16, 1, false).unwrap();
        // A directory where the oldest kept file is: the rotation fails, and says why.
        std::fs::create_dir(rotated_path(&log, 1)).unwrap();
        let lines: Vec<String> = (0..8).map(|i| format!("line {i:07}\n")).collect();
        for line in &lines[..2] {
            writer.write(Stream::Stdout, line.as_bytes()).unwrap();
        }
        let texts = || -> Vec<String> {
            let read = std::fs::read_to_string(&log).unwrap();
            read.lines().map(str::to_string).collect()
        };
        let first = texts();
        assert_eq!(first.len(), 3, "{first:?}");
        assert!(
            first[1].starts_with(
                "[reaper keeper] log not rotated (it grows on; tried again after another 16 bytes)"
            ) && first[1].ends_with("svc.log.1 is a directory (remove it)"),
            "{first:?}"
        );
        // Tried again once the log has grown by another 16 bytes (one note per try, however
        // long the note itself is), and again while the directory is there.
        for line in &lines[2..4] {
            writer.write(Stream::Stdout, line.as_bytes()).unwrap();
        }
        let notes = texts()
            .iter()
            .filter(|l| l.starts_with("[reaper keeper] log not rotated"))
            .count();
        assert_eq!(notes, 2);
        // Removed: the next try works.
        std::fs::remove_dir(rotated_path(&log, 1)).unwrap();
        for line in &lines[4..] {
            writer.write(Stream::Stdout, line.as_bytes()).unwrap();
        }
        assert_eq!(texts().last().unwrap(), "line 0000007");
        assert!(std::fs::metadata(rotated_path(&log, 1)).unwrap().is_file());
        assert!(std::fs::metadata(&log).unwrap().len() <= 16);
    }

    #[test]
    fn a_follower_racing_the_writer_repeats_nothing_and_reports_every_gap() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("svc.log");
        let mut writer = LogWriter::open(&log, 64, 2, false).unwrap();
        let mut follower = LogFollower::from_end(&log).unwrap();
        const LINES: u32 = 3000;
        let writing = std::thread::spawn(move || {
            for i in 1..=LINES {
                writer
                    .write(Stream::Stdout, format!("{i}\n").as_bytes())
                    .unwrap();
            }
        });
        // A poll says it missed lines when it moves past generations that are gone, which may
        // be before the first line after the gap is there to read: a later poll brings it.
        let (mut last, mut said_before) = (0, false);
        while last < LINES {
            let found = follower.poll().unwrap();
            for (i, line) in found.lines.iter().enumerate() {
                let number: u32 = line
                    .text()
                    .parse()
                    .unwrap_or_else(|_| panic!("not a line the writer wrote: {line:?}"));
                assert!(number > last, "line {number} after line {last}");
                assert!(
                    number == last + 1 || found.missed || (i == 0 && said_before),
                    "lines {} to {} missed without saying so",
                    last + 1,
                    number - 1
                );
                last = number;
            }
            said_before = found.missed || (said_before && found.lines.is_empty());
        }
        writing.join().unwrap();
    }

    /// The files in `dir`, sorted.
    fn names_in(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn a_follower_that_stops_reading_neither_stops_rotation_nor_leaves_files_behind() {
        for keep in [0, 1, 3] {
            let dir = tempfile::tempdir().unwrap();
            let log = dir.path().join("svc.log");
            let mut writer = LogWriter::open(&log, 16, keep, false).unwrap();
            writer.write(Stream::Stdout, b"line 0000000\n").unwrap();
            // Holds the first generation open, then falls behind by ten rotations.
            let mut follower = LogFollower::from_end(&log).unwrap();
            for i in 1..=10 {
                writer
                    .write(Stream::Stdout, format!("line {i:07}\n").as_bytes())
                    .unwrap();
            }
            let lines = read_log(&log, None, |_| true).unwrap();
            let texts: Vec<&str> = lines.iter().map(LogLine::text).collect();
            let kept_from = 10 - keep as usize;
            let expected: Vec<String> = (kept_from..=10).map(|i| format!("line {i:07}")).collect();
            assert_eq!(texts, expected, "keep {keep}: rotated every write, no note");
            let found = follower.poll().unwrap();
            assert!(found.missed, "keep {keep}");
            assert_eq!(found.lines, lines, "keep {keep}: every line still kept");
            drop(follower);
            let mut expected = vec!["svc.log".to_string(), "svc.log.idx".to_string()];
            for n in 1..=keep {
                expected.extend([format!("svc.log.{n}"), format!("svc.log.{n}.idx")]);
            }
            expected.sort();
            assert_eq!(names_in(dir.path()), expected, "keep {keep}");
        }
    }

    #[test]
    fn a_writer_removes_what_a_killed_rotation_left_and_nothing_else() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("svc.log");
        let left = aside_name(&log);
        for file in [index_path(&left), left] {
            std::fs::write(file, "old\n").unwrap();
        }
        // Another service's log whose name starts the same way is not touched.
        std::fs::write(dir.path().join("svc.log.removed-1-2.log"), "other\n").unwrap();
        LogWriter::open(&log, 0, 1, false).unwrap();
        assert_eq!(
            names_in(dir.path()),
            ["svc.log", "svc.log.idx", "svc.log.removed-1-2.log"]
        );
    }

    #[test]
    fn timestamps_are_shown_and_stripped_from_the_text() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("svc.log");
        let mut writer = LogWriter::open(&log, 0, 0, true).unwrap();
        writer.write(Stream::Stdout, b"a\nb\n").unwrap();
        let lines = read_log(&log, None, |_| true).unwrap();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[1].text(), "b");
        assert!(lines[1].shown.ends_with("Z b"));
        assert_eq!(lines[1].shown.len(), PREFIX_LEN + 1);
    }

    #[test]
    fn a_log_without_index_reads_as_stdout() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("svc.log");
        std::fs::write(&log, "old\nlines").unwrap();
        let lines = read_log(&log, None, |_| true).unwrap();
        let texts: Vec<&str> = lines.iter().map(LogLine::text).collect();
        assert_eq!(texts, ["old", "lines"]);
        // A writer opened on it indexes those bytes first, so new lines keep their stream.
        let mut writer = LogWriter::open(&log, 0, 0, false).unwrap();
        writer.write(Stream::Stderr, b"new\n").unwrap();
        let lines = read_log(&log, None, |_| true).unwrap();
        assert_eq!(lines.last().unwrap().stream, Stream::Stderr);
        assert_eq!(lines.last().unwrap().text(), "new");
    }
}

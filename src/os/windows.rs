//! Windows: Toolhelp32 snapshots, process handles (which pin a pid while open), job objects for
//! containment, console control events and `WM_CLOSE` for graceful stops, and the IP helper's
//! owner-pid socket tables.
//!
//! Differences from Linux, by design of the platform:
//! - no zombies and no reparenting: a parent pid may name a dead (even reused) process, so
//!   trees are found through job objects (every managed service runs in a named job) and parent
//!   links checked against creation times;
//! - another process's environment is read from its memory (PEB → process parameters →
//!   environment block, see [`marker_of`]), so markers work as on Linux; job membership finds
//!   a service's processes too, and is what still works for processes reaper may not read
//!   (other users', protected ones);
//! - graceful signals: `CTRL_BREAK` to a process group reaper started (a service leads one in
//!   a console of its own, a `reaper run` command one in reaper's console), never aimed at any
//!   other pid (the console would deliver it to every process attached), and `WM_CLOSE` to the
//!   process's top-level windows.

#![allow(unsafe_code)]

use std::collections::HashSet;
use std::ffi::c_void;
use std::io;
use std::mem::{size_of, zeroed};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::windows::process::CommandExt;
use std::sync::OnceLock;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use windows_sys::Win32::Foundation::{
    CloseHandle, ERROR_INSUFFICIENT_BUFFER, FILETIME, HANDLE, HWND, INVALID_HANDLE_VALUE, LPARAM,
    NO_ERROR,
};
use windows_sys::Win32::NetworkManagement::IpHelper::{
    GetExtendedTcpTable, GetExtendedUdpTable, MIB_TCP6ROW_OWNER_PID, MIB_UDP6ROW_OWNER_PID,
    MIB_UDPROW_OWNER_PID, UDP_TABLE_OWNER_PID,
};
use windows_sys::Win32::Networking::WinSock::{AF_INET, AF_INET6};
use windows_sys::Win32::Storage::FileSystem::{LOCKFILE_EXCLUSIVE_LOCK, LockFileEx};
use windows_sys::Win32::System::Console::{
    AttachConsole, CTRL_BREAK_EVENT, FreeConsole, GenerateConsoleCtrlEvent, GetConsoleProcessList,
    SetConsoleCtrlHandler,
};
use windows_sys::Win32::System::Diagnostics::ToolHelp::{
    CreateToolhelp32Snapshot, PROCESSENTRY32W, Process32FirstW, Process32NextW, TH32CS_SNAPPROCESS,
};
use windows_sys::Win32::System::IO::OVERLAPPED;
use windows_sys::Win32::System::JobObjects::{
    AssignProcessToJobObject, CreateJobObjectW, JOBOBJECT_BASIC_PROCESS_ID_LIST,
    JobObjectBasicProcessIdList, OpenJobObjectW, QueryInformationJobObject,
};
use windows_sys::Win32::System::ProcessStatus::{K32GetProcessMemoryInfo, PROCESS_MEMORY_COUNTERS};
use windows_sys::Win32::System::SystemInformation::GetTickCount64;
use windows_sys::Win32::System::Threading::{
    CREATE_NEW_PROCESS_GROUP, CREATE_NO_WINDOW, DETACHED_PROCESS, GetCurrentProcess,
    GetExitCodeProcess, GetProcessTimes, OpenProcess, PROCESS_QUERY_LIMITED_INFORMATION,
    PROCESS_SYNCHRONIZE, PROCESS_TERMINATE, TerminateProcess, WaitForMultipleObjects,
};
use windows_sys::Win32::UI::WindowsAndMessaging::{
    EnumWindows, GetWindowThreadProcessId, PostMessageW, WM_CLOSE,
};

use super::{ListeningSocket, PinError, Protocol};
use crate::ports::{Holder, OwnerScan, Socket, SocketState, TcpScope};
use crate::process::{Pid, ProcessInfo, ProcessState, Snapshot};
use crate::signal::Signal;

/// `JOB_OBJECT_QUERY` access right (not exported under that name by windows-sys).
const JOB_OBJECT_QUERY: u32 = 0x0004;
/// Handles `WaitForMultipleObjects` accepts at once.
pub(super) const MAXIMUM_WAIT_OBJECTS: usize = 64;

/// An owned Windows handle, closed on drop.
#[derive(Debug)]
struct Handle(HANDLE);

// SAFETY: a process or job handle is a kernel object reference, usable from any thread.
unsafe impl Send for Handle {}
// SAFETY: as above; the handle is only read.
unsafe impl Sync for Handle {}

impl Handle {
    fn new(raw: HANDLE) -> Option<Handle> {
        (!raw.is_null() && raw != INVALID_HANDLE_VALUE).then_some(Handle(raw))
    }
}

impl Drop for Handle {
    fn drop(&mut self) {
        // SAFETY: the handle was returned by a successful open call and is closed once, here.
        unsafe { CloseHandle(self.0) };
    }
}

fn filetime_ticks(time: &FILETIME) -> u64 {
    (u64::from(time.dwHighDateTime) << 32) | u64::from(time.dwLowDateTime)
}

/// 100 ns ticks between 1601-01-01 and 1970-01-01.
const EPOCH_DIFFERENCE: u64 = 116_444_736_000_000_000;

fn filetime_to_system(ticks: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_nanos(ticks.saturating_sub(EPOCH_DIFFERENCE).saturating_mul(100))
}

/// Identifies the current boot: the boot time, to the second.
pub fn boot_id() -> io::Result<String> {
    static BOOT: OnceLock<String> = OnceLock::new();
    Ok(BOOT
        .get_or_init(|| {
            // SAFETY: GetTickCount64 has no preconditions.
            let up = Duration::from_millis(unsafe { GetTickCount64() });
            let boot = SystemTime::now() - up;
            let secs = boot.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
            // Round to 10 s: two reads in one boot must agree despite clock jitter.
            format!("windows-boot-{}", secs / 10)
        })
        .clone())
}

fn open(pid: Pid, access: u32) -> Option<Handle> {
    // SAFETY: OpenProcess only reads its arguments; a null result is handled.
    Handle::new(unsafe { OpenProcess(access, 0, pid) })
}

struct Times {
    creation: u64,
    cpu: Duration,
}

fn times(handle: &Handle) -> Option<Times> {
    // SAFETY: four out-pointers to zeroed FILETIMEs that live across the call.
    unsafe {
        let (mut c, mut e, mut k, mut u): (FILETIME, FILETIME, FILETIME, FILETIME) =
            (zeroed(), zeroed(), zeroed(), zeroed());
        if GetProcessTimes(handle.0, &mut c, &mut e, &mut k, &mut u) == 0 {
            return None;
        }
        Some(Times {
            creation: filetime_ticks(&c),
            cpu: Duration::from_nanos((filetime_ticks(&k) + filetime_ticks(&u)) * 100),
        })
    }
}

fn rss(handle: &Handle) -> u64 {
    // SAFETY: the counters struct is zeroed, sized, and lives across the call.
    unsafe {
        let mut counters: PROCESS_MEMORY_COUNTERS = zeroed();
        counters.cb = size_of::<PROCESS_MEMORY_COUNTERS>() as u32;
        if K32GetProcessMemoryInfo(handle.0, &mut counters, counters.cb) == 0 {
            return 0;
        }
        counters.WorkingSetSize as u64
    }
}

fn exited(handle: &Handle) -> bool {
    let mut code = 0u32;
    // SAFETY: out-pointer to a live u32.
    let ok = unsafe { GetExitCodeProcess(handle.0, &mut code) } != 0;
    // STILL_ACTIVE
    ok && code != 259
}

fn entries() -> io::Result<Vec<PROCESSENTRY32W>> {
    // SAFETY: snapshot handle checked; the entry struct is sized before the first call.
    unsafe {
        let snap = Handle::new(CreateToolhelp32Snapshot(TH32CS_SNAPPROCESS, 0))
            .ok_or_else(io::Error::last_os_error)?;
        let mut entry: PROCESSENTRY32W = zeroed();
        entry.dwSize = size_of::<PROCESSENTRY32W>() as u32;
        let mut out = Vec::new();
        if Process32FirstW(snap.0, &mut entry) == 0 {
            return Ok(out);
        }
        loop {
            out.push(entry);
            if Process32NextW(snap.0, &mut entry) == 0 {
                return Ok(out);
            }
        }
    }
}

fn entry_name(entry: &PROCESSENTRY32W) -> String {
    let len = entry
        .szExeFile
        .iter()
        .position(|c| *c == 0)
        .unwrap_or(entry.szExeFile.len());
    String::from_utf16_lossy(&entry.szExeFile[..len])
}

fn info_of(entry: &PROCESSENTRY32W) -> Option<ProcessInfo> {
    let pid = entry.th32ProcessID;
    // The System Idle Process (0) and System (4) are kernel-owned.
    let kernel = pid == 0 || pid == 4;
    let handle = open(pid, PROCESS_QUERY_LIMITED_INFORMATION);
    let times = handle.as_ref().and_then(times);
    let state = match &handle {
        Some(h) if exited(h) => ProcessState::Dead,
        _ => ProcessState::Running,
    };
    Some(ProcessInfo {
        pid,
        ppid: entry.th32ParentProcessID,
        // Windows has no sessions or groups in the Unix sense: every process is its own.
        pgid: pid,
        sid: pid,
        state,
        start_time: times.as_ref().map_or(0, |t| t.creation),
        started_at: times
            .as_ref()
            .map_or(UNIX_EPOCH, |t| filetime_to_system(t.creation)),
        name: entry_name(entry),
        cpu_time: times.map_or(Duration::ZERO, |t| t.cpu),
        rss_bytes: handle.as_ref().map_or(0, rss),
        kernel_thread: kernel,
    })
}

/// Reads the whole process table. A parent pid is kept only when the parent is running and
/// started before the child: otherwise the recorded parent exited, or died and its pid was
/// reused.
pub fn snapshot() -> io::Result<Snapshot> {
    let mut list: Vec<ProcessInfo> = entries()?.iter().filter_map(info_of).collect();
    // An exited process can stay listed while handles to it are open: as a parent it is gone.
    let starts: std::collections::HashMap<Pid, u64> = list
        .iter()
        .filter(|p| p.state.is_alive())
        .map(|p| (p.pid, p.start_time))
        .collect();
    for info in &mut list {
        if starts
            .get(&info.ppid)
            .is_none_or(|parent_start| *parent_start > info.start_time)
        {
            info.ppid = 0;
        }
    }
    Ok(Snapshot::from_processes(list))
}

/// True for a console host (`conhost.exe`): Windows starts one for each console, as a child of
/// the process that created the console, and it exits once no process is attached any more.
pub fn is_console_host(info: &ProcessInfo) -> bool {
    info.name.eq_ignore_ascii_case("conhost.exe")
}

/// The parent pid [`snapshot`] gives a process whose parent exited (or whose parent's pid now
/// names a younger process): Windows does not reparent.
pub const ORPHAN_PPID: Pid = 0;

/// Reads one process, if it exists.
pub fn process_info(pid: Pid) -> Option<ProcessInfo> {
    entries()
        .ok()?
        .iter()
        .find(|e| e.th32ProcessID == pid)
        .and_then(info_of)
}

/// Running processes whose recorded parent pid is `pid`, which has exited: Windows keeps the
/// creator's pid in every process's entry after the creator is gone (so these are the
/// processes it started, or ones an earlier process with that pid started). Used to name who
/// may hold a handle inherited from an exited process.
pub fn started_by(pid: Pid) -> Option<Vec<Pid>> {
    let started = entries()
        .ok()?
        .iter()
        .filter(|e| e.th32ParentProcessID == pid && e.th32ProcessID != pid)
        .filter(|e| {
            open(e.th32ProcessID, PROCESS_QUERY_LIMITED_INFORMATION).is_some_and(|h| !exited(&h))
        })
        .map(|e| e.th32ProcessID)
        .collect();
    Some(started)
}

/// The command line of a process, split the way the C runtime splits it. Asked of the kernel
/// (`ProcessCommandLineInformation`, Windows 8.1 and later), else read from the process's memory
/// (older Windows, and wine, which gives only names otherwise).
pub fn command_line(pid: Pid) -> Option<Vec<String>> {
    let text = command_line_from_kernel(pid).or_else(|| {
        use windows_sys::Win32::System::Threading::{PROCESS_QUERY_INFORMATION, PROCESS_VM_READ};
        let handle = open(pid, PROCESS_QUERY_INFORMATION | PROCESS_VM_READ)?;
        command_line_from_memory(&handle)
    })?;
    Some(split_command_line(&text))
}

fn command_line_from_kernel(pid: Pid) -> Option<String> {
    use windows_sys::Wdk::System::Threading::{
        NtQueryInformationProcess, ProcessCommandLineInformation,
    };
    use windows_sys::Win32::Foundation::UNICODE_STRING;
    let handle = open(pid, PROCESS_QUERY_LIMITED_INFORMATION)?;
    let mut buffer = vec![0u8; 4096];
    loop {
        let mut needed = 0u32;
        // SAFETY: the buffer is valid for its length; the call writes a UNICODE_STRING header
        // followed by the characters it points to, inside the buffer.
        let status = unsafe {
            NtQueryInformationProcess(
                handle.0,
                ProcessCommandLineInformation,
                buffer.as_mut_ptr().cast::<c_void>(),
                buffer.len() as u32,
                &mut needed,
            )
        };
        if status >= 0 {
            break;
        }
        if needed as usize <= buffer.len() || buffer.len() > 1 << 20 {
            return None;
        }
        buffer.resize(needed as usize, 0);
    }
    // SAFETY: on success the buffer starts with a UNICODE_STRING whose Buffer points into it.
    let text = unsafe {
        let header = &*(buffer.as_ptr().cast::<UNICODE_STRING>());
        let chars = std::slice::from_raw_parts(header.Buffer, usize::from(header.Length) / 2);
        String::from_utf16_lossy(chars)
    };
    Some(text)
}

/// The command line in the process's parameters block (see [`environment_block`]).
fn command_line_from_memory(handle: &Handle) -> Option<String> {
    use windows_sys::Win32::Foundation::UNICODE_STRING;
    use windows_sys::Win32::System::Threading::RTL_USER_PROCESS_PARAMETERS;
    let field = process_parameters(handle)?
        + std::mem::offset_of!(RTL_USER_PROCESS_PARAMETERS, CommandLine);
    let length = {
        let mut bytes = [0u8; 2];
        read_memory(
            handle,
            field + std::mem::offset_of!(UNICODE_STRING, Length),
            &mut bytes,
        )?;
        usize::from(u16::from_ne_bytes(bytes))
    };
    let buffer = read_pointer(handle, field + std::mem::offset_of!(UNICODE_STRING, Buffer))?;
    let mut bytes = vec![0u8; length];
    read_memory(handle, buffer, &mut bytes)?;
    Some(String::from_utf16_lossy(&utf16_units(&bytes)))
}

/// Splits a Windows command line as `CommandLineToArgvW` does (quotes, backslash rules).
fn split_command_line(text: &str) -> Vec<String> {
    let mut args = Vec::new();
    let mut current = String::new();
    let mut in_quotes = false;
    let mut have = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                let mut slashes = 1;
                while chars.peek() == Some(&'\\') {
                    chars.next();
                    slashes += 1;
                }
                if chars.peek() == Some(&'"') {
                    current.extend(std::iter::repeat_n('\\', slashes / 2));
                    if slashes % 2 == 1 {
                        current.push('"');
                        chars.next();
                    }
                } else {
                    current.extend(std::iter::repeat_n('\\', slashes));
                }
                have = true;
            }
            '"' => {
                in_quotes = !in_quotes;
                have = true;
            }
            ' ' | '\t' if !in_quotes => {
                if have {
                    args.push(std::mem::take(&mut current));
                    have = false;
                }
            }
            other => {
                current.push(other);
                have = true;
            }
        }
    }
    if have {
        args.push(current);
    }
    args
}

/// The value of environment variable `var` (names compare case-insensitively, as Windows does)
/// in process `pid`, read from its memory; `None` if the process cannot be opened or read, or
/// does not carry it.
pub fn marker_of(pid: Pid, var: &str) -> Option<String> {
    use windows_sys::Win32::System::Threading::{PROCESS_QUERY_INFORMATION, PROCESS_VM_READ};
    let handle = open(pid, PROCESS_QUERY_INFORMATION | PROCESS_VM_READ)?;
    let block = environment_block(&handle)?;
    environment_value(&block, var)
}

/// Offset of `Environment` in `RTL_USER_PROCESS_PARAMETERS` (undocumented but fixed;
/// windows-sys only declares the documented prefix of the struct).
#[cfg(target_pointer_width = "64")]
const ENVIRONMENT_OFFSET: usize = 0x80;
#[cfg(target_pointer_width = "32")]
const ENVIRONMENT_OFFSET: usize = 0x48;
/// The smallest page size Windows uses: a read that stays inside one such page never fails
/// half-way because the next page is not mapped.
const PAGE: usize = 4096;
/// An environment block is at most 32,767 characters per variable and rarely more than a few
/// kilobytes in all; reading stops here whatever the block claims.
const ENVIRONMENT_LIMIT: usize = 1 << 20;

/// The environment block of another process, as UTF-16 units up to (not including) the double
/// NUL that ends it: PEB (from `ProcessBasicInformation`) → `ProcessParameters` →
/// `Environment`, read from the process's memory. Only processes of reaper's own bitness are
/// known to work (32-bit processes under WOW64 have a second PEB, which is not read).
fn environment_block(handle: &Handle) -> Option<Vec<u16>> {
    let environment = read_pointer(handle, process_parameters(handle)? + ENVIRONMENT_OFFSET)?;
    // The block is a heap allocation, so 2-byte aligned: a page boundary never splits a
    // character. Anything else is not an environment block.
    if environment % 2 != 0 {
        return None;
    }
    let mut block: Vec<u16> = Vec::new();
    let mut address = environment;
    while block.len() * 2 < ENVIRONMENT_LIMIT {
        let chunk = PAGE - address % PAGE;
        let mut bytes = vec![0u8; chunk];
        read_memory(handle, address, &mut bytes)?;
        // The terminator may straddle the previous page and this one.
        let search_from = block.len().saturating_sub(1);
        block.extend(utf16_units(&bytes));
        if let Some(end) = block[search_from..]
            .windows(2)
            .position(|pair| pair == [0, 0])
        {
            block.truncate(search_from + end);
            return Some(block);
        }
        address += chunk;
    }
    None
}

/// The address of the process's `RTL_USER_PROCESS_PARAMETERS` (command line, environment), from
/// its PEB (`ProcessBasicInformation`).
fn process_parameters(handle: &Handle) -> Option<usize> {
    use windows_sys::Wdk::System::Threading::{NtQueryInformationProcess, ProcessBasicInformation};
    use windows_sys::Win32::System::Threading::{PEB, PROCESS_BASIC_INFORMATION};
    let mut basic = PROCESS_BASIC_INFORMATION::default();
    let mut written = 0u32;
    // SAFETY: `basic` is a live, correctly sized PROCESS_BASIC_INFORMATION for the call to fill.
    let status = unsafe {
        NtQueryInformationProcess(
            handle.0,
            ProcessBasicInformation,
            (&raw mut basic).cast::<c_void>(),
            size_of::<PROCESS_BASIC_INFORMATION>() as u32,
            &mut written,
        )
    };
    if status < 0 || basic.PebBaseAddress.is_null() {
        return None;
    }
    let peb = basic.PebBaseAddress as usize;
    read_pointer(handle, peb + std::mem::offset_of!(PEB, ProcessParameters))
}

/// UTF-16 units of bytes read from a process (native byte order; an odd last byte is dropped).
fn utf16_units(bytes: &[u8]) -> Vec<u16> {
    bytes
        .chunks_exact(2)
        .map(|pair| u16::from_ne_bytes([pair[0], pair[1]]))
        .collect()
}

/// Reads a pointer-sized value at `address` in the process; `None` if it is unreadable or null.
fn read_pointer(handle: &Handle, address: usize) -> Option<usize> {
    let mut bytes = [0u8; size_of::<usize>()];
    read_memory(handle, address, &mut bytes)?;
    Some(usize::from_ne_bytes(bytes)).filter(|pointer| *pointer != 0)
}

/// Fills `buffer` from `address` in the process; `None` unless every byte was read.
fn read_memory(handle: &Handle, address: usize, buffer: &mut [u8]) -> Option<()> {
    use windows_sys::Win32::System::Diagnostics::Debug::ReadProcessMemory;
    let mut read = 0usize;
    // SAFETY: `buffer` is valid for writes of its length; the address is only dereferenced by
    // the kernel, inside the other process, and an unmapped one makes the call fail.
    let ok = unsafe {
        ReadProcessMemory(
            handle.0,
            address as *const c_void,
            buffer.as_mut_ptr().cast::<c_void>(),
            buffer.len(),
            &mut read,
        )
    } != 0;
    (ok && read == buffer.len()).then_some(())
}

/// The value of `var` in an environment block (`NAME=value` entries separated by NULs).
/// Entries whose name starts with `=` (the per-drive current directories) never match.
fn environment_value(block: &[u16], var: &str) -> Option<String> {
    block
        .split(|unit| *unit == 0)
        .map(String::from_utf16_lossy)
        .find_map(|entry| {
            let (name, value) = entry.split_once('=')?;
            (!name.is_empty() && name.eq_ignore_ascii_case(var)).then(|| value.to_string())
        })
}

/// Processes in the job object of run `run_id` (every managed service runs in one).
pub fn contained_processes(run_id: &str) -> Vec<Pid> {
    let name = wide(&job_name(run_id));
    // SAFETY: the name is NUL-terminated and outlives the call.
    let Some(job) = Handle::new(unsafe { OpenJobObjectW(JOB_OBJECT_QUERY, 0, name.as_ptr()) })
    else {
        return Vec::new();
    };
    job_processes(job.0)
}

fn job_name(run_id: &str) -> String {
    format!("Local\\reaper-{run_id}")
}

fn wide(text: &str) -> Vec<u16> {
    text.encode_utf16().chain(std::iter::once(0)).collect()
}

/// The owner of a process, reduced to what reaper needs: `Some(0)` when it runs as the same user
/// as reaper (see [`current_uid`]), `Some(1)` for anyone else, `None` if it cannot be opened.
pub fn uid_of(pid: Pid) -> Option<u32> {
    let handle = open(pid, PROCESS_QUERY_LIMITED_INFORMATION)?;
    let theirs = token_user(handle.0)?;
    // SAFETY: GetCurrentProcess returns a pseudo-handle that needs no closing.
    let ours = token_user(unsafe { GetCurrentProcess() })?;
    Some(if theirs == ours { 0 } else { 1 })
}

fn token_user(process: HANDLE) -> Option<Vec<u8>> {
    use windows_sys::Win32::Security::{
        GetLengthSid, GetTokenInformation, TOKEN_QUERY, TOKEN_USER, TokenUser,
    };
    use windows_sys::Win32::System::Threading::OpenProcessToken;
    let mut token = std::ptr::null_mut();
    // SAFETY: out-pointer to a handle; closed by the Handle guard.
    if unsafe { OpenProcessToken(process, TOKEN_QUERY, &mut token) } == 0 {
        return None;
    }
    let token = Handle::new(token)?;
    let mut buffer = vec![0u8; 256];
    let mut needed = 0u32;
    // SAFETY: the buffer is valid for its length; the result is a TOKEN_USER inside it.
    unsafe {
        if GetTokenInformation(
            token.0,
            TokenUser,
            buffer.as_mut_ptr().cast(),
            buffer.len() as u32,
            &mut needed,
        ) == 0
        {
            return None;
        }
        let user = &*(buffer.as_ptr().cast::<TOKEN_USER>());
        let sid = user.User.Sid;
        let len = GetLengthSid(sid) as usize;
        Some(std::slice::from_raw_parts(sid.cast::<u8>(), len).to_vec())
    }
}

/// The user reaper runs as (see [`uid_of`]).
pub fn current_uid() -> u32 {
    0
}

/// Only the current user can be named on Windows: its name (from `USERNAME`) or `0`.
pub fn uid_of_user(name: &str) -> Option<u32> {
    let me = std::env::var("USERNAME").unwrap_or_default();
    (name == "0" || name.eq_ignore_ascii_case(&me)).then_some(0)
}

/// A process pinned by an open handle after its identity (creation time) was checked: Windows
/// does not reuse a pid while a handle to the process is open.
#[derive(Debug)]
pub struct Pinned {
    pid: Pid,
    handle: Handle,
}

impl Pinned {
    /// Opens the process, then verifies its creation time equals `expected_start`.
    pub fn open(pid: Pid, expected_start: u64) -> Result<Pinned, PinError> {
        let access = PROCESS_TERMINATE | PROCESS_SYNCHRONIZE | PROCESS_QUERY_LIMITED_INFORMATION;
        let handle = open(pid, access).ok_or_else(|| {
            let error = io::Error::last_os_error();
            // ERROR_INVALID_PARAMETER: no such process.
            if error.raw_os_error() == Some(87) {
                PinError::Gone(pid)
            } else {
                PinError::Os { pid, source: error }
            }
        })?;
        let found = times(&handle).map_or(0, |t| t.creation);
        if found != expected_start {
            return Err(PinError::Reused {
                pid,
                expected: expected_start,
                found,
            });
        }
        Ok(Pinned { pid, handle })
    }

    /// The pinned pid.
    pub fn pid(&self) -> Pid {
        self.pid
    }

    /// Sends `signal`. `KILL` terminates the process; `TERM`, `INT`, `HUP` and `QUIT` ask it to
    /// close by posting `WM_CLOSE` to its windows and, if it is a reaper supervisor, setting its
    /// stop event (other console programs have no window: only [`Pinned::signal_group`] reaches
    /// them). Other signals have no Windows equivalent and do
    /// nothing.
    pub fn signal(&self, signal: Signal) -> io::Result<()> {
        self.send(signal, false)
    }

    /// Like [`Pinned::signal`], and a graceful signal also sends `CTRL_BREAK` to the process
    /// group this process leads. Only for a process reaper started as a group leader (a
    /// service's or `reaper run`'s first process): for any other pid the console would deliver
    /// the event to every process attached to it, the user's shell included.
    pub fn signal_group(&self, signal: Signal) -> io::Result<()> {
        self.send(signal, true)
    }

    fn send(&self, signal: Signal, group: bool) -> io::Result<()> {
        if exited(&self.handle) {
            return Ok(());
        }
        match signal {
            Signal::Kill => {
                // SAFETY: the handle has PROCESS_TERMINATE access.
                if unsafe { TerminateProcess(self.handle.0, 1) } == 0 && !exited(&self.handle) {
                    return Err(io::Error::last_os_error());
                }
                Ok(())
            }
            Signal::Term | Signal::Int | Signal::Hup | Signal::Quit => {
                close_windows(self.pid);
                super::windows_console::request_stop(self.pid);
                if group {
                    console_break(self.pid);
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }

    /// True once the process has exited.
    pub fn has_exited(&self) -> bool {
        exited(&self.handle)
    }
}

/// Posts `WM_CLOSE` to every top-level window of `pid`.
fn close_windows(pid: Pid) {
    unsafe extern "system" fn each(window: HWND, target: LPARAM) -> i32 {
        let mut owner = 0u32;
        // SAFETY: window comes from EnumWindows; owner is a live out-pointer.
        unsafe {
            GetWindowThreadProcessId(window, &mut owner);
            if owner as LPARAM == target {
                PostMessageW(window, WM_CLOSE, 0, 0);
            }
        }
        1
    }
    // SAFETY: the callback only reads its arguments and posts messages.
    unsafe { EnumWindows(Some(each), pid as LPARAM) };
}

/// Sends `CTRL_BREAK` to the process group led by `group`. A group in reaper's own console (a
/// `reaper run` command) is sent the event directly (reaper is not in that group, so it does
/// not get it). A group in another console (a service's) needs a process attached to that
/// console: a helper (`reaper __ctrl-break GROUP`, see [`ctrl_break_from_helper`]) attaches and
/// sends it, because a process that leaves its console for another loses its standard handles
/// to it for good.
fn console_break(group: Pid) {
    /// The helper's own work takes milliseconds; this only bounds a stuck one.
    const HELPER_LIMIT: Duration = Duration::from_secs(2);
    if attached_to_own_console(group) {
        // SAFETY: plain values; `group` leads a group of reaper's console.
        unsafe { GenerateConsoleCtrlEvent(CTRL_BREAK_EVENT, group) };
        return;
    }
    let Ok(exe) = std::env::current_exe() else {
        return;
    };
    keep_stdio_private();
    let helper = std::process::Command::new(exe)
        .args(["__ctrl-break", &group.to_string()])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .creation_flags(DETACHED_PROCESS)
        .spawn();
    if let Ok(mut helper) = helper {
        let began = std::time::Instant::now();
        while matches!(helper.try_wait(), Ok(None)) && began.elapsed() < HELPER_LIMIT {
            std::thread::sleep(Duration::from_millis(5));
        }
        if matches!(helper.try_wait(), Ok(None)) {
            let _ = helper.kill();
        }
        let _ = helper.wait();
    }
}

/// The `reaper __ctrl-break GROUP` helper: attaches to the console of process `group` (this
/// process starts without one) and sends `CTRL_BREAK` to the group it leads, ignoring the event
/// itself.
pub fn ctrl_break_from_helper(group: Pid) -> io::Result<()> {
    // SAFETY: console calls with plain values; the process exits right after.
    unsafe {
        FreeConsole();
        if AttachConsole(group) == 0 {
            return Err(io::Error::last_os_error());
        }
        SetConsoleCtrlHandler(None, 1);
        if GenerateConsoleCtrlEvent(CTRL_BREAK_EVENT, group) == 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// True when `pid` is attached to the console reaper is attached to.
fn attached_to_own_console(pid: Pid) -> bool {
    let mut pids = vec![0u32; 256];
    loop {
        // SAFETY: the buffer is valid for its length; the call writes at most that many pids.
        let count = unsafe { GetConsoleProcessList(pids.as_mut_ptr(), pids.len() as u32) } as usize;
        if count == 0 {
            return false;
        }
        if count <= pids.len() {
            return pids[..count].contains(&pid);
        }
        pids.resize(count, 0);
    }
}

/// Blocks until at least one of `pinned` exits or `timeout` passes.
pub fn wait_for_exit(pinned: &[&Pinned], timeout: Duration) {
    if pinned.is_empty() {
        std::thread::sleep(timeout);
        return;
    }
    let handles: Vec<HANDLE> = pinned
        .iter()
        .take(MAXIMUM_WAIT_OBJECTS)
        .map(|p| p.handle.0)
        .collect();
    let millis = u32::try_from(timeout.as_millis()).unwrap_or(u32::MAX - 1);
    // SAFETY: the handles stay open (borrowed from `pinned`) for the whole call. Whether it
    // returned on an exit or on the timeout, the caller re-checks each process.
    unsafe { WaitForMultipleObjects(handles.len() as u32, handles.as_ptr(), 0, millis) };
}

/// Windows has no socket inodes: a socket is identified by a hash of its protocol, addresses
/// and owner pid, which is stable for the socket's life. 0 means no process holds it.
fn socket_id(protocol: Protocol, local: &SocketAddr, remote: Option<&SocketAddr>, pid: Pid) -> u64 {
    use std::hash::{Hash, Hasher};
    if pid == 0 {
        return 0;
    }
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    (protocol, local, remote, pid).hash(&mut hasher);
    hasher.finish().max(1)
}

fn table(tcp: bool, family: u16) -> Vec<u8> {
    use windows_sys::Win32::NetworkManagement::IpHelper::TCP_TABLE_OWNER_PID_ALL;
    let mut size = 0u32;
    let mut buffer: Vec<u8> = Vec::new();
    for _ in 0..4 {
        // SAFETY: the buffer is valid for `size` bytes (or null with size 0 to ask the size).
        let status = unsafe {
            let ptr = if buffer.is_empty() {
                std::ptr::null_mut()
            } else {
                buffer.as_mut_ptr().cast::<c_void>()
            };
            if tcp {
                GetExtendedTcpTable(
                    ptr,
                    &mut size,
                    0,
                    u32::from(family),
                    TCP_TABLE_OWNER_PID_ALL,
                    0,
                )
            } else {
                GetExtendedUdpTable(ptr, &mut size, 0, u32::from(family), UDP_TABLE_OWNER_PID, 0)
            }
        };
        if status == NO_ERROR {
            return buffer;
        }
        if status != ERROR_INSUFFICIENT_BUFFER {
            return Vec::new();
        }
        buffer = vec![0u8; size as usize];
    }
    Vec::new()
}

/// Rows of an owner-pid table: a u32 count followed by `count` rows of `T`.
fn rows<T: Copy>(buffer: &[u8]) -> Vec<T> {
    if buffer.len() < 4 {
        return Vec::new();
    }
    let count = u32::from_ne_bytes([buffer[0], buffer[1], buffer[2], buffer[3]]) as usize;
    let offset = std::mem::align_of::<T>().max(4);
    (0..count)
        .filter_map(|i| {
            let start = offset + i * size_of::<T>();
            let bytes = buffer.get(start..start + size_of::<T>())?;
            // SAFETY: `bytes` holds exactly one T as laid out by the IP helper API.
            Some(unsafe { std::ptr::read_unaligned(bytes.as_ptr().cast::<T>()) })
        })
        .collect()
}

fn port_of(raw: u32) -> u16 {
    u16::from_be(raw as u16)
}

fn tcp_state(raw: u32) -> SocketState {
    match raw {
        2 => SocketState::Listen,
        3 => SocketState::SynSent,
        4 => SocketState::SynRecv,
        5 => SocketState::Established,
        6 => SocketState::FinWait1,
        7 => SocketState::FinWait2,
        8 => SocketState::CloseWait,
        9 => SocketState::Closing,
        10 => SocketState::LastAck,
        11 => SocketState::TimeWait,
        _ => SocketState::Close,
    }
}

/// Every TCP socket (per `tcp`) and, with `udp`, every UDP socket, with its owner pid.
fn owned(tcp: TcpScope, udp: bool) -> Vec<(Socket, Pid)> {
    use windows_sys::Win32::NetworkManagement::IpHelper::MIB_TCPROW_OWNER_PID as Tcp4;
    let mut out = Vec::new();
    let mut push = |protocol, local: SocketAddr, remote: Option<SocketAddr>, state, pid: Pid| {
        let socket = Socket {
            protocol,
            local,
            remote,
            state,
            inode: socket_id(protocol, &local, remote.as_ref(), pid),
            uid: 0,
        };
        out.push((socket, pid));
    };
    if tcp != TcpScope::None {
        let keep = |state: SocketState| tcp == TcpScope::All || state == SocketState::Listen;
        for row in rows::<Tcp4>(&table(true, AF_INET)) {
            let state = tcp_state(row.dwState);
            if keep(state) {
                let local = SocketAddr::new(
                    IpAddr::V4(Ipv4Addr::from(u32::from_be(row.dwLocalAddr))),
                    port_of(row.dwLocalPort),
                );
                let remote = (state != SocketState::Listen).then(|| {
                    SocketAddr::new(
                        IpAddr::V4(Ipv4Addr::from(u32::from_be(row.dwRemoteAddr))),
                        port_of(row.dwRemotePort),
                    )
                });
                push(Protocol::Tcp, local, remote, state, row.dwOwningPid);
            }
        }
        for row in rows::<MIB_TCP6ROW_OWNER_PID>(&table(true, AF_INET6)) {
            let state = tcp_state(row.dwState);
            if keep(state) {
                let local = SocketAddr::new(
                    IpAddr::V6(Ipv6Addr::from(row.ucLocalAddr)),
                    port_of(row.dwLocalPort),
                );
                let remote = (state != SocketState::Listen).then(|| {
                    SocketAddr::new(
                        IpAddr::V6(Ipv6Addr::from(row.ucRemoteAddr)),
                        port_of(row.dwRemotePort),
                    )
                });
                push(Protocol::Tcp, local, remote, state, row.dwOwningPid);
            }
        }
    }
    if udp {
        for row in rows::<MIB_UDPROW_OWNER_PID>(&table(false, AF_INET)) {
            let local = SocketAddr::new(
                IpAddr::V4(Ipv4Addr::from(u32::from_be(row.dwLocalAddr))),
                port_of(row.dwLocalPort),
            );
            push(
                Protocol::Udp,
                local,
                None,
                SocketState::Unconnected,
                row.dwOwningPid,
            );
        }
        for row in rows::<MIB_UDP6ROW_OWNER_PID>(&table(false, AF_INET6)) {
            let local = SocketAddr::new(
                IpAddr::V6(Ipv6Addr::from(row.ucLocalAddr)),
                port_of(row.dwLocalPort),
            );
            push(
                Protocol::Udp,
                local,
                None,
                SocketState::Unconnected,
                row.dwOwningPid,
            );
        }
    }
    out
}

/// Sockets on `port` (all ports if `None`): listeners and bound UDP sockets with `listening`,
/// every TCP state and UDP socket without.
pub fn sockets(port: Option<u16>, listening: bool) -> io::Result<Vec<Socket>> {
    let scope = if listening {
        TcpScope::Listening
    } else {
        TcpScope::All
    };
    read_sockets(port, scope, true)
}

/// Sockets on `port` (all if `None`) of the TCP states in `tcp`, and UDP sockets with `udp`.
pub fn read_sockets(port: Option<u16>, tcp: TcpScope, udp: bool) -> io::Result<Vec<Socket>> {
    Ok(owned(tcp, udp)
        .into_iter()
        .map(|(socket, _)| socket)
        .filter(|s| port.is_none_or(|p| s.local.port() == p))
        .collect())
}

/// Which processes hold the sockets `inodes` (all sockets if `None`): the IP helper tables
/// name the owner of each socket, so no process needs to be scanned.
pub fn socket_owners(inodes: Option<&HashSet<u64>>) -> OwnerScan {
    let mut scan = OwnerScan::default();
    for (socket, pid) in owned(TcpScope::All, true) {
        if socket.inode != 0 && inodes.is_none_or(|set| set.contains(&socket.inode)) {
            scan.owners
                .entry(socket.inode)
                .or_default()
                .push(Holder::seen_now(pid));
        }
    }
    scan
}

/// Every listening TCP socket and bound UDP socket.
pub fn listening_sockets() -> io::Result<Vec<ListeningSocket>> {
    Ok(owned(TcpScope::Listening, true)
        .into_iter()
        .map(|(s, _)| ListeningSocket {
            protocol: s.protocol,
            local: s.local,
            inode: s.inode,
        })
        .collect())
}

/// Identifiers of the sockets a process owns.
pub fn socket_inodes(pid: Pid) -> HashSet<u64> {
    owned(TcpScope::All, true)
        .into_iter()
        .filter(|(_, owner)| *owner == pid)
        .map(|(s, _)| s.inode)
        .collect()
}

/// Binds `addr` and lets it go at once, to prove a port free. `reuse_addr` is ignored: on
/// Windows `SO_REUSEADDR` lets a socket take over a port another socket uses.
pub fn try_bind(protocol: Protocol, addr: SocketAddr, _reuse_addr: bool) -> io::Result<()> {
    match protocol {
        Protocol::Tcp => std::net::TcpListener::bind(addr).map(drop),
        Protocol::Udp => std::net::UdpSocket::bind(addr).map(drop),
    }
}

/// The name of user `uid` (only the current user is known, see [`uid_of`]).
pub fn user_name(uid: u32) -> Option<String> {
    (uid == 0).then(|| std::env::var("USERNAME").ok()).flatten()
}

/// Network namespaces do not exist on Windows.
pub fn in_foreign_network_namespace() -> Option<bool> {
    None
}

/// Windows has no reparenting and no subreaper (always `Unsupported`): containment is
/// [`contain_run`]'s job object.
pub fn become_subreaper() -> io::Result<()> {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "Windows has no subreaper; a job object contains the tree",
    ))
}

/// Puts the calling process (a keeper, or `reaper run`) in a new named job object for run
/// `run_id`, so every process the service starts is contained in it and can be listed with
/// [`contained_processes`]. The job handle is kept open for the keeper's life.
pub fn contain_run(run_id: &str) -> io::Result<()> {
    static JOB: OnceLock<Handle> = OnceLock::new();
    let name = wide(&job_name(run_id));
    // SAFETY: the name outlives the call; the result is checked.
    let job = Handle::new(unsafe { CreateJobObjectW(std::ptr::null(), name.as_ptr()) })
        .ok_or_else(io::Error::last_os_error)?;
    // SAFETY: both handles are valid; GetCurrentProcess is a pseudo-handle.
    if unsafe { AssignProcessToJobObject(job.0, GetCurrentProcess()) } == 0 {
        return Err(io::Error::last_os_error());
    }
    let _ = JOB.set(job);
    Ok(())
}

/// Windows has no per-process descriptor limit of note (handles number in the millions): the
/// limit a stop must stay under is reported as unbounded.
pub fn raise_fd_limit() -> u64 {
    u64::MAX
}

/// Marks this process's standard handles non-inheritable. Windows children inherit every
/// inheritable handle, so a keeper (or a service) would otherwise keep the caller's stdout pipe
/// open — and whoever reads that pipe would wait for it forever. The child's own stdio is set
/// explicitly and is unaffected.
pub fn keep_stdio_private() {
    use windows_sys::Win32::Foundation::{HANDLE_FLAG_INHERIT, SetHandleInformation};
    use windows_sys::Win32::System::Console::{
        GetStdHandle, STD_ERROR_HANDLE, STD_INPUT_HANDLE, STD_OUTPUT_HANDLE,
    };
    for which in [STD_INPUT_HANDLE, STD_OUTPUT_HANDLE, STD_ERROR_HANDLE] {
        // SAFETY: GetStdHandle returns a borrowed handle (or null/invalid, which
        // SetHandleInformation rejects harmlessly); only its inherit flag changes.
        unsafe {
            let handle = GetStdHandle(which);
            SetHandleInformation(handle, HANDLE_FLAG_INHERIT, 0);
        }
    }
}

/// Arranges for `command`'s child to lead a new process group with a console of its own and no
/// window, detached from reaper's console.
pub fn spawn_in_new_session(command: &mut std::process::Command) {
    command.creation_flags(CREATE_NEW_PROCESS_GROUP | CREATE_NO_WINDOW);
}

/// Waits for the service leader, then for every other process of the keeper's job, and returns
/// the leader's exit code once it is known. Windows has no reaping: a handle is waited on.
pub fn supervise_service(
    mut leader: std::process::Child,
    mut on_leader_exit: impl FnMut(Option<i32>, Option<i32>),
) {
    let code = leader.wait().ok().and_then(|status| status.code());
    on_leader_exit(code, None);
    let me = std::process::id();
    loop {
        let members = contained_in_own_job();
        if members.iter().all(|pid| *pid == me) {
            return;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn contained_in_own_job() -> Vec<Pid> {
    // A null job handle queries the job of the calling process.
    job_processes(std::ptr::null_mut())
}

/// The pids in job `job` (at most 4,096).
fn job_processes(job: HANDLE) -> Vec<Pid> {
    let mut buffer = vec![0usize; 4096 + 2];
    // SAFETY: the buffer is valid for its byte length; the result is a
    // JOBOBJECT_BASIC_PROCESS_ID_LIST header followed by the pids, inside the buffer.
    unsafe {
        if QueryInformationJobObject(
            job,
            JobObjectBasicProcessIdList,
            buffer.as_mut_ptr().cast::<c_void>(),
            (buffer.len() * size_of::<usize>()) as u32,
            std::ptr::null_mut(),
        ) == 0
        {
            return Vec::new();
        }
        let list = &*(buffer.as_ptr().cast::<JOBOBJECT_BASIC_PROCESS_ID_LIST>());
        std::slice::from_raw_parts(
            list.ProcessIdList.as_ptr(),
            list.NumberOfProcessIdsInList as usize,
        )
        .iter()
        .map(|id| *id as Pid)
        .collect()
    }
}

/// Takes an exclusive lock on `file`, waiting for other holders (`LockFileEx`); released when
/// the file is closed.
pub fn lock_exclusive(file: &std::fs::File) -> io::Result<()> {
    use std::os::windows::io::AsRawHandle;
    // SAFETY: the file handle is valid for the call; the OVERLAPPED is zeroed (offset 0).
    unsafe {
        let mut overlapped: OVERLAPPED = zeroed();
        if LockFileEx(
            file.as_raw_handle() as HANDLE,
            LOCKFILE_EXCLUSIVE_LOCK,
            0,
            u32::MAX,
            u32::MAX,
            &mut overlapped,
        ) == 0
        {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// Opens `path` with `options` without following a symbolic link or junction in its last
/// component (`FILE_FLAG_OPEN_REPARSE_POINT` opens the link itself, which the caller then finds
/// is not a regular file). Windows has no mode bits: the directory's ACL governs access.
pub fn open_no_follow(
    path: &std::path::Path,
    options: &mut std::fs::OpenOptions,
) -> io::Result<std::fs::File> {
    use std::os::windows::fs::OpenOptionsExt;
    options
        .custom_flags(windows_sys::Win32::Storage::FileSystem::FILE_FLAG_OPEN_REPARSE_POINT)
        .open(path)
}

/// False: [`open_no_follow`] opens a link instead of failing on it.
pub fn is_symlink_error(_error: &io::Error) -> bool {
    false
}

/// Creates `path` and its missing parents (access follows the parent's ACL).
pub fn create_private_dir_all(path: &std::path::Path) -> io::Result<()> {
    std::fs::create_dir_all(path)
}

/// Always `None`: Windows grants access by ACL, not owner and mode bits, and a user's profile
/// is private by default.
pub fn untrusted_because(_meta: &std::fs::Metadata) -> Option<String> {
    None
}

/// Hours, minutes and seconds of `unix_secs` in the local time zone.
pub fn local_time_of_day(unix_secs: u64) -> Option<(u64, u64, u64)> {
    use windows_sys::Win32::Foundation::{FILETIME, SYSTEMTIME};
    use windows_sys::Win32::System::Time::{FileTimeToSystemTime, SystemTimeToTzSpecificLocalTime};
    // 100 ns ticks since 1601-01-01.
    let ticks = unix_secs
        .checked_mul(10_000_000)?
        .checked_add(116_444_736_000_000_000)?;
    let file_time = FILETIME {
        dwLowDateTime: ticks as u32,
        dwHighDateTime: (ticks >> 32) as u32,
    };
    // SAFETY: all-zero is a valid SYSTEMTIME; every pointer is to a live local; a null time
    // zone means the current one.
    unsafe {
        let mut utc: SYSTEMTIME = std::mem::zeroed();
        let mut local: SYSTEMTIME = std::mem::zeroed();
        if FileTimeToSystemTime(&file_time, &mut utc) == 0
            || SystemTimeToTzSpecificLocalTime(std::ptr::null(), &utc, &mut local) == 0
        {
            return None;
        }
        Some((
            u64::from(local.wHour),
            u64::from(local.wMinute),
            u64::from(local.wSecond),
        ))
    }
}

/// This machine's host name.
pub fn host_name() -> String {
    std::env::var("COMPUTERNAME").unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::{environment_value, split_command_line};

    #[test]
    fn environment_values_are_found_by_case_insensitive_name() {
        let block: Vec<u16> =
            "=C:=C:\\work\0Path=C:\\bin\0reaper_marker=v1:r:api:C:\\p\\.run\0EMPTY=\0"
                .encode_utf16()
                .collect();
        assert_eq!(
            environment_value(&block, "REAPER_MARKER").as_deref(),
            Some("v1:r:api:C:\\p\\.run")
        );
        assert_eq!(environment_value(&block, "EMPTY").as_deref(), Some(""));
        assert_eq!(environment_value(&block, "PATH2"), None);
        // The per-drive current directory entries have an empty name.
        assert_eq!(environment_value(&block, ""), None);
        assert_eq!(environment_value(&block, "C:"), None);
    }

    #[test]
    fn command_lines_split_like_the_c_runtime() {
        assert_eq!(split_command_line(r#"a "b c" d"#), ["a", "b c", "d"]);
        assert_eq!(
            split_command_line(r#"x \"q\" "p\\""#),
            ["x", "\"q\"", "p\\"]
        );
        assert_eq!(split_command_line(r#""" y"#), ["", "y"]);
    }
}

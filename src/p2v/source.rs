//! Where a P2V copy reads from: a local disk image or block device, or a physical machine over
//! SSH (the system's `ssh`, key authentication only: `BatchMode=yes`, optional `sudo -n`).
//! A connection test comes first; then the inventory (disks, CPUs, memory, NICs) from standard
//! tools: `lsblk -J`, `/proc/cpuinfo`, `/proc/meminfo`, `ip -j link`, parsed in `inventory.rs`.
//! Disks are only ever read: local files are opened read-only, and over SSH `dd` reads the
//! device.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};

/// A physical machine reached over SSH.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SshSource {
    pub user: Option<String>,
    pub host: String,
    pub port: Option<u16>,
    /// Run the commands through `sudo -n` (never prompts: a password-requiring sudo fails).
    pub sudo: bool,
    /// Private key (`ssh -i`); else ssh's own defaults and agent.
    pub identity: Option<PathBuf>,
    /// Extra `-o` options passed through (`ProxyCommand=...`, `StrictHostKeyChecking=no`, ...).
    pub options: Vec<String>,
}

/// Where the disks come from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    /// A disk image file or a block device on this machine.
    Local(PathBuf),
    Ssh(SshSource),
}

impl Source {
    /// `disk:/path` (or a plain absolute path), or `ssh:[user@]host[:port]`.
    pub fn parse(text: &str) -> Result<Source, String> {
        let text = text.trim();
        if let Some(path) = text.strip_prefix("disk:").or_else(|| text.starts_with('/').then_some(text)) {
            if !path.starts_with('/') {
                return Err(format!("source {text:?}: the disk path must be absolute (disk:/path/to/image)"));
            }
            return Ok(Source::Local(PathBuf::from(path)));
        }
        let Some(rest) = text.strip_prefix("ssh:") else {
            return Err(format!("source {text:?}: expected disk:/path or ssh:[user@]host[:port]"));
        };
        let rest = rest.trim_start_matches("//");
        let (user, hostport) = match rest.split_once('@') {
            Some((u, h)) => (Some(u.to_string()), h),
            None => (None, rest),
        };
        if user
            .as_deref()
            .is_some_and(|u| u.is_empty() || !u.chars().all(|c| c.is_ascii_alphanumeric() || "._-".contains(c)))
        {
            return Err(format!("source {text:?}: invalid user name"));
        }
        let (host, port) = match hostport.rsplit_once(':') {
            Some((h, p)) if !h.contains(':') => {
                let port = p.parse::<u16>().ok().filter(|p| *p > 0);
                (h, Some(port.ok_or_else(|| format!("source {text:?}: invalid port {p:?}"))?))
            }
            _ => (hostport, None),
        };
        if host.is_empty() || !host.chars().all(|c| c.is_ascii_alphanumeric() || ".-_:[]".contains(c)) {
            return Err(format!("source {text:?}: invalid host name {host:?}"));
        }
        Ok(Source::Ssh(SshSource {
            user,
            host: host.to_string(),
            port,
            sudo: false,
            identity: None,
            options: Vec::new(),
        }))
    }

    pub fn describe(&self) -> String {
        match self {
            Source::Local(p) => format!("disk:{}", p.display()),
            Source::Ssh(s) => {
                let mut d = format!("ssh:{}{}", s.user.as_ref().map(|u| format!("{u}@")).unwrap_or_default(), s.host);
                if let Some(p) = s.port {
                    d.push_str(&format!(":{p}"));
                }
                if s.sudo {
                    d.push_str(" (sudo)");
                }
                d
            }
        }
    }
}

/// One disk of the source.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Disk {
    /// `sda`, or the image file's name.
    pub name: String,
    /// `/dev/sda`, or the image's path.
    pub path: String,
    pub size: u64,
    pub model: Option<String>,
    pub serial: Option<String>,
    pub readonly: bool,
    /// Where it or its partitions are mounted (a warm copy of a mounted disk needs the final pass).
    pub mounted: Vec<String>,
}

/// One network interface with its MAC address.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Nic {
    pub name: String,
    pub mac: String,
}

/// What the source is made of.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Inventory {
    pub hostname: String,
    /// Unknown for a bare disk image.
    pub cpus: Option<u32>,
    pub memory_kib: Option<u64>,
    pub disks: Vec<Disk>,
    pub nics: Vec<Nic>,
}

impl Inventory {
    pub fn disk(&self, name: &str) -> Option<&Disk> {
        self.disks.iter().find(|d| d.name == name || d.path == name)
    }

    /// The inventory in lines a person reads.
    pub fn describe(&self) -> Vec<String> {
        let inv = self;
        let mut l = vec![format!(
            "inventory of {}: {} CPUs, {} memory",
            if inv.hostname.is_empty() { "the source" } else { &inv.hostname },
            inv.cpus.map(|c| c.to_string()).unwrap_or_else(|| "?".into()),
            inv.memory_kib.map(|m| super::plan::human_bytes(m * 1024)).unwrap_or_else(|| "?".into())
        )];
        for d in &inv.disks {
            l.push(format!(
                "  disk {:<10} {:>10}  model {}  serial {}{}{}",
                d.name,
                super::plan::human_bytes(d.size),
                d.model.as_deref().unwrap_or("-"),
                d.serial.as_deref().unwrap_or("-"),
                if d.readonly { "  read-only" } else { "" },
                if d.mounted.is_empty() { String::new() } else { format!("  mounted on {}", d.mounted.join(" ")) }
            ));
        }
        for n in &inv.nics {
            l.push(format!("  nic  {:<10} {}", n.name, n.mac));
        }
        l
    }
}

use super::inventory::inventory_script;
pub use super::inventory::{parse_cpuinfo, parse_inventory, parse_ip_link, parse_lsblk, parse_meminfo, valid_mac};

// ---- talking to the source ----

/// Quote one word for the remote shell.
pub fn shell_quote(s: &str) -> String {
    if !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || "/._-=:@,+".contains(c)) {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

impl SshSource {
    fn destination(&self) -> String {
        match &self.user {
            Some(u) => format!("{u}@{}", self.host),
            None => self.host.clone(),
        }
    }

    /// `ssh` with the options that make it fail rather than ask, then the remote `script`
    /// (through `sudo -n sh -c` when sudo is on).
    pub fn command(&self, script: &str) -> Command {
        let mut c = Command::new("ssh");
        c.args([
            "-o",
            "BatchMode=yes",
            "-o",
            "ConnectTimeout=10",
            "-o",
            "ServerAliveInterval=5",
            "-o",
            "ServerAliveCountMax=3",
        ]);
        if let Some(p) = self.port {
            c.args(["-p", &p.to_string()]);
        }
        if let Some(i) = &self.identity {
            c.arg("-i").arg(i);
        }
        for o in &self.options {
            c.args(["-o", o]);
        }
        c.arg(self.destination()).arg("--");
        let wrapped = if self.sudo {
            format!("sudo -n sh -c {}", shell_quote(script))
        } else {
            format!("sh -c {}", shell_quote(script))
        };
        c.arg(wrapped);
        c.stdin(Stdio::null());
        c
    }

    /// Run a script at the source and return its standard output; a failure says whether the
    /// machine could not be reached (ssh's exit 255) or the command failed there.
    pub fn run(&self, script: &str, what: &str) -> Result<String, String> {
        let out =
            self.command(script).output().map_err(|e| format!("cannot run ssh: {e} (is openssh-client installed?)"))?;
        let stderr = String::from_utf8_lossy(&out.stderr);
        let last = stderr.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("").trim().to_string();
        match out.status.code() {
            Some(0) => Ok(String::from_utf8_lossy(&out.stdout).into_owned()),
            Some(255) => Err(format!("cannot reach {} over ssh: {last}", self.destination())),
            Some(1) if self.sudo && stderr.contains("sudo") => Err(format!(
                "{what} on {}: sudo needs a password or is not allowed ({last}); sudo must work without one (sudo -n)",
                self.host
            )),
            code => Err(format!(
                "{what} on {} failed (exit {}): {last}",
                self.host,
                code.map(|c| c.to_string()).unwrap_or_else(|| "by a signal".into())
            )),
        }
    }
}

/// Reads a stream from a child process; the child is killed if dropped before the end.
pub struct ChildReader {
    child: Child,
    stdout: ChildStdout,
    what: String,
}

impl ChildReader {
    fn spawn(mut cmd: Command, what: String) -> Result<ChildReader, String> {
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("{what}: cannot start: {e}"))?;
        let stdout = child.stdout.take().ok_or_else(|| format!("{what}: no output pipe"))?;
        Ok(ChildReader { child, stdout, what })
    }

    /// Wait for the child after its data was read; its failure (with its last error line) if any.
    pub fn finish(mut self) -> Result<(), String> {
        // Whatever the reader did not take (nothing, when all went well) must not block the child.
        let _ = std::io::copy(&mut self.stdout, &mut std::io::sink());
        let mut err = String::new();
        if let Some(mut e) = self.child.stderr.take() {
            let _ = e.read_to_string(&mut err);
        }
        let status = self.child.wait().map_err(|e| format!("{}: {e}", self.what))?;
        if status.success() {
            Ok(())
        } else {
            let last = err.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("").trim();
            Err(format!("{} failed ({status}): {last}", self.what))
        }
    }
}

impl ChildReader {
    /// After the reader was cut short: why, if the child failed (it gets `grace` to exit after
    /// its output ended); a child still running is killed (never drained: it may have a whole
    /// disk left to send).
    fn failure(mut self, grace: std::time::Duration) -> Option<String> {
        let deadline = std::time::Instant::now() + grace;
        let status = loop {
            match self.child.try_wait() {
                Ok(Some(status)) => break status,
                Ok(None) if std::time::Instant::now() < deadline => {
                    std::thread::sleep(std::time::Duration::from_millis(20))
                }
                _ => return None, // killed by Drop
            }
        };
        if status.success() {
            return None;
        }
        let mut err = String::new();
        if let Some(mut e) = self.child.stderr.take() {
            let _ = e.read_to_string(&mut err);
        }
        let last = err.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("").trim();
        Some(format!("{} failed ({status}): {last}", self.what))
    }
}

impl Read for ChildReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.stdout.read(buf)
    }
}

impl Drop for ChildReader {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// A byte range of a disk being read.
pub enum DiskReader {
    Local(std::io::Take<std::fs::File>),
    Remote(ChildReader),
}

impl Read for DiskReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            DiskReader::Local(f) => f.read(buf),
            DiskReader::Remote(c) => c.read(buf),
        }
    }
}

impl DiskReader {
    /// After reading: did the reader end well (a remote `dd` may fail after sending data).
    pub fn finish(self) -> Result<(), String> {
        match self {
            DiskReader::Local(_) => Ok(()),
            DiskReader::Remote(c) => c.finish(),
        }
    }

    /// After the copy failed: the reader's own failure, if that is what cut it short (a remote
    /// `dd` that could not open the disk, a lost connection).
    pub fn failure(self) -> Option<String> {
        match self {
            DiskReader::Local(_) => None,
            DiskReader::Remote(c) => c.failure(std::time::Duration::from_secs(2)),
        }
    }
}

/// Size of a local file or block device (seeking to the end works for both).
fn local_size(path: &Path) -> Result<u64, String> {
    use std::io::Seek;
    let mut f = std::fs::File::open(path).map_err(|e| format!("cannot open {}: {e}", path.display()))?;
    f.seek(std::io::SeekFrom::End(0)).map_err(|e| format!("cannot size {}: {e}", path.display()))
}

/// Block size of the remote reads and of the warm mode's checksums: what a changed byte costs
/// to send again, and one `sha256sum` process per block at the source.
pub const BLOCK: u64 = 4 << 20;

impl Source {
    /// The mandatory first step: can the source be reached and read? Returns a line saying what
    /// was found.
    pub fn test_connection(&self) -> Result<String, String> {
        match self {
            Source::Local(p) => {
                let meta = std::fs::metadata(p).map_err(|e| format!("disk {}: {e}", p.display()))?;
                use std::os::unix::fs::FileTypeExt;
                if !(meta.is_file() || meta.file_type().is_block_device()) {
                    return Err(format!("disk {}: not a file or block device", p.display()));
                }
                let mut f =
                    std::fs::File::open(p).map_err(|e| format!("disk {}: cannot open read-only: {e}", p.display()))?;
                let mut first = [0u8; 512];
                let n = f.read(&mut first).map_err(|e| format!("disk {}: cannot read: {e}", p.display()))?;
                if n == 0 {
                    return Err(format!("disk {}: empty", p.display()));
                }
                Ok(format!("{}: readable, {} bytes", p.display(), local_size(p)?))
            }
            Source::Ssh(s) => {
                // Through sudo when asked: the user it names is the one the copy runs as.
                let out = s.run("uname -n; id -un", "test connection")?;
                let mut lines = out.lines();
                let host = lines.next().unwrap_or("").trim().to_string();
                let user = lines.next().unwrap_or("").trim().to_string();
                let via = if s.sudo { " (sudo)" } else { "" };
                Ok(format!("connected to {host} as {user}{via}"))
            }
        }
    }

    pub fn inventory(&self) -> Result<Inventory, String> {
        match self {
            Source::Local(p) => {
                let name = p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "disk".into());
                let size = local_size(p)?;
                if size == 0 {
                    return Err(format!("disk {}: empty", p.display()));
                }
                let disk = Disk {
                    name: name.clone(),
                    path: p.display().to_string(),
                    size,
                    model: None,
                    serial: None,
                    readonly: false,
                    mounted: Vec::new(),
                };
                let hostname = name.split('.').next().unwrap_or(&name).to_string();
                Ok(Inventory { hostname, cpus: None, memory_kib: None, disks: vec![disk], nics: Vec::new() })
            }
            Source::Ssh(s) => parse_inventory(&s.run(&inventory_script(), "inventory")?),
        }
    }

    /// Before anything is made on the target: can the copy read `disk` (its first sector, as
    /// the copy will: through sudo when asked)? An account that may list disks but not read
    /// them is the usual cause of a failure here.
    pub fn check_readable(&self, disk: &Disk) -> Result<(), String> {
        match self {
            Source::Local(p) => {
                std::fs::File::open(p).map(drop).map_err(|e| format!("disk {}: cannot open read-only: {e}", disk.path))
            }
            Source::Ssh(s) => {
                let script = format!("dd if={} bs=512 count=1 of=/dev/null status=none", shell_quote(&disk.path));
                s.run(&script, &format!("reading {}", disk.path)).map(drop).map_err(|e| {
                    if s.sudo || !e.contains("Permission denied") {
                        e
                    } else {
                        format!("{e} ({} may not read it: --sudo runs the copy through sudo)", s.destination())
                    }
                })
            }
        }
    }

    /// Read `length` bytes of `disk` from `offset` (a multiple of `BLOCK` unless it is 0).
    pub fn read(&self, disk: &Disk, offset: u64, length: u64) -> Result<DiskReader, String> {
        match self {
            Source::Local(p) => {
                use std::io::Seek;
                let mut f = std::fs::File::open(p).map_err(|e| format!("cannot open {}: {e}", p.display()))?;
                f.seek(std::io::SeekFrom::Start(offset)).map_err(|e| format!("cannot seek {}: {e}", p.display()))?;
                Ok(DiskReader::Local(f.take(length)))
            }
            Source::Ssh(s) => {
                let skip = offset / BLOCK;
                let count = length.div_ceil(BLOCK);
                let script = format!(
                    "dd if={} bs={BLOCK} skip={skip} count={count} iflag=direct status=none",
                    shell_quote(&disk.path)
                );
                ChildReader::spawn(s.command(&script), format!("reading {} on {}", disk.path, s.host))
                    .map(DiskReader::Remote)
            }
        }
    }

    /// SHA-256 of every `BLOCK` of the disk, computed where the disk is (standard tools at a
    /// remote source: `dd | split --filter=sha256sum`).
    pub fn checksums(&self, disk: &Disk) -> Result<Vec<[u8; 32]>, String> {
        match self {
            Source::Local(_) => {
                let mut r = self.read(disk, 0, disk.size)?;
                block_hashes(&mut r, disk.size)
            }
            Source::Ssh(s) => {
                // split runs its filter through $SHELL: a login shell's bash would read root's
                // rc files once per block (measured: 150 ms each); plain sh reads none.
                let script = format!(
                    "dd if={} bs={BLOCK} iflag=direct status=none | SHELL=/bin/sh split -b {BLOCK} --filter=sha256sum",
                    shell_quote(&disk.path)
                );
                let out = s.run(&script, "block checksums")?;
                let hashes = out.lines().map(parse_hash).collect::<Result<Vec<_>, _>>()?;
                if hashes.len() as u64 != disk.size.div_ceil(BLOCK) {
                    return Err(format!(
                        "block checksums of {}: {} blocks, expected {}",
                        disk.path,
                        hashes.len(),
                        disk.size.div_ceil(BLOCK)
                    ));
                }
                Ok(hashes)
            }
        }
    }

    /// Run the command that stops (quiesces) the source before the warm mode's final pass: at
    /// the source over SSH, or here for a local disk (split into words, no shell).
    pub fn stop(&self, command: &str) -> Result<(), String> {
        match self {
            Source::Ssh(s) => s.run(command, "stop command").map(|_| ()),
            Source::Local(_) => {
                let words: Vec<&str> = command.split_whitespace().collect();
                let Some((prog, args)) = words.split_first() else { return Err("stop command is empty".into()) };
                let out = Command::new(prog).args(args).output().map_err(|e| format!("stop command {prog}: {e}"))?;
                if out.status.success() {
                    Ok(())
                } else {
                    Err(format!(
                        "stop command failed ({}): {}",
                        out.status,
                        String::from_utf8_lossy(&out.stderr).trim()
                    ))
                }
            }
        }
    }
}

fn parse_hash(line: &str) -> Result<[u8; 32], String> {
    let hex = line.split_whitespace().next().unwrap_or("");
    let mut out = [0u8; 32];
    if hex.len() != 64 {
        return Err(format!("not a sha256sum line: {line:?}"));
    }
    for (i, b) in out.iter_mut().enumerate() {
        *b = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).map_err(|_| format!("not a sha256sum line: {line:?}"))?;
    }
    Ok(out)
}

/// SHA-256 of each `BLOCK` read from `r` (`size` bytes in all; the last block may be short).
pub fn block_hashes(r: &mut dyn Read, size: u64) -> Result<Vec<[u8; 32]>, String> {
    let mut hasher = BlockHasher::default();
    let mut buf = vec![0u8; 1 << 20];
    let mut left = size;
    while left > 0 {
        let want = usize::try_from(left.min(buf.len() as u64)).unwrap_or(buf.len());
        let n = r.read(&mut buf[..want]).map_err(|e| format!("reading for checksums: {e}"))?;
        if n == 0 {
            return Err(format!("the disk ended {left} bytes early"));
        }
        hasher.update(&buf[..n]);
        left -= n as u64;
    }
    Ok(hasher.finish())
}

/// SHA-256 per `BLOCK` of a byte stream, fed in pieces of any size.
#[derive(Default)]
pub struct BlockHasher {
    current: Option<sha2::Sha256>,
    in_block: u64,
    done: Vec<[u8; 32]>,
}

impl BlockHasher {
    pub fn update(&mut self, mut data: &[u8]) {
        use sha2::Digest;
        while !data.is_empty() {
            let take = usize::try_from((BLOCK - self.in_block).min(data.len() as u64)).unwrap_or(data.len());
            self.current.get_or_insert_with(sha2::Sha256::new).update(&data[..take]);
            self.in_block += take as u64;
            data = &data[take..];
            if self.in_block == BLOCK {
                self.flush();
            }
        }
    }

    fn flush(&mut self) {
        use sha2::Digest;
        if let Some(h) = self.current.take() {
            self.done.push(h.finalize().into());
        }
        self.in_block = 0;
    }

    pub fn finish(mut self) -> Vec<[u8; 32]> {
        self.flush();
        self.done
    }
}

#[cfg(test)]
#[path = "source_tests.rs"]
mod tests;

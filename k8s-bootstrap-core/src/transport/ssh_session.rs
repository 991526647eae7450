//! One long-lived remote shell per SSH session channel, serving many
//! commands (issue 17): opening a channel costs the host a new sshd session
//! (PAM, logind, the login shell's startup files) and a sudo per command;
//! an exchange on an open session costs a few forks.
//!
//! The session runs [`DRIVER`], a POSIX `sh` loop (under `sudo -n` once, when
//! the transport uses sudo). It first prints [`BANNER`]. Then, per exchange:
//!
//! - request (client to driver): `<script length> <stdin length>\n` and the
//!   script, or, for a script of one short line, `line <stdin length>\n`
//!   and the script ended by a newline; then exactly that many stdin bytes;
//! - answer (driver to client): `<exit code> <stdout length> <stderr length>\n`,
//!   then the stdout bytes, then the stderr bytes.
//!
//! The driver reads the header and a one-line script with `read` (byte by
//! byte), a longer script with GNU `head -c N` and the stdin with GNU `dd`
//! (`iflag=fullblock,count_bytes`); neither reads more than N bytes from a
//! pipe, so a request can never eat into the next one. The script runs in
//! a subshell (`eval`) with its stdin from that `dd`; whatever of it the
//! command leaves unread is drained before answering. Output is captured
//! in files of a private `mktemp -d` folder (in `/dev/shm`: a full disk
//! cannot cut it short), removed when the driver exits (its stdin closed,
//! a signal); outputs may be binary and large. A command killed by a
//! signal answers 128 + the signal number, as in any shell.

use futures::FutureExt;
use russh::ChannelMsg;
use russh::{ChannelReadHalf, ChannelWriteHalf};
use russh::client::Msg;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};

use super::Output;

/// The first line the driver prints: it runs, and speaks this protocol.
pub(super) const BANNER: &[u8] = b"kb-session 1\n";

/// The driver loop. Its variables are prefixed `kb_` (the scripts it
/// evaluates see them, as they would any shell variable). Per exchange it
/// forks the command's subshell and, only when there is output, `stat` and
/// `head`: a script of one line is read with `read` (no `head`), silent
/// commands skip `stat`, and each exchange writes fresh output files
/// (truncated once sent, removed in batches), so a process a command left
/// in the background can never write into a later command's output. A
/// command's stderr is redirected inside its subshell, so that the "Killed"
/// a shell prints about a child killed by a signal goes to the driver's own
/// stderr, never into the command's. The output files are kept in RAM
/// (`/dev/shm`; `$TMPDIR` where there is none): on a host whose disk is
/// full, a command's output would be cut short and its error lost (a CI
/// run saw a transfer fail with "exit 1" and no message, and the facts
/// probe's output came back empty). Large files are therefore read back in
/// chunks (see `read_file`), never as one output. A request's stdin goes
/// through `dd` in 128 KiB blocks: `head -c` copies in 8 KiB reads and
/// writes, and on a first apply (94 MB to each of 3 test hosts) the `head`
/// processes took a tenth of the machine's CPU (`perf record -a`).
pub(super) const DRIVER: &str = r#"kb_d=$(mktemp -d /dev/shm/kb-session.XXXXXXXX 2> /dev/null) ||
  kb_d=$(mktemp -d "${TMPDIR:-/tmp}/kb-session.XXXXXXXX") || exit 125
trap 'rm -rf -- "$kb_d"' EXIT
trap 'exit 129' HUP
trap 'exit 130' INT
trap 'exit 141' PIPE
trap 'exit 143' TERM
kb_i=0
echo 'kb-session 1'
while IFS=' ' read -r kb_n kb_m; do
  case $kb_m in
    '' | *[!0-9]*) echo 'kb-session: bad request header' >&2; exit 2 ;;
  esac
  case $kb_n in
    line) IFS= read -r kb_c || exit 3 ;;
    '' | *[!0-9]*) echo 'kb-session: bad request header' >&2; exit 2 ;;
    *) kb_c=$(head -c "$kb_n"; echo .) || exit 3; kb_c=${kb_c%.} ;;
  esac
  kb_i=$((kb_i + 1))
  kb_o=$kb_d/o$kb_i
  kb_e=$kb_d/e$kb_i
  if [ "$kb_m" = 0 ]; then
    (exec 2> "$kb_e"; eval "$kb_c") < /dev/null > "$kb_o"
  else
    dd bs=128k count="$kb_m" iflag=fullblock,count_bytes status=none | { (exec 2> "$kb_e"; eval "$kb_c"); kb_r=$?; cat > /dev/null; exit "$kb_r"; } > "$kb_o"
  fi
  kb_r=$?
  if [ -s "$kb_o" ] || [ -s "$kb_e" ]; then
    kb_s=$(stat -c %s -- "$kb_o" "$kb_e") || exit 4
  else
    kb_s='0 0'
  fi
  kb_so=${kb_s%%[!0-9]*}
  kb_se=${kb_s##*[!0-9]}
  printf '%s %s %s\n' "$kb_r" "$kb_so" "$kb_se"
  [ "$kb_so" = 0 ] || head -c "$kb_so" -- "$kb_o"
  [ "$kb_se" = 0 ] || head -c "$kb_se" -- "$kb_e"
  : > "$kb_o"
  : > "$kb_e"
  case $kb_i in *00) rm -f -- "$kb_d"/[oe]* ;; esac
done
"#;

/// Scripts of one line up to this long are sent as a line (read with the
/// shell's `read`, byte by byte: no process started for it).
const MAX_LINE_SCRIPT: usize = 4096;

/// The start of a request: the header line, then the script.
pub(super) fn request_head(script: &str, stdin_len: u64) -> Vec<u8> {
    let mut head = if script.len() <= MAX_LINE_SCRIPT && !script.contains('\n') {
        format!("line {stdin_len}\n{script}\n")
    } else {
        format!("{} {stdin_len}\n{script}", script.len())
    }
    .into_bytes();
    head.reserve(32 * 1024);
    head
}

/// What a request feeds to the command's stdin; its length is announced
/// in the header, so it is known before sending.
pub(super) enum Body<'a> {
    /// Pieces sent one after another (a command's stdin, or the contents
    /// of several files for one batch script).
    Slices(Vec<&'a [u8]>),
    /// Exactly `len` bytes streamed from a reader (a local file); a reader
    /// that ends early is padded with zeros to keep the framing (the
    /// remote checksum then fails), one that has more is cut.
    Reader(Box<dyn AsyncRead + Send + Unpin + 'a>, u64),
}

impl Body<'_> {
    /// No stdin.
    pub(super) fn empty() -> Self {
        Self::Slices(Vec::new())
    }

    fn len(&self) -> u64 {
        match self {
            Self::Slices(v) => v.iter().map(|s| s.len() as u64).sum(),
            Self::Reader(_, n) => *n,
        }
    }
}

/// Parses an answer (and the banner before the first one) as it arrives.
pub(super) struct Parser {
    state: State,
    /// Before the banner: what arrived so far (a login shell's chatter).
    pre: Vec<u8>,
    line: Vec<u8>,
    code: u32,
    /// Length of stderr, from the header.
    err_len: u64,
    stdout: Vec<u8>,
    stderr: Vec<u8>,
}

#[derive(Debug, PartialEq, Eq)]
enum State {
    Banner,
    Header,
    Stdout(u64),
    Stderr(u64),
    Done,
}

impl Parser {
    /// A parser for the next answer; `banner`: the session is new and its
    /// banner comes first.
    pub(super) fn new(banner: bool) -> Self {
        Self {
            state: if banner { State::Banner } else { State::Header },
            pre: Vec::new(),
            line: Vec::new(),
            code: 0,
            err_len: 0,
            stdout: Vec::new(),
            stderr: Vec::new(),
        }
    }

    /// Whether the banner was seen (the driver runs).
    pub(super) fn started(&self) -> bool {
        self.state != State::Banner
    }

    /// The answer is complete.
    pub(super) fn done(&self) -> bool {
        self.state == State::Done
    }

    /// What arrived before the banner (a driver that never started: what
    /// the login shell said instead).
    pub(super) fn before_banner(&self) -> &[u8] {
        &self.pre
    }

    /// Takes in the next bytes of the stream.
    pub(super) fn feed(&mut self, mut data: &[u8]) -> Result<(), String> {
        while !data.is_empty() {
            match self.state {
                State::Banner => {
                    // lines a login shell prints first (a chatty ~/.bashrc) are skipped
                    self.pre.extend_from_slice(data);
                    let at = (0..self.pre.len()).find(|&i| (i == 0 || self.pre[i - 1] == b'\n') && self.pre[i..].starts_with(BANNER));
                    let Some(at) = at else {
                        if self.pre.len() > 64 * 1024 {
                            return Err(format!("no session banner in {:?}...", String::from_utf8_lossy(&self.pre[..200])));
                        }
                        return Ok(());
                    };
                    let rest = self.pre.split_off(at + BANNER.len());
                    self.pre.truncate(at);
                    if !self.pre.is_empty() {
                        tracing::debug!("before the session banner: {}", String::from_utf8_lossy(&self.pre).trim_end());
                    }
                    self.state = State::Header;
                    return self.feed(&rest);
                }
                State::Header => {
                    let Some(i) = data.iter().position(|&b| b == b'\n') else {
                        self.line.extend_from_slice(data);
                        if self.line.len() > 256 {
                            return Err(format!("no line end in {:?}", String::from_utf8_lossy(&self.line)));
                        }
                        return Ok(());
                    };
                    self.line.extend_from_slice(&data[..=i]);
                    data = &data[i + 1..];
                    let line = std::mem::take(&mut self.line);
                    let text = String::from_utf8_lossy(&line);
                    let nums: Option<Vec<u64>> = text.trim_end().split(' ').map(|n| n.parse().ok()).collect();
                    let Some([code, out, err]) = nums.and_then(|v| <[u64; 3]>::try_from(v).ok()) else {
                        return Err(format!("bad answer header {text:?}"));
                    };
                    self.code = u32::try_from(code).map_err(|_| format!("bad answer header {text:?}"))?;
                    // capacity for the whole output at once, so a large one is never copied on growth
                    self.stdout.reserve(usize::try_from(out.min(1 << 26)).unwrap_or(0));
                    self.stderr.reserve(usize::try_from(err.min(1 << 20)).unwrap_or(0));
                    self.err_len = err;
                    self.state = State::Stdout(out);
                    self.settle();
                }
                State::Stdout(left) | State::Stderr(left) => {
                    let n = usize::try_from(left).unwrap_or(usize::MAX).min(data.len());
                    let (into, next) = match self.state {
                        State::Stdout(_) => (&mut self.stdout, State::Stdout(left - n as u64)),
                        _ => (&mut self.stderr, State::Stderr(left - n as u64)),
                    };
                    into.extend_from_slice(&data[..n]);
                    data = &data[n..];
                    self.state = next;
                    self.settle();
                }
                State::Done => return Err(format!("{} bytes after the answer", data.len())),
            }
        }
        Ok(())
    }

    /// Moves past sections that are complete.
    fn settle(&mut self) {
        if self.state == State::Stdout(0) {
            self.state = State::Stderr(self.err_len);
        }
        if self.state == State::Stderr(0) {
            self.state = State::Done;
        }
    }

    /// The command's output (call when [`done`](Self::done)).
    pub(super) fn into_output(self) -> Output {
        Output {
            stdout: self.stdout,
            stderr: self.stderr,
            exit_code: Some(self.code),
        }
    }
}

/// How an exchange ended.
pub(super) enum Reply {
    /// The driver answered; the session can serve the next request.
    Answer(Output),
    /// The driver never started (sudo refused, no `sh`): what the session
    /// said instead, as a command's output. The session is gone.
    NotStarted(Output),
}

/// The session ended (or spoke garbage) before answering.
#[derive(Debug)]
pub(super) struct Broken {
    /// Sending the request failed with this.
    pub write: Option<String>,
    /// What went wrong reading, if not simply the end of the channel.
    pub protocol: Option<String>,
    /// The driver's exit status, if it sent one.
    pub exit: Option<u32>,
    /// The end of the driver's own stderr.
    pub diag: String,
}

/// One session channel running the driver.
pub(super) struct Session {
    pub id: u64,
    rd: ChannelReadHalf,
    wr: Option<ChannelWriteHalf<Msg>>,
    /// The banner was seen.
    started: bool,
}

impl Session {
    pub(super) fn new(id: u64, rd: ChannelReadHalf, wr: ChannelWriteHalf<Msg>) -> Self {
        Self { id, rd, wr: Some(wr), started: false }
    }

    /// False if the driver or the channel ended while the session was idle
    /// (nothing may arrive between exchanges).
    pub(super) fn is_alive(&mut self) -> bool {
        loop {
            match self.rd.wait().now_or_never() {
                None => return true,
                Some(Some(ChannelMsg::WindowAdjusted { .. } | ChannelMsg::Success)) => {}
                Some(Some(ChannelMsg::ExtendedData { data, .. })) => {
                    tracing::debug!(session = self.id, "session shell said: {}", String::from_utf8_lossy(&data).trim_end());
                }
                Some(_) => return false,
            }
        }
    }

    /// Sends one request and reads its answer. Stdin is streamed while the
    /// answer is awaited, so a session that dies mid-request is noticed.
    /// Dropping the future mid-exchange leaves the session unusable: drop it.
    pub(super) async fn exchange(&mut self, script: &str, body: Body<'_>) -> Result<Reply, Broken> {
        let Self { rd, wr, started, .. } = self;
        let wr = wr.as_ref().expect("a session's writer lives until it is dropped");
        let banner = !*started;
        let write = async {
            let len = body.len();
            let mut w = wr.make_writer();
            let mut first = request_head(script, len);
            match body {
                // small stdin goes in the request's first packet
                Body::Slices(v) if len <= 32 * 1024 => {
                    for s in v {
                        first.extend_from_slice(s);
                    }
                    w.write_all(&first).await?;
                }
                Body::Slices(v) => {
                    w.write_all(&first).await?;
                    for s in v {
                        w.write_all(s).await?;
                    }
                }
                Body::Reader(r, n) => {
                    w.write_all(&first).await?;
                    // exactly n bytes, whatever the source does meanwhile: cut, or
                    // padded with zeros (the remote checksum then fails).
                    // 256 KiB reads: a file's read is a hop to tokio's
                    // blocking pool each (32 KiB made 2,900 hops per 94 MB);
                    // 1 MiB was no faster, and costs 4x the memory per host.
                    let mut src = tokio::io::BufReader::with_capacity(256 * 1024, r.take(n));
                    let sent = tokio::io::copy_buf(&mut src, &mut w).await?;
                    if sent < n {
                        tracing::warn!(sent, expected = n, "upload source shrank since it was hashed: padding with zeros");
                        tokio::io::copy(&mut tokio::io::repeat(0).take(n - sent), &mut w).await?;
                    }
                }
            }
            w.flush().await
        };
        let read = async {
            let mut parser = Parser::new(banner);
            let mut diag = Vec::new();
            let mut exit = None;
            let mut protocol = None;
            while let Some(msg) = rd.wait().await {
                match msg {
                    ChannelMsg::Data { data } => {
                        if let Err(e) = parser.feed(&data) {
                            protocol = Some(e);
                            break;
                        }
                        if parser.done() {
                            return Ok(parser);
                        }
                    }
                    ChannelMsg::ExtendedData { data, .. } => {
                        diag.extend_from_slice(&data);
                        if diag.len() > 8192 {
                            diag.drain(..diag.len() - 4096);
                        }
                    }
                    ChannelMsg::ExitStatus { exit_status } => exit = Some(exit_status),
                    ChannelMsg::ExitSignal { signal_name, .. } => {
                        diag.extend_from_slice(format!("\n(killed by signal {signal_name:?})").as_bytes());
                    }
                    ChannelMsg::Failure => {
                        protocol = Some("the host refused to start the session shell".into());
                        break;
                    }
                    ChannelMsg::Close => break,
                    _ => {}
                }
            }
            Err((parser, diag, exit, protocol))
        };
        tokio::pin!(write);
        tokio::pin!(read);
        // Until the answer is complete or the channel ends. If the channel
        // ends while stdin is still being sent, that goes nowhere (and russh
        // would wait for window forever): stop sending.
        let mut sent = false;
        let r = loop {
            tokio::select! {
                w = &mut write, if !sent => match w {
                    Ok(()) => sent = true,
                    // the request could not be sent whole (the channel is
                    // gone, or the upload source failed): the driver would
                    // wait for the rest forever, so never wait for its answer
                    Err(e) => {
                        return Err(Broken { write: Some(e.to_string()), protocol: None, exit: None, diag: String::new() });
                    }
                },
                r = &mut read => break r,
            }
        };
        match r {
            Ok(parser) if sent => {
                *started = true;
                Ok(Reply::Answer(parser.into_output()))
            }
            Ok(_) => Err(Broken {
                write: None,
                protocol: Some("answered before the request was sent".into()),
                exit: None,
                diag: String::new(),
            }),
            Err((parser, diag, exit, protocol)) => {
                // a driver that never started and said why (sudo refused):
                // that is the command's output; an end without an exit
                // status is a lost channel
                if banner && !parser.started() && protocol.is_none() && exit.is_some() {
                    return Ok(Reply::NotStarted(Output {
                        stdout: parser.before_banner().to_vec(),
                        stderr: diag,
                        exit_code: exit,
                    }));
                }
                Err(Broken { write: None, protocol, exit, diag: super::error::tail(&diag) })
            }
        }
    }
}

/// Closing the channel ends the driver: its stdin closes, its `read`
/// fails, it removes its folder and exits (a command still running is left
/// to its own end, or to its `timeout`).
impl Drop for Session {
    fn drop(&mut self) {
        if let (Some(wr), Ok(rt)) = (self.wr.take(), tokio::runtime::Handle::try_current()) {
            rt.spawn(async move {
                let _ = wr.eof().await;
                let _ = wr.close().await;
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sha2::Digest;
    use std::io::{Read, Write};

    fn parse(bytes: &[u8], banner: bool) -> Result<Output, String> {
        let mut p = Parser::new(banner);
        // byte by byte: every split point of the stream
        for b in bytes {
            p.feed(std::slice::from_ref(b))?;
        }
        if p.done() { Ok(p.into_output()) } else { Err("incomplete".into()) }
    }

    #[test]
    fn parser_frames() {
        let out = parse(b"kb-session 1\n3 4 2\nab\0\ner", true).unwrap();
        assert_eq!((out.exit_code, &out.stdout[..], &out.stderr[..]), (Some(3), &b"ab\0\n"[..], &b"er"[..]));
        let out = parse(b"0 0 0\n", false).unwrap();
        assert_eq!(out, Output { exit_code: Some(0), ..Output::default() });
        assert!(parse(b"0 0 0\nx", false).unwrap_err().contains("after the answer"));
        // a login shell's chatter before the banner is skipped
        let out = parse(b"Welcome\nkb-session 0\nkb-session 1\n0 2 0\nok", true).unwrap();
        assert_eq!(out.stdout, b"ok");
        assert_eq!(parse(b"xkb-session 1\n0 0 0\n", true).unwrap_err(), "incomplete");
        let mut p = Parser::new(true);
        p.feed(b"no shell here\n").unwrap();
        assert!(!p.started() && !p.done());
        assert_eq!(p.before_banner(), b"no shell here\n");
        assert!(parse(b"0 x 0\n", false).unwrap_err().contains("bad answer header"));
        assert!(parse(b"0 1 2 3\n", false).unwrap_err().contains("bad answer header"));
        assert_eq!(parse(b"1 0 3\nerr", false).unwrap().stderr, b"err");
    }

    /// The driver on this machine's `sh`, fed framed requests on a pipe
    /// (no SSH): every framing rule, with real processes; its output
    /// folder in the RAM folder, and in `$TMPDIR` where there is none.
    #[test]
    fn driver_on_local_sh() {
        let tmp = tempfile::tempdir().unwrap();
        let shm = tempfile::tempdir().unwrap();
        let driver = DRIVER.replace("/dev/shm/", &format!("{}/", shm.path().display()));
        assert_ne!(driver, DRIVER);
        let used = driver_run(&driver, tmp.path());
        assert_eq!(used, shm.path(), "the RAM folder is used");
        let used = driver_run(&DRIVER.replace("/dev/shm/", "/nonexistent/"), tmp.path());
        assert_eq!(used, tmp.path(), "$TMPDIR without a RAM folder");
        for d in [tmp.path(), shm.path()] {
            let left: Vec<_> = std::fs::read_dir(d).unwrap().collect();
            assert!(left.is_empty(), "temp folder left behind: {left:?}");
        }
    }

    /// Runs the requests through `driver`; returns the folder its output
    /// folder was made in.
    fn driver_run(driver: &str, tmp: &std::path::Path) -> std::path::PathBuf {
        let mut child = std::process::Command::new("sh")
            .args(["-c", driver])
            .env("TMPDIR", tmp)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdin = child.stdin.take().unwrap();
        let mut stdout = child.stdout.take().unwrap();
        let big: Vec<u8> = (0..5_000_000u32).map(|i| (i.wrapping_mul(2654435761) >> 13) as u8).collect();
        let big_sha = hex::encode(sha2::Sha256::digest(&big));
        let binary: Vec<u8> = (0..=255u8).rev().collect();
        let reqs: Vec<(String, Vec<u8>)> = vec![
            ("echo out; echo err >&2; exit 7".into(), vec![]),
            // reads 2 of 6 bytes: the rest must not reach the next request
            ("head -c 2".into(), b"abcdef".to_vec()),
            ("true".into(), b"ignored entirely".to_vec()),
            ("cat".into(), b"next".to_vec()),
            (format!("printf '{}'", binary.iter().map(|b| format!("\\{b:03o}")).collect::<String>()), vec![]),
            ("sha256sum".into(), big.clone()),
            ("exec timeout -s KILL 0.2 sh -c 'exec sleep 5'".into(), b"unread".to_vec()),
            ("kill -KILL $(exec sh -c 'echo $PPID')".into(), vec![]),
            ("printf 'no newline'".into(), vec![]),
            ("exit 300".into(), vec![]),
            // sent by length, not as a line: several lines, and one too long for `read`
            ("x=1\nif [ $x = 1 ]; then\n  printf 'multi\\n'\nfi\n".into(), vec![]),
            (format!("printf %s {}", "y".repeat(MAX_LINE_SCRIPT)), vec![]),
            // a background writer of an earlier command cannot reach a later output
            ("(sleep 0.3; echo stale) &".into(), vec![]),
            ("sleep 0.6; printf fresh".into(), vec![]),
            ("printf %s \"$kb_d\"".into(), vec![]),
        ];
        // past a batch removal of old output files
        let reqs: Vec<(String, Vec<u8>)> = reqs.into_iter().chain((0..100).map(|i| (format!("echo {i}"), vec![]))).collect();
        let writer = std::thread::spawn(move || {
            for (script, body) in &reqs {
                stdin.write_all(&request_head(script, body.len() as u64)).unwrap();
                stdin.write_all(body).unwrap();
            }
            // stdin closed here: the driver exits and removes its folder
        });
        let mut all = Vec::new();
        stdout.read_to_end(&mut all).unwrap();
        writer.join().unwrap();
        assert!(child.wait().unwrap().success());
        let mut p = Parser::new(true);
        let mut outs = Vec::new();
        for b in &all {
            p.feed(std::slice::from_ref(b)).unwrap();
            if p.done() {
                outs.push(std::mem::replace(&mut p, Parser::new(false)).into_output());
            }
        }
        let o = |i: usize| (outs[i].exit_code.unwrap(), outs[i].stdout_str(), outs[i].stderr_str());
        assert_eq!(outs.len(), 115, "{}", String::from_utf8_lossy(&all));
        assert_eq!(o(0), (7, "out\n".into(), "err\n".into()));
        assert_eq!(o(1), (0, "ab".into(), "".into()));
        assert_eq!(o(2), (0, "".into(), "".into()));
        assert_eq!(o(3), (0, "next".into(), "".into()));
        assert_eq!(outs[4].stdout, binary);
        assert!(o(5).1.starts_with(&big_sha), "{:?}", o(5));
        assert_eq!(o(6), (137, "".into(), "".into()));
        // the subshell killed by a signal: 128 + 9, no "Killed" in its stderr
        assert_eq!(o(7).0, 137);
        assert_eq!(o(8), (0, "no newline".into(), "".into()));
        assert_eq!(o(9).0, 300 % 256);
        assert_eq!(o(10), (0, "multi\n".into(), "".into()));
        assert_eq!(o(11).1, "y".repeat(MAX_LINE_SCRIPT));
        assert_eq!(o(12), (0, "".into(), "".into()));
        assert_eq!(o(13), (0, "fresh".into(), "".into()));
        for i in 0..100 {
            assert_eq!(o(15 + i), (0, format!("{i}\n"), "".into()));
        }
        std::path::Path::new(&o(14).1).parent().unwrap().to_path_buf()
    }
}

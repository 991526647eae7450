//! Shell scripts for file operations built on exec (the k0sproject/rig way):
//! used by exec-based transports such as SSH. Every value is escaped.
#![cfg_attr(not(feature = "ssh"), allow(dead_code))]

use super::{FileKind, FileStat, PutOptions};
use crate::shell::shell_quote as quote;

/// Exit code the scripts use for "path does not exist".
pub(crate) const ABSENT: u32 = 44;

/// Splits `/a/b/c` into (`/a/b`, `c`).
pub(crate) fn split_path(path: &str) -> (String, String) {
    let trimmed = path.trim_end_matches('/');
    match trimmed.rfind('/') {
        Some(0) => ("/".into(), trimmed[1..].into()),
        Some(i) => (trimmed[..i].into(), trimmed[i + 1..].into()),
        None => (".".into(), trimmed.into()),
    }
}

/// Defines `sha FILE`, which sets `$s` to the file's SHA-256 in hex, or
/// to nothing when the file cannot be read: OpenSSL's digest when the
/// host has `openssl` (it uses the CPU's SHA instructions, about 3x faster
/// than coreutils' `sha256sum` on the tens of MB of binaries an apply
/// sends), else `sha256sum`'s. Every script that hashes a file on a host
/// uses it (a script that starts with `set -e` too: no step of it fails).
pub(crate) const SHA_FN: &str = r#"ossl=$(command -v openssl 2>/dev/null) || ossl=
sha() {
  s=
  if [ -n "$ossl" ]; then s=$("$ossl" dgst -sha256 -r < "$1" 2>/dev/null) || s=; s=${s%% *}; fi
  if [ "${#s}" -ne 64 ]; then s=$(sha256sum < "$1" 2>/dev/null) || s=; s=${s%% *}; fi
}
"#;

/// `script` after [`SHA_FN`].
pub(crate) fn with_sha(script: &str) -> String {
    format!("{SHA_FN}{script}")
}

/// Prints `absent`, or `<sha256> <mode-octal> <user>:<group> <uid>:<gid>`
/// (run [`with_sha`]).
pub(crate) fn probe(path: &str) -> String {
    let p = quote(path);
    format!(
        "if [ -f {p} ] && [ ! -L {p} ]; then sha {p}; [ -n \"$s\" ] && \
         printf '%s %s\\n' \"$s\" \"$(stat -c '%a %U:%G %u:%g' -- {p})\"; else echo absent; fi"
    )
}

/// The parsed output of [`probe`].
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Probe {
    pub sha256: String,
    pub mode: u32,
    pub names: String,
    pub ids: String,
}

pub(crate) fn parse_probe(out: &str) -> Option<Probe> {
    let mut it = out.split_whitespace();
    let sha256 = it.next()?.to_string();
    if sha256 == "absent" {
        return None;
    }
    let mode = u32::from_str_radix(it.next()?, 8).ok()?;
    Some(Probe {
        sha256,
        mode,
        names: it.next()?.to_string(),
        ids: it.next()?.to_string(),
    })
}

/// Whether an owner spec (`user`, `user:group`, names or numbers) matches.
pub(crate) fn owner_matches(want: &str, names: &str, ids: &str) -> bool {
    let user_part = |s: &str| s.split(':').next().unwrap_or("").to_string();
    if want.contains(':') {
        let (wu, wg) = want.split_once(':').unwrap_or((want, ""));
        let (nu, ng) = names.split_once(':').unwrap_or((names, ""));
        let (iu, ig) = ids.split_once(':').unwrap_or((ids, ""));
        (wu == nu || wu == iu || wu.is_empty()) && (wg == ng || wg == ig || wg.is_empty())
    } else {
        want == user_part(names) || want == user_part(ids)
    }
}

/// What a put has to do, given the probe of the target.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Plan {
    /// Content, mode and owner match: write nothing.
    Unchanged,
    /// Content matches: chmod/chown only ([`set_meta`]).
    MetadataOnly,
    /// Write the content; `existed` tells Created from Updated.
    Write { existed: bool },
}

pub(crate) fn plan(existing: Option<&Probe>, sha256: &str, opts: &PutOptions) -> Plan {
    match existing {
        Some(p) if p.sha256 == sha256 => {
            let owner_ok = opts
                .owner
                .as_deref()
                .is_none_or(|o| owner_matches(o, &p.names, &p.ids));
            if p.mode == opts.mode && owner_ok {
                Plan::Unchanged
            } else {
                Plan::MetadataOnly
            }
        }
        other => Plan::Write {
            existed: other.is_some(),
        },
    }
}

/// chmod (and chown) an existing file in place.
pub(crate) fn set_meta(path: &str, opts: &PutOptions) -> String {
    let p = quote(path);
    let mut s = format!("chmod {:o} -- {p}", opts.mode);
    if let Some(o) = &opts.owner {
        s.push_str(&format!(" && chown -- {} {p}", quote(o)));
    }
    s
}

/// Where a host keeps the digests of the large files k8s-bootstrap wrote
/// (one line each: path, `inode size mtime ctime`, sha256, tab-separated),
/// so that reading its facts does not hash ~60 MB of binaries every run.
/// A file changed in any way (content, metadata, replaced) no longer
/// matches its line and is hashed.
/// (A shell word: `$KB_DIGESTS` names another file, for tests.)
pub(crate) const DIGEST_CACHE: &str = "\"${KB_DIGESTS:-/var/lib/k8s-bootstrap/digests}\"";

/// Files at least this large have their digest kept ([`DIGEST_CACHE`]).
const CACHE_MIN: u64 = 1 << 20;

/// One file of [`put_many`]: path, SHA-256, size, options.
pub(crate) type PutSpec = (String, String, u64, PutOptions);

/// One script that puts many files whose contents arrive concatenated on
/// stdin (`files`: path, SHA-256, size, options), each atomically: its
/// bytes go to a temp file beside it (created 0600; missing folders 0755
/// under the usual umask), which is checked
/// against the SHA-256, given its mode and owner, fsynced and renamed over
/// the file; unchanged content is consumed and not written, unless
/// `PutOptions::probe` is off: then the old copy is not even hashed. Every
/// file gets one output line, in order: `created`, `updated`, `meta`,
/// `unchanged` or `error <reason>`. A cut connection truncates stdin: the
/// files not received whole fail their hash check, their temp files are
/// removed and the old copies stay.
///
/// The script works in two passes so that its cost on the host does not
/// grow by a handful of processes per file (a first apply writes 22 files
/// per host; they used to take 8 processes each): first every file is
/// received (one `dd` each; a large file's fsync starts in the
/// background as soon as it is received), then the temp files are hashed
/// in one `openssl` run, given their modes and owners in one `chmod` per
/// mode and one `chown` per owner, fsynced (the small ones in one `sync`,
/// once the large ones' are done), renamed (one `mv` each) and their
/// folders fsynced in one more `sync`. A batch command
/// that fails is retried file by file, so the error names the file.
pub(crate) fn put_many(files: &[PutSpec]) -> String {
    let mut s = PUT_MANY.replace("SHAFN", SHA_FN).replace("DIGESTS", DIGEST_CACHE).replace("EARLYSYNC", &CACHE_MIN.to_string());
    let ids = |keep: &dyn Fn(&PutSpec) -> bool| {
        files
            .iter()
            .enumerate()
            .filter(|(_, f)| keep(f))
            .map(|(i, _)| (i + 1).to_string())
            .collect::<Vec<_>>()
            .join(" ")
    };
    for (i, (path, sha, size, opts)) in files.iter().enumerate() {
        let (dir, name) = split_path(path);
        let base = format!(
            "{}/.{}.kbtmp",
            if dir == "/" { "" } else { dir.as_str() },
            name.chars().take(100).collect::<String>()
        );
        s.push_str(&format!(
            "recv {} {} {} {} {size} {:o} {} {} {}\n",
            i + 1,
            quote(path),
            quote(&base),
            quote(sha),
            opts.mode,
            quote(opts.owner.as_deref().unwrap_or("")),
            if opts.create_parents { 1 } else { 0 },
            // the caller knows the host's copy differs: not hashed again
            if opts.probe { 0 } else { 1 }
        ));
    }
    let all = ids(&|_| true);
    s.push_str(&format!("check {all}\n"));
    let mut modes: Vec<u32> = files.iter().map(|f| f.3.mode).filter(|m| *m != 0o600).collect();
    modes.sort_unstable();
    modes.dedup();
    for m in modes {
        s.push_str(&format!("on {} {}\n", quote(&format!("chmod {m:o} --")), ids(&|f| f.3.mode == m)));
    }
    let mut owners: Vec<&str> = files.iter().filter_map(|f| f.3.owner.as_deref()).collect();
    owners.sort_unstable();
    owners.dedup();
    for o in owners {
        s.push_str(&format!("on {} {}\n", quote(&format!("chown -- {}", quote(o))), ids(&|f| f.3.owner.as_deref() == Some(o))));
    }
    s.push_str(&format!("commit {all}\n"));
    let large = ids(&|f| f.2 >= CACHE_MIN);
    if !large.is_empty() {
        s.push_str(&format!("remember {large}\n"));
    }
    s.push_str(&format!("report {all}\n"));
    s
}

/// The functions of [`put_many`]'s script. Per file `I` it keeps the path
/// (`p_I`), digest (`h_I`), temp file while there is one (`t_I`) and
/// result (`r_I`).
const PUT_MANY: &str = r#"um=$(umask)
nl='
'
n=0
# the temp files not renamed yet are removed, whatever ends the script
cleanup() {
  set --
  j=1
  while [ "$j" -le "$n" ]; do
    eval "x=\${t_$j-}"
    [ -z "$x" ] || set -- "$@" "$x"
    j=$((j + 1))
  done
  [ "$#" = 0 ] || rm -f -- "$@"
}
trap cleanup EXIT
trap 'exit 1' HUP INT TERM PIPE
owner_ok() {
  case $1 in
    *:*) [ "$(stat -c %U:%G -- "$2")" = "$1" ] || [ "$(stat -c %u:%g -- "$2")" = "$1" ] ;;
    *) [ "$(stat -c %U -- "$2")" = "$1" ] || [ "$(stat -c %u -- "$2")" = "$1" ] ;;
  esac
}
SHAFN# fail I REASON: file I is not written
fail() {
  eval "x=\${t_$1-}"
  [ -z "$x" ] || rm -f -- "$x"
  eval "t_$1= r_$1=\"error \$2\""
}
# take N: exactly N bytes of stdin (fewer at its end) to stdout, in
# 128 KiB blocks (head -c copies in 8 KiB ones: twice to four times the CPU)
take() {
  dd bs=128k count="$1" iflag=fullblock,count_bytes status=none
}
# recv I PATH TMPBASE SHA SIZE MODE OWNER PARENTS NOPROBE: SIZE bytes of
# stdin into a new temp file TMPBASE.*, or only consumed when the host's
# copy already has these contents
recv() {
  n=$1
  eval "p_$1=\$2 h_$1=\$4 t_$1="
  f=$2; d=${3%/*}; [ -n "$d" ] || d=/
  s=
  if [ "$9" != 1 ] && [ -f "$f" ] && [ ! -L "$f" ]; then sha "$f"; fi
  if [ "$s" = "$4" ]; then
    take "$5" > /dev/null
    if [ "$(stat -c %a -- "$f")" = "$6" ] && { [ -z "$7" ] || owner_ok "$7" "$f"; }; then
      r=unchanged
    elif chmod "$6" -- "$f" && { [ -z "$7" ] || chown -- "$7" "$f"; }; then
      r=meta
    else
      r='error chmod/chown failed'
    fi
    eval "r_$1=\$r"
    return
  fi
  if [ -e "$f" ]; then r=updated; else r=created; fi
  if [ "$8" = 1 ] && [ ! -d "$d" ]; then mkdir -p -- "$d" 2> /dev/null; fi
  # a name of its own, made without a process; mktemp when it is taken
  t=$3.$$.$1
  umask 077
  set -C
  { true > "$t"; } 2> /dev/null && [ -f "$t" ] && [ ! -L "$t" ] ||
    t=$(mktemp -- "$3.XXXXXX") || t=
  set +C
  umask "$um"
  if [ -z "$t" ]; then
    take "$5" > /dev/null
    eval "r_$1=\"error cannot create a temp file in \$d\""
    return
  fi
  eval "t_$1=\$t r_$1=\$r"
  take "$5" >> "$t"
  # a large file's fsync starts now, while the next files arrive (the
  # disk works while the stream is decrypted): commit waits for it
  if [ "$5" -ge EARLYSYNC ]; then sync -- "$t" 2> /dev/null & eval "e_$1=1"; fi
}
# check I...: the temp files against their digests, in one hashing run
# (file by file when its output does not have one line per file)
check() {
  ids=$*
  set --
  for i in $ids; do eval "x=\$t_$i"; [ -z "$x" ] || set -- "$@" "$x"; done
  [ "$#" = 0 ] && return
  k=$#
  out=
  if [ -n "$ossl" ]; then out=$("$ossl" dgst -sha256 -r "$@" 2> /dev/null) || out=; fi
  if [ -z "$out" ]; then out=$(sha256sum -- "$@" 2> /dev/null) || out=; fi
  set -f
  IFS=$nl
  set -- $out
  IFS=' 	'"$nl"
  set +f
  [ "$#" = "$k" ] || set --
  for i in $ids; do
    eval "x=\$t_$i"
    [ -n "$x" ] || continue
    if [ "$#" -gt 0 ]; then
      s=${1#\\}; s=${s%% *}; shift
    else
      sha "$x"
    fi
    eval "[ \"\$s\" = \"\$h_$i\" ]" || fail "$i" 'content hash mismatch: transfer incomplete'
  done
}
# on CMD I...: the command CMD (shell words) on the temp files of files
# I..., in one run; file by file when that fails, so that the error names
# the file (a file it fails on is not written)
on() {
  c=$1; shift; ids=$*
  set --
  for i in $ids; do eval "x=\$t_$i"; [ -z "$x" ] || set -- "$@" "$x"; done
  [ "$#" = 0 ] || eval "$c \"\$@\"" 2> /dev/null && return
  for i in $ids; do
    eval "x=\$t_$i"
    [ -z "$x" ] || eval "$c \"\$x\"" || fail "$i" 'chmod/chown failed'
  done
}
# commit I...: fsync the temp files, rename each over its file, fsync
# their folders
commit() {
  ids=$*
  wait
  set --
  for i in $ids; do eval "x=\$t_$i e=\${e_$i-}"; [ -z "$x" ] || [ -n "$e" ] || set -- "$@" "$x"; done
  [ "$#" = 0 ] || sync -- "$@" 2> /dev/null || sync
  set --
  for i in $ids; do
    eval "x=\$t_$i f=\$p_$i"
    [ -n "$x" ] || continue
    if mv -f -- "$x" "$f"; then
      eval "t_$i="
      set -- "$@" "${x%/*}/"
    else
      fail "$i" 'write failed'
    fi
  done
  [ "$#" = 0 ] || sync -- "$@" 2> /dev/null
}
# remember I...: the digests of these large files just written, keyed by
# what any change to them changes (inode, size, mtime, ctime): the facts
# probe reads them instead of hashing the files again. Best effort:
# without them, the probe hashes.
remember() {
  all=$*
  ids=
  set --
  for i in $all; do
    eval "x=\$r_$i f=\$p_$i"
    case $x in created | updated) ids="$ids $i"; set -- "$@" "$f" ;; esac
  done
  [ "$#" = 0 ] && return 0
  k=$(stat -c '%i %s %.9Y %.9Z' -- "$@") || return 0
  c=DIGESTS
  mkdir -p -- "${c%/*}" 2> /dev/null || return 0
  {
    [ ! -f "$c" ] || awk -F '\t' 'BEGIN { for (i = 1; i < ARGC; i++) { gone[ARGV[i]] = 1; delete ARGV[i] } } !($1 in gone)' "$@" < "$c"
    for i in $ids; do
      eval "printf '%s\t%s\t%s\n' \"\$p_$i\" \"\${k%%\"\$nl\"*}\" \"\$h_$i\""
      k=${k#*"$nl"}
    done
  } > "$c.tmp" 2> /dev/null && mv -f -- "$c.tmp" "$c" 2> /dev/null || rm -f -- "$c.tmp"
}
# report I...: one line per file
report() {
  for i in $*; do eval "printf '%s\n' \"\$r_$i\""; done
}
"#;

/// At most `len` bytes of the file from byte `offset` on (GNU `dd`), exit
/// [`ABSENT`] if it is missing.
pub(crate) fn read_chunk(path: &str, offset: u64, len: u64) -> String {
    let p = quote(path);
    format!(
        "if [ -e {p} ] || [ -L {p} ]; then exec dd if={p} iflag=skip_bytes,count_bytes,fullblock bs=1M skip={offset} count={len} status=none; \
         else exit {ABSENT}; fi"
    )
}

/// `stat` the path, exit [`ABSENT`] if missing.
pub(crate) fn stat(path: &str) -> String {
    let p = quote(path);
    format!(
        "if [ -e {p} ] || [ -L {p} ]; then exec stat -c '%F|%s|%a|%u|%g|%Y' -- {p}; else exit {ABSENT}; fi"
    )
}

pub(crate) fn parse_stat(out: &str) -> Option<FileStat> {
    let f: Vec<&str> = out.trim_end().split('|').collect();
    if f.len() != 6 {
        return None;
    }
    let kind = match f[0] {
        "regular file" | "regular empty file" => FileKind::File,
        "directory" => FileKind::Dir,
        "symbolic link" => FileKind::Symlink,
        _ => FileKind::Other,
    };
    Some(FileStat {
        kind,
        size: f[1].parse().ok()?,
        mode: u32::from_str_radix(f[2], 8).ok()?,
        uid: f[3].parse().ok()?,
        gid: f[4].parse().ok()?,
        mtime: f[5].parse().ok()?,
    })
}

/// The SHA-256 of the file ([`SHA_FN`]), exit [`ABSENT`] if missing.
pub(crate) fn sha256(path: &str) -> String {
    let p = quote(path);
    with_sha(&format!("if [ -f {p} ]; then sha {p}; [ -n \"$s\" ] && echo \"$s\"; else exit {ABSENT}; fi"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The batch script run by the real `sh` on real files: every outcome,
    /// and a truncated stdin leaving the old file and no temp file.
    #[test]
    fn put_many_on_real_files() {
        let dir = tempfile::tempdir().unwrap();
        let p = |n: &str| dir.path().join(n).to_string_lossy().into_owned();
        std::fs::write(p("same"), b"same\n").unwrap();
        std::fs::write(p("chmod"), b"chmod\n").unwrap();
        std::fs::write(p("old"), b"old\n").unwrap();
        let files: Vec<(String, Vec<u8>, u32)> = vec![
            (p("new/dir/created"), b"created\n".to_vec(), 0o600),
            (p("same"), b"same\n".to_vec(), 0o644),
            (p("chmod"), b"chmod\n".to_vec(), 0o600),
            (p("old"), b"new content\n".to_vec(), 0o644),
            (p("it's $(odd) name"), b"x".to_vec(), 0o644),
        ];
        std::fs::set_permissions(p("same"), std::os::unix::fs::PermissionsExt::from_mode(0o644)).unwrap();
        let specs: Vec<_> = files
            .iter()
            .map(|(path, b, mode)| (path.clone(), crate::transport::sha256_hex(b), b.len() as u64, PutOptions::new(*mode)))
            .collect();
        let run = |stdin: Vec<u8>| {
            use std::io::Write;
            let mut c = std::process::Command::new("sh")
                .args(["-c", &put_many(&specs)])
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .spawn()
                .unwrap();
            c.stdin.take().unwrap().write_all(&stdin).unwrap();
            String::from_utf8(c.wait_with_output().unwrap().stdout).unwrap()
        };
        let all: Vec<u8> = files.iter().flat_map(|(_, b, _)| b.clone()).collect();
        assert_eq!(run(all.clone()), "created\nunchanged\nmeta\nupdated\ncreated\n");
        assert_eq!(std::fs::read(p("old")).unwrap(), b"new content\n");
        assert_eq!(std::fs::read(p("it's $(odd) name")).unwrap(), b"x");
        let mode = |n: &str| std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(p(n)).unwrap().permissions()) & 0o777;
        assert_eq!((mode("new/dir/created"), mode("chmod")), (0o600, 0o600));
        assert_eq!((mode("new"), mode("new/dir")), (0o755, 0o755), "folders made as `mkdir -p` makes them");
        assert_eq!(run(all.clone()), "unchanged\nunchanged\nunchanged\nunchanged\nunchanged\n");
        // Stdin cut in the middle of the 4th file: the 4th keeps its old
        // content, nothing is left behind.
        std::fs::write(p("old"), b"old\n").unwrap();
        let cut = all.len() - 1 - 6;
        let out = run(all[..cut].to_vec());
        assert!(out.starts_with("unchanged\nunchanged\nunchanged\nerror content hash mismatch"), "{out}");
        assert_eq!(std::fs::read(p("old")).unwrap(), b"old\n");
        let litter: Vec<_> = std::fs::read_dir(dir.path()).unwrap().filter_map(|e| e.ok()).filter(|e| e.file_name().to_string_lossy().contains("kbtmp")).collect();
        assert!(litter.is_empty(), "{litter:?}");
    }

    /// Owners are set in one `chown` per owner; when it fails, file by
    /// file, so only the file whose owner cannot be set fails, by name.
    #[test]
    fn put_many_sets_owners_and_fails_only_the_file_whose_owner_is_unknown() {
        use std::os::unix::fs::MetadataExt;
        let dir = tempfile::tempdir().unwrap();
        let me = std::fs::metadata(dir.path()).unwrap();
        let p = |n: &str| dir.path().join(n).to_string_lossy().into_owned();
        let spec = |n: &str, owner: &str| (p(n), crate::transport::sha256_hex(n.as_bytes()), n.len() as u64, PutOptions::new(0o640).owner(owner));
        let specs = vec![spec("mine", &format!("{}:{}", me.uid(), me.gid())), spec("stranger", "no-such-user-kb"), spec("also-mine", &me.uid().to_string())];
        let (code, out) = run_sh(&put_many(&specs), b"mine".iter().chain(b"stranger").chain(b"also-mine").copied().collect::<Vec<u8>>().as_slice(), None);
        assert_eq!((code, out.as_str()), (Some(0), "created\nerror chmod/chown failed\ncreated\n"));
        assert_eq!(std::fs::read(p("mine")).unwrap(), b"mine");
        assert!(!std::path::Path::new(&p("stranger")).exists());
        let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(left.len(), 2, "{left:?}");
    }

    /// A temp file name already taken (left by a run killed mid-write, or
    /// a link) is neither reused nor written through: the file gets
    /// another temp name, and what was there stays as it was.
    #[test]
    fn put_many_never_writes_into_a_temp_name_that_is_taken() {
        for taken_by in ["echo stale > \"$t\"", "ln -s /dev/null \"$t\""] {
            let dir = tempfile::tempdir().unwrap();
            let f = dir.path().join("etcd.conf").to_string_lossy().into_owned();
            let specs = vec![(f.clone(), crate::transport::sha256_hex(b"A=1\n"), 4u64, PutOptions::new(0o644))];
            // the name the script tries first: its shell's PID, file 1
            let script = format!("t=\"{}/.etcd.conf.kbtmp.$$.1\"; {taken_by}\n{}", dir.path().display(), put_many(&specs));
            assert_eq!(run_sh(&script, b"A=1\n", None), (Some(0), "created\n".to_string()), "{taken_by}");
            assert_eq!(std::fs::read(&f).unwrap(), b"A=1\n");
            let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().path()).filter(|p| p.to_string_lossy().contains("kbtmp")).collect();
            assert_eq!(left.len(), 1, "only what was there: {left:?}");
            match std::fs::read_link(&left[0]) {
                Ok(to) => assert_eq!(to, std::path::Path::new("/dev/null")),
                Err(_) => assert_eq!(std::fs::read(&left[0]).unwrap(), b"stale\n"),
            }
        }
    }

    /// Runs `script` with `sh` and `stdin` as its input; with `openssl`, a
    /// stand-in `openssl` (that shell body, in that folder, first in PATH).
    /// Its exit code and stdout.
    fn run_sh(script: &str, stdin: &[u8], openssl: Option<(&std::path::Path, &str)>) -> (Option<i32>, String) {
        use std::io::Write;
        use std::os::unix::fs::PermissionsExt;
        use std::process::Stdio;
        let mut c = std::process::Command::new("sh");
        c.args(["-c", script]);
        if let Some((bin, body)) = openssl {
            std::fs::create_dir_all(bin).unwrap();
            std::fs::write(bin.join("openssl"), format!("#!/bin/sh\n{body}\n")).unwrap();
            std::fs::set_permissions(bin.join("openssl"), std::fs::Permissions::from_mode(0o755)).unwrap();
            c.env("PATH", format!("{}:{}", bin.display(), std::env::var("PATH").unwrap()));
        }
        let mut child = c.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
        child.stdin.take().unwrap().write_all(stdin).unwrap();
        let out = child.wait_with_output().unwrap();
        (out.status.code(), String::from_utf8(out.stdout).unwrap())
    }

    /// The batch script hashes with the host's `openssl` when it answers a
    /// digest, and with `sha256sum` when it does not: a stand-in openssl
    /// first in PATH that prints a wrong digest makes the upload fail its
    /// check (so openssl's answer is the one used), one that prints no
    /// digest leaves the work to sha256sum.
    #[test]
    fn put_many_hashes_with_openssl_when_it_answers() {
        let dir = tempfile::tempdir().unwrap();
        let bin = dir.path().join("bin");
        let target = dir.path().join("f").to_string_lossy().into_owned();
        let specs = vec![(target.clone(), crate::transport::sha256_hex(b"data"), 4u64, PutOptions::new(0o644))];
        let run = |openssl: &str| {
            let _ = std::fs::remove_file(&target);
            run_sh(&put_many(&specs), b"data", Some((&bin, openssl))).1
        };
        let wrong = "0".repeat(64);
        assert!(run(&format!("cat >/dev/null; echo '{wrong} *stdin'")).starts_with("error content hash mismatch"));
        assert_eq!(run("cat >/dev/null; echo 'openssl: unknown option' >&2; exit 1"), "created\n");
        assert_eq!(std::fs::read(&target).unwrap(), b"data");
    }

    /// A file whose caller knows the host's copy differs (probe off) is
    /// written without hashing the old copy: the same bytes come back
    /// `updated`, where a probing put finds them `unchanged`.
    #[test]
    fn put_many_without_probe_does_not_hash_the_old_copy() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("etcd").to_string_lossy().into_owned();
        let run = |opts: PutOptions| {
            std::fs::write(&f, b"same").unwrap();
            std::fs::set_permissions(&f, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
            let specs = vec![(f.clone(), crate::transport::sha256_hex(b"same"), 4u64, opts)];
            run_sh(&put_many(&specs), b"same", None).1
        };
        assert_eq!(run(PutOptions::new(0o755)), "unchanged\n");
        assert_eq!(run(PutOptions::new(0o755).probe(false)), "updated\n");
        assert_eq!(std::fs::read(&f).unwrap(), b"same");
    }

    /// Every other script that hashes a file on a host (one upload, the
    /// digest, the probe) does it as `put_many` does: with a stand-in
    /// openssl that answers a digest, that digest is the one used; with
    /// one that fails, sha256sum's.
    #[test]
    fn every_host_side_hash_prefers_openssl_and_falls_back_to_sha256sum() {
        let dir = tempfile::tempdir().unwrap();
        let bin = dir.path().join("bin");
        let file = dir.path().join("f").to_string_lossy().into_owned();
        let real = crate::transport::sha256_hex(b"data");
        let stand_in = "1".repeat(64);
        let answers = format!("cat >/dev/null; echo '{stand_in} *stdin'");
        let fails = "cat >/dev/null; exit 1";
        let sh = |openssl: &str, script: &str, stdin: &[u8]| run_sh(script, stdin, Some((&bin, openssl)));
        std::fs::write(&file, b"data").unwrap();
        assert_eq!(sh(&answers, &sha256(&file), b""), (Some(0), format!("{stand_in}\n")));
        assert_eq!(sh(fails, &sha256(&file), b""), (Some(0), format!("{real}\n")));
        let probe = with_sha(&probe(&file));
        assert!(sh(&answers, &probe, b"").1.starts_with(&format!("{stand_in} ")));
        assert!(sh(fails, &probe, b"").1.starts_with(&format!("{real} ")));
        // one upload: the stand-in's digest is neither the host's copy's
        // nor the upload's, so the upload is refused; with sha256sum's, the
        // host's copy is found to be the same
        let put = put_many(&[(file.clone(), real.clone(), 4, PutOptions::new(0o644))]);
        assert_eq!(sh(&answers, &put, b"data"), (Some(0), "error content hash mismatch: transfer incomplete\n".into()));
        assert_eq!(sh(fails, &put, b"data"), (Some(0), "unchanged\n".into()));
    }

    #[test]
    fn split_and_parse() {
        assert_eq!(split_path("/etc/x"), ("/etc".into(), "x".into()));
        assert_eq!(split_path("/x"), ("/".into(), "x".into()));
        assert_eq!(split_path("x"), (".".into(), "x".into()));
        let p = parse_probe("ab 640 root:etcd 0:998\n").unwrap();
        assert_eq!(p.mode, 0o640);
        assert!(owner_matches("root:etcd", &p.names, &p.ids));
        assert!(owner_matches("0", &p.names, &p.ids));
        assert!(!owner_matches("etcd", &p.names, &p.ids));
        assert_eq!(parse_probe("absent\n"), None);
        let s = parse_stat("regular file|5|644|0|0|1700000000\n").unwrap();
        assert_eq!((s.kind, s.size, s.mode), (FileKind::File, 5, 0o644));
    }
}

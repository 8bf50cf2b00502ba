//! The `evtrail` command-line tool, run as a real process on logs written
//! by the library. Needs the `cli` feature: `cargo test --all-features`.

mod common;

use std::ffi::OsStr;
use std::fs;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{WAIT, dispatch, file_lines, gzip_file};
use evtrail::{Key, Overflow, Seal};
use serde_json::Value;

/// The environment variable the `--key-env` tests use.
const KEY_VAR: &str = "EVTRAIL_CLI_TEST_KEY";

/// What a run of the binary did.
type Run = common::CliRun;

fn run_with<I, S>(args: I, setup: impl FnOnce(&mut Command)) -> Run
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    common::evtrail_with(args, |cmd| {
        cmd.env_remove(KEY_VAR);
        setup(cmd)
    })
}

fn run<I, S>(args: I) -> Run
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    run_with(args, |_| {})
}

fn json(run: &Run) -> Value {
    assert!(
        run.stdout.ends_with("}\n") && run.stdout.matches('\n').count() == 1,
        "--json must print one newline-terminated document{run}"
    );
    serde_json::from_str(&run.stdout).unwrap_or_else(|e| panic!("stdout is not JSON ({e}){run}"))
}

/// `evtrail keygen --out <path>`, checked, and the key it wrote.
fn keygen(path: &Path) -> Key {
    let r = run([OsStr::new("keygen"), "--out".as_ref(), path.as_os_str()]);
    assert_eq!(r.code, Some(0), "{r}");
    let key = Key::from_file(path).unwrap_or_else(|e| panic!("load the new key: {e}{r}"));
    assert_eq!(
        r.stdout,
        format!("wrote key {} to {}\n", key.id(), path.display()),
        "{r}"
    );
    assert_eq!(r.stderr, "", "{r}");
    key
}

/// A signed log of stream `app` in three files (two rotations), written by
/// the library with a key made by `evtrail keygen`.
struct Fixture {
    _root: tempfile::TempDir,
    logs: PathBuf,
    key_file: PathBuf,
    key: Key,
    /// The stream's latest seal, taken before shutdown.
    seals: Vec<Seal>,
}

/// Events per file.
const EVENTS: u64 = 6;

impl Fixture {
    fn new() -> Fixture {
        let root = tempfile::tempdir().unwrap();
        let key_file = root.path().join("signing.key");
        let key = keygen(&key_file);
        let logs = root.path().join("logs");
        let (layer, guard) = evtrail::builder()
            .service("t")
            .key(key.clone())
            .log_dir(&logs)
            // Rolled files stay plain: the tests read and edit them directly.
            .file_options(evtrail::FileOptions::default().compression(None))
            .overflow(Overflow::Block)
            .seal_every(4, Duration::from_secs(3600))
            .build()
            .unwrap();
        let d = dispatch(layer);
        tracing::dispatcher::with_default(&d, || {
            for file in 0..3 {
                for i in 0..EVENTS {
                    tracing::info!(order = 1000 + 10 * file + i, "order placed");
                }
                if file < 2 {
                    guard.rotate().unwrap();
                }
            }
        });
        guard.flush(WAIT).unwrap();
        let seals = guard.seals();
        drop(guard);
        Fixture {
            _root: root,
            logs,
            key_file,
            key,
            seals,
        }
    }

    fn active(&self) -> PathBuf {
        self.logs.join("app.log")
    }

    fn files(&self) -> Vec<PathBuf> {
        let mut files: Vec<PathBuf> = fs::read_dir(&self.logs)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension() == Some(OsStr::new("log")))
            .collect();
        files.sort();
        files
    }

    /// Every record in every file.
    fn records(&self) -> u64 {
        self.files()
            .iter()
            .map(|f| fs::read_to_string(f).unwrap().lines().count() as u64)
            .sum()
    }

    /// Every record, counting gzipped files too.
    fn records_with_gz(&self) -> u64 {
        let mut n = self.records();
        for entry in fs::read_dir(&self.logs).unwrap() {
            let path = entry.unwrap().path();
            if path.to_string_lossy().ends_with(".log.gz") {
                let mut text = String::new();
                std::io::Read::read_to_string(
                    &mut flate2::read::GzDecoder::new(fs::File::open(&path).unwrap()),
                    &mut text,
                )
                .unwrap();
                n += text.lines().count() as u64;
            }
        }
        n
    }

    /// `evtrail verify <logs> --key-file <key>` and `extra` arguments.
    fn verify(&self, extra: &[&str]) -> Run {
        let mut args: Vec<&OsStr> = vec![
            "verify".as_ref(),
            self.logs.as_os_str(),
            "--key-file".as_ref(),
            self.key_file.as_os_str(),
        ];
        args.extend(extra.iter().map(OsStr::new));
        run(args)
    }

    fn app_seal(&self) -> Seal {
        let seals: Vec<&Seal> = self.seals.iter().filter(|s| s.stream() == "app").collect();
        assert_eq!(seals.len(), 1, "{:?}", self.seals);
        seals[0].clone()
    }
}

fn findings(report: &Value) -> &Vec<Value> {
    report["findings"].as_array().expect("findings array")
}

#[test]
fn keygen_writes_a_private_key_and_never_overwrites_one() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("k.key");
    let key = keygen(&path);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o7777;
        assert_eq!(mode, 0o600, "key file mode {mode:o}");
    }
    let text = fs::read_to_string(&path).unwrap();
    assert_eq!(text, format!("{}:{}\n", key.id(), key.to_hex()));

    let again = run([OsStr::new("keygen"), "--out".as_ref(), path.as_os_str()]);
    assert_eq!(again.code, Some(2), "{again}");
    assert!(
        again.stderr.starts_with("evtrail: key file `") && again.stderr.contains("already exists"),
        "{again}"
    );
    assert_eq!(again.stdout, "", "{again}");
    assert_eq!(
        fs::read_to_string(&path).unwrap(),
        text,
        "the key was overwritten"
    );

    let forced = run([
        OsStr::new("keygen"),
        "--out".as_ref(),
        path.as_os_str(),
        "--force".as_ref(),
    ]);
    assert_eq!(forced.code, Some(0), "{forced}");
    let new = Key::from_file(&path).unwrap();
    assert_ne!(new.id(), key.id(), "--force must write a new key");
    assert_eq!(
        forced.stdout,
        format!("wrote key {} to {}\n", new.id(), path.display())
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o7777;
        assert_eq!(mode, 0o600, "key file mode after --force {mode:o}");
    }
}

#[test]
fn keygen_makes_private_parent_dirs_and_keeps_an_existing_key_if_asked() {
    let home = tempfile::tempdir().unwrap();
    let path = home.path().join(".config/evtrail/demo.key");
    let args = |extra: &[&str]| {
        let mut a: Vec<std::ffi::OsString> =
            vec!["keygen".into(), "--out".into(), path.clone().into()];
        a.extend(extra.iter().map(Into::into));
        a
    };
    let first = run(args(&["--if-missing"]));
    assert_eq!(first.code, Some(0), "{first}");
    let key = Key::from_file(&path).unwrap();
    assert_eq!(
        first.stdout,
        format!("wrote key {} to {}\n", key.id(), path.display())
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        for dir in [
            path.parent().unwrap(),
            path.parent().unwrap().parent().unwrap(),
        ] {
            let mode = fs::metadata(dir).unwrap().permissions().mode() & 0o7777;
            assert_eq!(mode, 0o700, "{} mode {mode:o}", dir.display());
        }
    }

    // A second run of the same command keeps the key and succeeds.
    let text = fs::read_to_string(&path).unwrap();
    let again = run(args(&["--if-missing"]));
    assert_eq!(again.code, Some(0), "{again}");
    assert_eq!(
        again.stdout,
        format!(
            "kept key {} in {} (it exists; --force replaces it)\n",
            key.id(),
            path.display()
        )
    );
    assert_eq!(
        fs::read_to_string(&path).unwrap(),
        text,
        "the key was changed"
    );

    // A file there that is not a key is not taken for one.
    fs::write(&path, "not a key\n").unwrap();
    let bad = run(args(&["--if-missing"]));
    assert_eq!(bad.code, Some(2), "{bad}");
    assert_eq!(fs::read_to_string(&path).unwrap(), "not a key\n");

    let both = run(args(&["--if-missing", "--force"]));
    assert_eq!(both.code, Some(2), "{both}");
}

#[test]
fn keygen_reports_the_chosen_id_and_rejects_bad_ones() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("k.key");
    let r = run([
        OsStr::new("keygen"),
        "--out".as_ref(),
        path.as_os_str(),
        "--id".as_ref(),
        "ops-2026".as_ref(),
    ]);
    assert_eq!(r.code, Some(0), "{r}");
    assert_eq!(
        r.stdout,
        format!("wrote key ops-2026 to {}\n", path.display()),
        "{r}"
    );

    let bad = dir.path().join("bad.key");
    let r = run([
        OsStr::new("keygen"),
        "--out".as_ref(),
        bad.as_os_str(),
        "--id".as_ref(),
        "no spaces".as_ref(),
    ]);
    assert_eq!(r.code, Some(2), "{r}");
    assert!(r.stderr.starts_with("evtrail: invalid key id"), "{r}");
    assert!(!bad.exists(), "no file for a rejected id");

    // Missing parent directories are made, but not through a file.
    fs::write(dir.path().join("a-file"), "").unwrap();
    let r = run([
        OsStr::new("keygen"),
        "--out".as_ref(),
        dir.path().join("a-file/dir/k.key").as_os_str(),
    ]);
    assert_eq!(r.code, Some(2), "{r}");
    assert!(r.stderr.starts_with("evtrail: cannot create `"), "{r}");
    // The io::Error's message follows the context.
    assert!(r.stderr.contains("`: "), "{r}");
}

/// The id given to `keygen --id` is not in the key file (it holds only the
/// secret), so `verify --key-file` loads the key under its fingerprint and
/// cannot verify a log signed under the chosen id.
#[test]
fn a_key_made_with_an_id_verifies_logs_signed_under_that_id() {
    let dir = tempfile::tempdir().unwrap();
    let key_file = dir.path().join("k.key");
    let r = run([
        OsStr::new("keygen"),
        "--out".as_ref(),
        key_file.as_os_str(),
        "--id".as_ref(),
        "ops-2026".as_ref(),
    ]);
    assert_eq!(r.code, Some(0), "{r}");
    // What an application does with the key `keygen` announced.
    let key = Key::from_file(&key_file)
        .unwrap()
        .with_id("ops-2026")
        .unwrap();
    let logs = dir.path().join("logs");
    let (layer, guard) = evtrail::builder()
        .service("t")
        .key(key)
        .log_dir(&logs)
        .build()
        .unwrap();
    let d = dispatch(layer);
    tracing::dispatcher::with_default(&d, || tracing::info!("hello"));
    drop(guard);

    let r = run([
        OsStr::new("verify"),
        logs.as_os_str(),
        "--key-file".as_ref(),
        key_file.as_os_str(),
        "--json".as_ref(),
    ]);
    assert_eq!(r.code, Some(0), "{r}");
    let report = json(&r);
    assert_eq!(findings(&report).len(), 0, "{r}");
    assert_eq!(report["streams"][0]["verified"], 3, "{r}");
}

#[test]
fn a_clean_log_verifies_with_per_stream_counts() {
    let fx = Fixture::new();
    assert_eq!(fx.files().len(), 3, "two rotations make three files");
    let records = fx.records();
    // Per file: segment start, the events, a seal every 4 records, the end.
    assert!(records > 3 * (EVENTS + 2), "{records} records");

    let r = fx.verify(&[]);
    assert_eq!(r.code, Some(0), "{r}");
    assert_eq!(r.stderr, "", "nothing on stderr off a terminal{r}");
    assert!(r.stdout.ends_with("OK: no evidence of tampering\n"), "{r}");
    let summary = format!("app: {records} records, {records} verified, seq 1..={records}");
    assert!(r.stdout.starts_with(&summary), "expected {summary:?}{r}");
    assert!(r.stdout.contains(", 3 files\n"), "{r}");

    let r = fx.verify(&["--json"]);
    assert_eq!(r.code, Some(0), "{r}");
    assert_eq!(r.stderr, "", "{r}");
    let report = json(&r);
    assert_eq!(report["clean"], true, "{r}");
    assert_eq!(findings(&report).len(), 0, "{r}");
    let streams = report["streams"].as_array().unwrap();
    assert_eq!(streams.len(), 1, "{r}");
    assert_eq!(streams[0]["stream"], "app", "{r}");
    assert_eq!(streams[0]["records"], records, "{r}");
    assert_eq!(streams[0]["verified"], records, "{r}");
    assert_eq!(streams[0]["files"], 3, "{r}");

    // The files one by one, in any order, verify the same.
    let mut args: Vec<&OsStr> = vec!["verify".as_ref(), "--json".as_ref()];
    let files = fx.files();
    args.extend(files.iter().rev().map(|p| p.as_os_str()));
    args.extend(["--key-file".as_ref(), fx.key_file.as_os_str()]);
    let r = run(args);
    assert_eq!(r.code, Some(0), "{r}");
    assert_eq!(json(&r)["streams"][0]["records"], records, "{r}");
}

#[test]
fn gzipped_rolled_files_verify_too() {
    let fx = Fixture::new();
    let rolled = fx.files().into_iter().find(|p| p != &fx.active()).unwrap();
    gzip_file(&rolled);

    let r = fx.verify(&["--json"]);
    assert_eq!(r.code, Some(0), "{r}");
    let report = json(&r);
    assert_eq!(report["streams"][0]["files"], 3, "{r}");
    assert_eq!(
        report["streams"][0]["verified"],
        fx.records_with_gz(),
        "{r}"
    );
}

#[test]
fn one_changed_byte_is_found_at_its_file_and_line() {
    let fx = Fixture::new();
    let active = fx.active();
    let mut log = file_lines(&active);
    // The middle one of the events in the active file.
    let events: Vec<usize> = (0..log.len())
        .filter(|&i| log[i].contains(r#""msg":"order placed""#))
        .collect();
    let idx = events[events.len() / 2];
    let original: Value = serde_json::from_str(&log[idx]).unwrap();
    let seq = original["seq"].as_u64().unwrap();
    let at = log[idx].find(r#""fields":{"order":"#).unwrap_or_else(|| {
        panic!("no `order` in `fields`: {}", log[idx]);
    }) + r#""fields":{"order":"#.len();
    let digit = log[idx].as_bytes()[at];
    assert!(digit.is_ascii_digit(), "{}", log[idx]);
    let changed = if digit == b'9' {
        '0'
    } else {
        char::from(digit + 1)
    };
    log[idx].replace_range(at..=at, &changed.to_string());
    fs::write(&active, log.join("\n") + "\n").unwrap();
    let line = idx as u64 + 1;

    let r = fx.verify(&[]);
    assert_eq!(r.code, Some(1), "{r}");
    let expected = format!("modified: {}:{line} [app seq {seq}]", active.display());
    assert!(r.stdout.contains(&expected), "expected {expected:?}{r}");
    assert!(
        r.stdout
            .ends_with("FAILED: 1 finding of tampering or damage\n"),
        "{r}"
    );

    let r = fx.verify(&["--json"]);
    assert_eq!(r.code, Some(1), "{r}");
    let report = json(&r);
    assert_eq!(report["clean"], false, "{r}");
    let found = findings(&report);
    assert_eq!(found.len(), 1, "exactly one finding{r}");
    let f = &found[0];
    assert_eq!(f["kind"], "modified", "{r}");
    assert_eq!(f["tamper"], true, "{r}");
    assert_eq!(f["stream"], "app", "{r}");
    assert_eq!(f["file"], active.display().to_string(), "{r}");
    assert_eq!(f["line"], line, "{r}");
    assert_eq!(f["seq"], seq, "{r}");
    // Every other record still verifies.
    assert_eq!(report["streams"][0]["verified"], fx.records() - 1, "{r}");
}

/// Records signed with a key the verifier does not have are unverifiable,
/// not tampered (`FindingKind::UnknownKey` is not tamper evidence, so
/// `Report::is_clean` holds), but nothing was proved either: exit 1 and an
/// `UNVERIFIED` verdict, unless `--allow-unverified` accepts that.
#[test]
fn a_wrong_key_reports_unknown_key_but_no_tampering() {
    let fx = Fixture::new();
    let dir = tempfile::tempdir().unwrap();
    let other = dir.path().join("other.key");
    let other_key = keygen(&other);
    let records = fx.records();

    let r = run([
        OsStr::new("verify"),
        fx.logs.as_os_str(),
        "--key-file".as_ref(),
        other.as_os_str(),
    ]);
    assert_eq!(r.code, Some(1), "{r}");
    assert!(
        r.stdout.contains(&format!(
            "UNVERIFIED: no evidence of tampering, but {records} records could not be verified"
        )),
        "{r}"
    );
    let allowed = run([
        OsStr::new("verify"),
        fx.logs.as_os_str(),
        "--key-file".as_ref(),
        other.as_os_str(),
        "--allow-unverified".as_ref(),
    ]);
    assert_eq!(allowed.code, Some(0), "{allowed}");
    let summary = format!("app: {records} records, 0 verified, {records} unverifiable");
    assert!(r.stdout.starts_with(&summary), "expected {summary:?}{r}");
    let unknown = format!(
        "unknown_key: {}:1 [app seq 1]: {records} records signed with key `{}`, which is not given: not verified",
        fx.files()
            .iter()
            .find(|p| *p != &fx.active())
            .unwrap()
            .display(),
        fx.key.id()
    );
    assert!(r.stdout.contains(&unknown), "expected {unknown:?}{r}");
    assert!(!r.stdout.contains(other_key.id()), "{r}");

    let r = run([
        OsStr::new("verify"),
        fx.logs.as_os_str(),
        "--key-file".as_ref(),
        other.as_os_str(),
        "--json".as_ref(),
    ]);
    assert_eq!(r.code, Some(1), "{r}");
    let report = json(&r);
    assert_eq!(report["clean"], true, "{r}");
    assert_eq!(report["unverified"], records, "{r}");
    let found = findings(&report);
    assert_eq!(found.len(), 1, "{r}");
    assert_eq!(found[0]["kind"], "unknown_key", "{r}");
    assert_eq!(found[0]["tamper"], false, "{r}");
    assert_eq!(report["streams"][0]["verified"], 0, "{r}");
    assert_eq!(report["streams"][0]["unverifiable"], records, "{r}");

    // Given both keys, the right one is used.
    let r = fx.verify(&["--key-file", other.to_str().unwrap()]);
    assert_eq!(r.code, Some(0), "{r}");
    assert!(!r.stdout.contains("unknown_key"), "{r}");
}

#[test]
fn a_key_from_the_environment_works_like_a_key_file() {
    let fx = Fixture::new();
    let hex = fs::read_to_string(&fx.key_file).unwrap();
    let hex = hex.trim().to_owned();
    assert_eq!(hex, format!("{}:{}", fx.key.id(), fx.key.to_hex()));
    let by_file = fx.verify(&[]);
    let by_env = run_with(
        [
            OsStr::new("verify"),
            fx.logs.as_os_str(),
            "--key-env".as_ref(),
            KEY_VAR.as_ref(),
        ],
        |cmd| {
            cmd.env(KEY_VAR, &hex);
        },
    );
    assert_eq!(by_env.code, Some(0), "{by_env}");
    assert_eq!(by_env.stdout, by_file.stdout, "{by_env}{by_file}");
    assert_eq!(by_env.stderr, "", "{by_env}");

    // Unset: a usage error that names the variable, never a secret.
    let unset = run([
        OsStr::new("verify"),
        fx.logs.as_os_str(),
        "--key-env".as_ref(),
        KEY_VAR.as_ref(),
    ]);
    assert_eq!(unset.code, Some(2), "{unset}");
    assert_eq!(
        unset.stderr,
        format!("evtrail: environment variable `{KEY_VAR}` is not set\n"),
        "{unset}"
    );
    let bad = run_with(
        [
            OsStr::new("verify"),
            fx.logs.as_os_str(),
            "--key-env".as_ref(),
            KEY_VAR.as_ref(),
        ],
        |cmd| {
            cmd.env(KEY_VAR, &hex[..20]);
        },
    );
    assert_eq!(bad.code, Some(2), "{bad}");
    assert!(bad.stderr.contains(KEY_VAR), "{bad}");
    assert!(!bad.stderr.contains(&hex[..20]), "the key leaked{bad}");
}

/// A key file others can read still works, with the library's warning.
#[cfg(unix)]
#[test]
fn a_key_file_readable_by_others_is_used_with_a_warning() {
    use std::os::unix::fs::PermissionsExt;
    let fx = Fixture::new();
    fs::set_permissions(&fx.key_file, fs::Permissions::from_mode(0o644)).unwrap();
    let r = fx.verify(&[]);
    assert_eq!(r.code, Some(0), "{r}");
    assert_eq!(
        r.stderr,
        format!(
            "evtrail: key file `{}` is readable by others (mode 0644); restrict it to 0600\n",
            fx.key_file.display()
        ),
        "{r}"
    );
    assert!(r.stdout.ends_with("OK: no evidence of tampering\n"), "{r}");
}

/// Truncates `path` to its lines before the record with `seq`.
fn cut_from_seq(path: &Path, seq: u64) -> usize {
    let log = file_lines(path);
    let keep = log
        .iter()
        .position(|l| serde_json::from_str::<Value>(l).unwrap()["seq"] == seq)
        .unwrap_or_else(|| panic!("seq {seq} is not in {}", path.display()));
    fs::write(path, log[..keep].join("\n") + "\n").unwrap();
    log.len() - keep
}

#[test]
fn an_anchor_proves_a_cut_tail() {
    let fx = Fixture::new();
    let seal = fx.app_seal();
    let anchor = seal.to_string();

    // Untouched, the log reaches its anchor.
    let r = fx.verify(&["--anchor", &anchor]);
    assert_eq!(r.code, Some(0), "{r}");
    assert!(r.stdout.ends_with("OK: no evidence of tampering\n"), "{r}");

    let cut = cut_from_seq(&fx.active(), seal.seq());
    assert!(cut >= 2, "the seal and the segment end are cut");
    let last = seal.seq() - 1;

    let r = fx.verify(&["--anchor", &anchor]);
    assert_eq!(r.code, Some(1), "{r}");
    let expected = format!(
        "truncated_tail: :0 [app seq {}]: the stream ends at seq {last}, but an anchor proves seq {} was written",
        seal.seq(),
        seal.seq()
    );
    assert!(r.stdout.contains(&expected), "expected {expected:?}{r}");

    let r = fx.verify(&["--anchor", &anchor, "--json"]);
    assert_eq!(r.code, Some(1), "{r}");
    let report = json(&r);
    let found = findings(&report);
    assert_eq!(found.len(), 1, "{r}");
    assert_eq!(found[0]["kind"], "truncated_tail", "{r}");
    assert_eq!(found[0]["seq"], seal.seq(), "{r}");

    // The same from an anchors file, with comments and blank lines.
    let file = fx.logs.parent().unwrap().join("anchors.txt");
    fs::write(&file, format!("# exported seals\n\n  {anchor}  \n# end\n")).unwrap();
    let r = fx.verify(&["--anchors-file", file.to_str().unwrap(), "--json"]);
    assert_eq!(r.code, Some(1), "{r}");
    assert_eq!(findings(&json(&r))[0]["kind"], "truncated_tail", "{r}");

    // Without an anchor, a cut at a line boundary leaves a chain that is
    // whole as far as it goes: the library reports it clean (signing.md:
    // truncation of the tail is only provable against an anchor).
    let r = fx.verify(&["--json"]);
    assert_eq!(r.code, Some(0), "{r}");
    let report = json(&r);
    assert_eq!(report["clean"], true, "{r}");
    assert_eq!(findings(&report).len(), 0, "{r}");
    assert_eq!(report["streams"][0]["last_seq"], last, "{r}");
}

#[test]
fn usage_and_io_errors_exit_2_with_a_message() {
    let fx = Fixture::new();
    let key = fx.key_file.to_str().unwrap();

    // A path that does not exist: the library's message and the OS cause.
    let missing = fx.logs.join("nope.log");
    let cause = fs::metadata(&missing).unwrap_err();
    let r = run([
        OsStr::new("verify"),
        missing.as_os_str(),
        "--key-file".as_ref(),
        key.as_ref(),
    ]);
    assert_eq!(r.code, Some(2), "{r}");
    assert_eq!(
        r.stderr,
        format!("evtrail: cannot read `{}`: {cause}\n", missing.display()),
        "{r}"
    );
    assert_eq!(r.stdout, "", "{r}");

    // No key at all.
    let r = run([OsStr::new("verify"), fx.logs.as_os_str()]);
    assert_eq!(r.code, Some(2), "{r}");
    assert!(r.stderr.starts_with("evtrail: no key given"), "{r}");
    assert!(r.stderr.contains("--key-file"), "{r}");
    assert_eq!(r.stdout, "", "{r}");

    // A key file that cannot be read.
    let nokey = fx.logs.join("missing.key");
    let r = run([
        OsStr::new("verify"),
        fx.logs.as_os_str(),
        "--key-file".as_ref(),
        nokey.as_os_str(),
    ]);
    assert_eq!(r.code, Some(2), "{r}");
    let cause = fs::read(&nokey).unwrap_err();
    assert_eq!(
        r.stderr,
        format!(
            "evtrail: cannot read key file `{}`: {cause}\n",
            nokey.display()
        ),
        "{r}"
    );

    // Bad anchors, on the command line and in a file.
    let r = fx.verify(&["--anchor", "app:12:not-a-signature"]);
    assert_eq!(r.code, Some(2), "{r}");
    assert_eq!(
        r.stderr, "evtrail: invalid anchor `app:12:not-a-signature`: expected STREAM:SEQ:SIG\n",
        "{r}"
    );
    assert_eq!(r.stdout, "", "{r}");
    let file = fx.logs.parent().unwrap().join("anchors.txt");
    fs::write(&file, format!("# ok\n{}\nbogus\n", fx.app_seal())).unwrap();
    let r = fx.verify(&["--anchors-file", file.to_str().unwrap()]);
    assert_eq!(r.code, Some(2), "{r}");
    assert_eq!(
        r.stderr,
        format!(
            "evtrail: anchors file `{}`, line 3: invalid anchor `bogus`: expected STREAM:SEQ:SIG\n",
            file.display()
        ),
        "{r}"
    );
    let nofile = fx.logs.join("no-anchors.txt");
    let r = fx.verify(&["--anchors-file", nofile.to_str().unwrap()]);
    assert_eq!(r.code, Some(2), "{r}");
    assert!(
        r.stderr.starts_with(&format!(
            "evtrail: cannot read anchors file `{}`: ",
            nofile.display()
        )),
        "{r}"
    );

    // A directory without logs is an error, not "OK".
    let empty = tempfile::tempdir().unwrap();
    let r = run([
        OsStr::new("verify"),
        empty.path().as_os_str(),
        "--key-file".as_ref(),
        key.as_ref(),
    ]);
    assert_eq!(r.code, Some(2), "{r}");
    assert!(r.stderr.starts_with("evtrail: found no log files"), "{r}");

    // clap's own usage errors exit 2 as well.
    let r = run(["verify", "--key-file", key]);
    assert_eq!(r.code, Some(2), "{r}");
    assert!(r.stderr.contains("<PATH>"), "{r}");
    let r = run(["frobnicate"]);
    assert_eq!(r.code, Some(2), "{r}");
}

#[test]
fn help_and_version() {
    let r = run(["--version"]);
    assert_eq!(r.code, Some(0), "{r}");
    assert_eq!(
        r.stdout,
        format!("evtrail {}\n", env!("CARGO_PKG_VERSION")),
        "{r}"
    );

    let r = run(["--help"]);
    assert_eq!(r.code, Some(0), "{r}");
    assert!(r.stdout.contains("Usage: evtrail <COMMAND>"), "{r}");
    assert!(r.stdout.contains("verify"), "{r}");
    assert!(r.stdout.contains("keygen"), "{r}");

    let r = run(["help", "verify"]);
    assert_eq!(r.code, Some(0), "{r}");
    assert!(
        r.stdout
            .contains("Usage: evtrail verify [OPTIONS] [PATH]..."),
        "{r}"
    );
    for flag in [
        "--key-file",
        "--key-env",
        "--anchor",
        "--anchors-file",
        "--json",
    ] {
        assert!(r.stdout.contains(flag), "{flag}{r}");
    }
    assert!(r.stdout.contains("Exit status"), "{r}");

    let r = run(["keygen", "--help"]);
    assert_eq!(r.code, Some(0), "{r}");
    assert!(r.stdout.contains("--force"), "{r}");
}

/// `evtrail verify … | head -1`: the reader goes away after one line.
/// That is not an error: no panic, and the exit code is the verdict's.
#[test]
fn a_closed_pipe_on_stdout_is_not_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let key_file = dir.path().join("k.key");
    keygen(&key_file);
    // Output far larger than a pipe's buffer, so the writer is still
    // writing when the reader leaves: one finding per file that holds no
    // signed record.
    let logs = dir.path().join("logs");
    fs::create_dir(&logs).unwrap();
    for i in 0..4000 {
        fs::write(logs.join(format!("junk-{i:04}.log")), "not a record\n").unwrap();
    }
    for json in [false, true] {
        let mut cmd = common::evtrail_command();
        cmd.env_remove(KEY_VAR);
        cmd.args([
            OsStr::new("verify"),
            logs.as_os_str(),
            "--key-file".as_ref(),
            key_file.as_os_str(),
        ]);
        if json {
            cmd.arg("--json");
        }
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut first = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut first)
            .unwrap();
        // The reader is dropped here: the pipe is closed.
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        let what = format!("json: {json}\nfirst line: {first}\nstderr: {stderr}");
        assert!(
            first.starts_with(if json { "{" } else { "malformed: " }),
            "{what}"
        );
        assert!(!stderr.contains("panicked"), "{what}");
        assert_eq!(stderr, "", "{what}");
        assert_eq!(out.status.code(), Some(1), "{what}");
    }
}

#[test]
fn seals_kept_elsewhere_prove_a_cut_tail_and_the_state_file_is_a_local_anchor() {
    let root = tempfile::tempdir().unwrap();
    let key_file = root.path().join("signing.key");
    let key = keygen(&key_file);
    let logs = root.path().join("logs");
    let elsewhere = root.path().join("other-disk/anchors.txt");
    let (layer, guard) = evtrail::builder()
        .service("t")
        .key(key)
        .log_dir(&logs)
        .add_sink(evtrail::AnchorSink::new(&elsewhere).unwrap())
        .overflow(Overflow::Block)
        .seal_every(4, Duration::from_secs(3600))
        .build()
        .unwrap();
    tracing::dispatcher::with_default(&dispatch(layer), || {
        for i in 0..10 {
            tracing::info!(order = i, "order placed");
        }
    });
    drop(guard);
    let verify = |extra: &[&OsStr]| {
        let mut args: Vec<&OsStr> = vec![
            "verify".as_ref(),
            logs.as_os_str(),
            "--key-file".as_ref(),
            key_file.as_os_str(),
            "--json".as_ref(),
        ];
        args.extend_from_slice(extra);
        run(args)
    };
    let from = [OsStr::new("--anchors-from"), elsewhere.as_os_str()];

    // Every seal, segment start and end was kept: the whole log is anchored.
    let r = verify(&from);
    assert_eq!(r.code, Some(0), "{r}");
    assert_eq!(json(&r)["streams"][0]["unanchored"], 0, "{r}");

    // The last three records cut: the kept segment end proves it.
    let log = file_lines(&logs.join("app.log"));
    let last = serde_json::from_str::<Value>(&log[log.len() - 4]).unwrap()["seq"].clone();
    fs::write(logs.join("app.log"), log[..log.len() - 3].join("\n") + "\n").unwrap();
    let r = verify(&from);
    assert_eq!(r.code, Some(1), "{r}");
    let report = json(&r);
    let found = findings(&report);
    assert_eq!(found.len(), 1, "{r}");
    assert_eq!(found[0]["kind"], "truncated_tail", "{r}");
    assert_eq!(found[0]["seq"], last.as_u64().unwrap() + 1, "{r}");

    // Without anchors the cut is not seen, and the report says so.
    let r = verify(&[]);
    assert_eq!(r.code, Some(0), "{r}");
    assert_eq!(json(&r)["streams"][0]["unanchored"], last, "{r}");
    let r = run([
        "verify".as_ref(),
        logs.as_os_str(),
        "--key-file".as_ref(),
        key_file.as_os_str(),
    ]);
    assert!(
        r.stdout
            .contains("are not anchored: a cut there would not be seen"),
        "{r}"
    );

    // The state file names the last segment end: a local anchor, with a
    // warning.
    let r = verify(&[OsStr::new("--state-anchors")]);
    assert_eq!(r.code, Some(1), "{r}");
    assert_eq!(findings(&json(&r))[0]["kind"], "truncated_tail", "{r}");
    assert!(r.stderr.contains("are local"), "{r}");
}

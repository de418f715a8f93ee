//! What `raincast serve` checks before it starts, run as the real binary:
//! a weak admin password (warned about, or refused on request), a database
//! path in a missing directory (an error naming it unless creation is
//! asked for), and a port in use (an error naming the address, with no
//! database file created); and `raincast demo`, whose pages say which
//! simulated day they show.

use std::io::Read;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::support;

/// `raincast serve` on `port` with a quiet schedule and no bundled
/// history, plus `args` and `env`.
fn serve_cmd(db: &Path, port: u16, args: &[&str], env: &[(&str, &str)]) -> Command {
    let mut c = Command::new(support::bin());
    c.arg("--db")
        .arg(db)
        .args(args)
        .args(["serve", "--bind", &format!("127.0.0.1:{port}")])
        .env("RAINCAST_LOG", "warn")
        .env("RAINCAST_SCHEDULE__CATCH_UP", "false")
        .env("RAINCAST_SCHEDULE__SCRAPE_ENABLED", "false")
        .env("RAINCAST_SCHEDULE__TRAIN_ENABLED", "false")
        .env("RAINCAST_DATABASE__BUNDLED_HISTORY", "false")
        .env("RAINCAST_BOM__BASE_URL", "http://127.0.0.1:9")
        .env_remove("RAINCAST_ADMIN__PASSWORD")
        .env_remove("RAINCAST_CONFIG")
        .envs(env.iter().copied());
    c
}

/// Run a start-up that must fail; its output.
fn refused(mut c: Command) -> Output {
    let mut child = c
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    loop {
        if child.try_wait().unwrap().is_some() {
            return child.wait_with_output().unwrap();
        }
        if started.elapsed() > Duration::from_secs(20) {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            panic!(
                "still running after 20 s: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Start a server that must come up; stop it once /healthz answers, and
/// return what it wrote to stderr.
fn starts(mut c: Command, port: u16) -> String {
    let mut child: Child = c
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    loop {
        if healthz_ok(port) {
            break;
        }
        if let Some(status) = child.try_wait().unwrap() {
            let mut err = String::new();
            child
                .stderr
                .take()
                .unwrap()
                .read_to_string(&mut err)
                .unwrap();
            panic!("exited with {status}: {err}");
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "not up in 30 s"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // Killed (no graceful stop needed); stderr is read to its end.
    let _ = child.kill();
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    let _ = child.wait();
    err
}

/// A blocking GET /healthz: whether it answered 200.
fn healthz_ok(port: u16) -> bool {
    use std::io::Write;
    let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
    if s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .is_err()
    {
        return false;
    }
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out.starts_with("HTTP/1.1 200")
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn a_weak_admin_password_is_warned_about_and_refused_on_request() {
    for weak in ["a", "password", "   "] {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("w.db");
        let port = support::free_port();
        let err = starts(
            serve_cmd(&db, port, &[], &[("RAINCAST_ADMIN__PASSWORD", weak)]),
            port,
        );
        assert!(err.contains("WEAK ADMIN PASSWORD"), "{weak:?}: {err}");
        // Refused with admin.require_strong_password, before any file.
        let db2 = dir.path().join("strict.db");
        let out = refused(serve_cmd(
            &db2,
            support::free_port(),
            &[],
            &[
                ("RAINCAST_ADMIN__PASSWORD", weak),
                ("RAINCAST_ADMIN__REQUIRE_STRONG_PASSWORD", "true"),
            ],
        ));
        assert_eq!(out.status.code(), Some(2), "{weak:?}: {}", text(&out));
        let t = text(&out);
        assert!(
            t.contains("admin.password")
                && t.contains("weak")
                && t.contains("require_strong_password"),
            "{t}"
        );
        assert!(!db2.exists(), "no database file for a refused start");
    }
    // A strong one starts quietly, also when strength is required.
    let dir = tempfile::tempdir().unwrap();
    let port = support::free_port();
    let err = starts(
        serve_cmd(
            &dir.path().join("s.db"),
            port,
            &[],
            &[
                ("RAINCAST_ADMIN__PASSWORD", "gully-wattle-9-brolga"),
                ("RAINCAST_ADMIN__REQUIRE_STRONG_PASSWORD", "true"),
            ],
        ),
        port,
    );
    assert!(!err.contains("WEAK"), "{err}");
}

#[test]
fn a_database_in_a_missing_directory_is_an_error_unless_creation_is_asked() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("typo").join("deeper");
    let db = missing.join("raincast.db");
    let out = refused(serve_cmd(&db, support::free_port(), &[], &[]));
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let t = text(&out);
    assert!(t.contains(&db.display().to_string()), "names the path: {t}");
    assert!(
        t.contains("--create-dirs"),
        "says how to ask for creation: {t}"
    );
    assert!(!dir.path().join("typo").exists(), "nothing created");
    // Other commands open the database the same way.
    let out = Command::new(support::bin())
        .arg("--db")
        .arg(&db)
        .args(["models", "list"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(!dir.path().join("typo").exists());
    // A command that reads what a database holds does not make an empty one
    // at a mistyped path.
    let absent = dir.path().join("absent.db");
    for args in [
        &["predict", "--location", "Sydney"][..],
        &["models", "list"],
        &[
            "evaluate",
            "--live",
            "--from",
            "2017-01-01",
            "--to",
            "2017-02-01",
        ],
    ] {
        let out = Command::new(support::bin())
            .arg("--db")
            .arg(&absent)
            .args(args)
            .env_remove("RAINCAST_CONFIG")
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", text(&out));
        assert!(
            text(&out).contains("no database at"),
            "{args:?}: {}",
            text(&out)
        );
        assert!(!absent.exists(), "{args:?} made {}", absent.display());
    }
    // Asked for: the flag, or the config key.
    let port = support::free_port();
    starts(serve_cmd(&db, port, &["--create-dirs"], &[]), port);
    assert!(db.exists(), "created with --create-dirs");
    let db2 = dir.path().join("other").join("raincast.db");
    let port = support::free_port();
    starts(
        serve_cmd(
            &db2,
            port,
            &[],
            &[("RAINCAST_DATABASE__CREATE_DIRS", "true")],
        ),
        port,
    );
    assert!(db2.exists(), "created with database.create_dirs");
}

#[test]
fn a_port_in_use_names_the_address_and_touches_no_file() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("never.db");
    let out = refused(serve_cmd(&db, port, &[], &[]));
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let t = text(&out);
    assert!(
        t.contains(&format!("127.0.0.1:{port}")),
        "names the address: {t}"
    );
    assert!(t.to_lowercase().contains("in use"), "{t}");
    let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert!(left.is_empty(), "no file created: {left:?}");
    drop(taken);
}

/// A blocking GET of `path`: the whole response, head and body.
fn get(port: u16, path: &str) -> String {
    use std::io::Write;
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

/// Wait until `child` answers /healthz on `port` (2 min at most); a child
/// that exits first fails the test.
fn wait_up(child: &mut Child, port: u16) {
    let started = Instant::now();
    while !healthz_ok(port) {
        if let Some(status) = child.try_wait().unwrap() {
            panic!("exited with {status} before answering");
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "not up in 120 s"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// `raincast demo` boots as `serve` does, on a simulated clock it moves
/// itself: every page it renders says that it shows a replay and which
/// simulated day (from the app's state, not a global), while `serve` on
/// the same binary says nothing of the kind; a backwards period is the
/// user's mistake (exit 2), named.
#[test]
fn the_demo_says_on_its_pages_which_simulated_day_they_show() {
    let out = refused({
        let mut c = Command::new(support::bin());
        c.args(["demo", "--from", "2024-09-05", "--to", "2024-09-01"])
            .env_remove("RAINCAST_CONFIG");
        c
    });
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("--from 2024-09-05 is after --to 2024-09-01"),
        "{}",
        text(&out)
    );
    // Days outside the bundled archive would replay nothing: refused.
    for (cmd, from, to, said) in [
        (
            "replay",
            "2023-01-01",
            "2023-01-05",
            "--from 2023-01-01 is before",
        ),
        (
            "demo",
            "2025-09-01",
            "2026-01-01",
            "--to 2026-01-01 is after",
        ),
    ] {
        let out = refused({
            let mut c = Command::new(support::bin());
            c.args([cmd, "--from", from, "--to", to])
                .env_remove("RAINCAST_CONFIG");
            c
        });
        assert_eq!(out.status.code(), Some(2), "{cmd}: {}", text(&out));
        assert!(
            text(&out).contains(said) && text(&out).contains("2024-08-01 to 2025-09-06"),
            "{cmd}: {}",
            text(&out)
        );
    }
    // A simulated start that is no time is refused before any file is made.
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("clock.db");
    let out = refused({
        let mut c = serve_cmd(&db, support::free_port(), &[], &[]);
        c.env("RAINCAST_CLOCK_START", "garbage");
        c
    });
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("RAINCAST_CLOCK_START `garbage`"),
        "{}",
        text(&out)
    );
    assert!(!db.exists(), "serve made {} before refusing", db.display());

    let port = support::free_port();
    let mut child = Command::new(support::bin())
        .args([
            "demo",
            "--bind",
            &format!("127.0.0.1:{port}"),
            "--from",
            "2024-09-01",
            "--to",
            "2024-09-03",
            "--day-secs",
            "600",
        ])
        .env("RAINCAST_LOG", "warn")
        .env_remove("RAINCAST_CONFIG")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_up(&mut child, port);
    let banner = "Simulated day: <strong>Sunday 1 September 2024</strong>";
    for path in ["/", "/forecast/Sydney", "/admin/login"] {
        let page = get(port, path);
        assert!(page.contains("id=\"demo-banner\""), "{path}: {page}");
        assert!(page.contains(banner), "{path}: no {banner:?} in {page}");
    }
    let _ = child.kill();
    let _ = child.wait();

    // `serve` shows no banner.
    let dir = tempfile::tempdir().unwrap();
    let port = support::free_port();
    let mut child = serve_cmd(&dir.path().join("s.db"), port, &[], &[])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_up(&mut child, port);
    let page = get(port, "/");
    assert!(page.starts_with("HTTP/1.1 200"), "{page}");
    assert!(!page.contains("demo-banner"), "{page}");
    let _ = child.kill();
    let _ = child.wait();
}

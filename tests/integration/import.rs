//! `raincast import`: the real weatherAUS file stored exactly, idempotently,
//! and hand-made malformed files handled as documented. Runs the real binary
//! against real SQLite files.

use crate::support;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;

use raincast::obs::{Compass, DIRS, NUMS};
use raincast::store::Store;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/import")
        .join(name)
}

/// Run `raincast import`, returning (exit code, stdout, stderr).
fn import(db: &Path, file: &Path) -> (i32, String, String) {
    let out = Command::new(support::bin())
        .arg("--db")
        .arg(db)
        .arg("import")
        .arg(file)
        .env("RAINCAST_LOG", "warn")
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn open(db: &Path) -> Store {
    Store::open(db, std::time::Duration::from_secs(5)).unwrap()
}

#[test]
fn real_weather_aus_is_stored_exactly_and_idempotently() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("w.db");
    let file = support::weather_aus();
    let (code, out, err) = import(&db, &file);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("145460 rows read: 145460 inserted, 0 updated, 0 unchanged, 0 rejected"),
        "{out}"
    );
    let (code, out, _) = import(&db, &file);
    assert_eq!(code, 0);
    assert!(
        out.contains("0 inserted, 0 updated, 145460 unchanged, 0 rejected"),
        "{out}"
    );

    // Field-by-field comparison of every 97th row with the CSV text, NA included.
    let mut text = String::new();
    flate2::read::GzDecoder::new(std::fs::File::open(&file).unwrap())
        .read_to_string(&mut text)
        .unwrap();
    let store = open(&db);
    assert_eq!(store.count_observations().unwrap(), 145_460);
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let col = |name: &str| header.iter().position(|h| *h == name).unwrap();
    let mut checked = 0;
    let mut na_seen = 0;
    for line in lines.step_by(97) {
        let f: Vec<&str> = line.split(',').collect();
        let date = chrono::NaiveDate::parse_from_str(f[0], "%Y-%m-%d").unwrap();
        let o = store.observation(f[1], date).unwrap();
        for spec in NUMS.iter() {
            let want = f[col(spec.name)];
            match o.nums[spec.field as usize] {
                None => {
                    assert_eq!(want, "NA", "{} {} {}", f[1], f[0], spec.name);
                    na_seen += 1;
                }
                Some(v) => assert_eq!(
                    v,
                    want.parse::<f64>().unwrap(),
                    "{} {} {}",
                    f[1],
                    f[0],
                    spec.name
                ),
            }
        }
        for (i, (_, name, _)) in DIRS.iter().enumerate() {
            let want = f[col(name)];
            let got = o.dirs[i].map(Compass::as_str).unwrap_or("NA");
            assert_eq!(got, want, "{} {} {name}", f[1], f[0]);
        }
        let flag = |b: Option<bool>| match b {
            Some(true) => "Yes",
            Some(false) => "No",
            None => "NA",
        };
        assert_eq!(flag(o.rain_today), f[col("RainToday")]);
        assert_eq!(flag(o.rain_tomorrow), f[col("RainTomorrow")]);
        checked += 1;
    }
    assert!(
        checked > 1_400 && na_seen > 1_000,
        "{checked} rows, {na_seen} NAs"
    );
}

#[test]
fn bad_rows_are_reported_and_the_valid_rows_stored() {
    let cases = [
        ("truncated_line.csv", "expected 23 fields"),
        ("wrong_column_count.csv", "expected 23 fields, found 24"),
        ("text_in_number.csv", "MinTemp `warm` is not a number"),
        ("unknown_location.csv", "Location `Gotham`"),
        ("bad_date.csv", "Date `2010-02-30`"),
        ("future_date.csv", "Date 2999-02-03 is in the future"),
        ("binary_garbage.csv", "line 3"),
    ];
    for (name, reason) in cases {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("m.db");
        let (code, out, err) = import(&db, &fixture(name));
        assert_eq!(code, 0, "{name}: {out}{err}");
        assert!(
            out.contains("2 inserted") && out.contains("1 rejected"),
            "{name}: {out}"
        );
        assert!(
            err.contains("line 3"),
            "{name}: the rejection names its line: {err}"
        );
        assert!(err.contains(reason), "{name}: `{reason}` not in {err}");
        assert_eq!(open(&db).count_observations().unwrap(), 2, "{name}");
    }
}

#[test]
fn whole_file_errors_exit_2_and_write_nothing() {
    let cases = [
        (fixture("empty.csv"), "empty"),
        (fixture("not_csv.bin"), "not a weatherAUS CSV"),
        (fixture("wrong_header.csv"), "wrong header"),
        (fixture("does_not_exist.csv"), "no such file"),
    ];
    for (file, reason) in cases {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("e.db");
        // A database with one good row already in it must stay as it was.
        let (code, _, _) = import(&db, &fixture("good.csv"));
        assert_eq!(code, 0);
        let (code, out, err) = import(&db, &file);
        assert_eq!(code, 2, "{}: {out}{err}", file.display());
        assert_eq!(err.lines().count(), 1, "one-line reason: {err}");
        assert!(err.contains(reason), "{}: {err}", file.display());
        assert_eq!(open(&db).count_observations().unwrap(), 3);
    }
}

#[test]
fn gzip_that_is_not_gzip_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.csv.gz");
    std::fs::write(&bad, [0x1f, 0x8b, 8, 0, 1, 2, 3]).unwrap();
    let (code, _, err) = import(&dir.path().join("g.db"), &bad);
    assert_eq!(code, 2);
    assert!(err.contains("not a valid gzip file"), "{err}");
}

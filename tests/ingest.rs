//! Integration tests of `flatline::ingest`: every layout and timestamp form, gzip, folder
//! walks, bad-row accounting with file and line, the one-line errors, and the two real
//! datasets in `../shared/datasets` (found, or skipped, by `support/require.rs`).

use std::collections::BTreeMap;
use std::io::Write;
mod common;
mod support {
    pub mod require;
}

use std::path::{Path, PathBuf};
use support::require;

use flate2::write::GzEncoder;
use flate2::Compression;
use flatline::core::fleet::FleetError;
use flatline::core::series::PushError;
use flatline::core::{Fleet, HourlySeries, Unit};
use flatline::ingest::{
    for_each_reading, read_paths, total_input_bytes, BadReason, Format, IngestError, IngestSummary,
    ReadOptions, RejectReason,
};
use tempfile::TempDir;

/// Writes `text` to `dir/name` and returns the path.
fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, text).unwrap();
    path
}

/// Writes `text` gzipped to `dir/name` and returns the path.
fn write_gz(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    let mut gz = GzEncoder::new(Vec::new(), Compression::fast());
    gz.write_all(text.as_bytes()).unwrap();
    std::fs::write(&path, gz.finish().unwrap()).unwrap();
    path
}

/// Reads `paths` into a fleet; returns the finished series by meter id and the summary.
fn read(
    paths: &[PathBuf],
    opts: &ReadOptions,
) -> Result<(BTreeMap<String, HourlySeries>, IngestSummary), IngestError> {
    let mut fleet = Fleet::new();
    let summary = read_paths(paths, opts, &mut fleet, None)?;
    let series = fleet
        .finish()
        .into_iter()
        .map(|(id, s)| (id.to_string(), s))
        .collect();
    Ok((series, summary))
}

/// The readings handed on, as `(meter, ts, value, unit)`, in order.
fn readings(paths: &[PathBuf], opts: &ReadOptions) -> Vec<(String, i64, f32, Unit)> {
    let mut out = Vec::new();
    for_each_reading(paths, opts, None, &mut |m, ts, v, u| {
        out.push((m.to_string(), ts, v, u));
        Ok(())
    })
    .unwrap();
    out
}

/// The one-line message of the error reading `paths` gives.
fn error_of(paths: &[PathBuf], opts: &ReadOptions) -> String {
    let message = read(paths, opts)
        .expect_err("the read should fail")
        .to_string();
    assert!(!message.contains('\n'), "not one line: {message}");
    message
}

/// Examples kept in `summary`, as `(file name, line, reason)`.
fn places(summary: &IngestSummary) -> Vec<(String, u64, BadReason)> {
    summary
        .examples
        .iter()
        .map(|e| {
            (
                e.file.file_name().unwrap().to_string_lossy().into_owned(),
                e.line,
                e.reason,
            )
        })
        .collect()
}

fn with_unit(unit: Unit) -> ReadOptions {
    ReadOptions {
        unit: Some(unit),
        ..ReadOptions::default()
    }
}

/// 2013-01-01 00:00:00 UTC.
const JAN1_2013: i64 = 1_356_998_400;

#[test]
fn the_lcl_folder_reads_fifty_meters_and_every_row_with_metadata_skipped() {
    let Some(dir) = require::dataset("lcl_london_halfhourly_2013") else {
        return;
    };
    let (series, summary) = read(&[dir], &ReadOptions::default()).unwrap();
    assert_eq!(series.len(), 50);
    assert_eq!(summary.n_files, 50);
    assert_eq!(summary.n_rows, 850_461);
    assert_eq!(summary.n_accepted, 850_461);
    assert_eq!(summary.n_bad(), 0, "{}", summary.render());
    let skipped: Vec<String> = summary
        .skipped_files
        .iter()
        .map(|(p, _)| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        skipped,
        [
            "MANIFEST.tsv",
            "README.md",
            "households.csv",
            "weather_hourly_darksky.csv.gz"
        ]
    );
    let mac4 = &series["MAC000004"];
    assert_eq!(mac4.resolution_min, 30);
    assert_eq!(mac4.start_hour, JAN1_2013 / 3600);
}

#[test]
fn the_enernoc_folder_reads_thirty_three_sites_as_kwh() {
    let Some(dir) = require::dataset("enernoc_2012_commercial") else {
        return;
    };
    let (series, summary) = read(&[dir], &with_unit(Unit::Kwh)).unwrap();
    assert_eq!(series.len(), 33);
    assert_eq!(summary.n_rows, 3_477_529);
    assert_eq!(summary.n_accepted, 3_477_529);
    assert_eq!(summary.n_bad(), 0, "{}", summary.render());
    assert_eq!(series["786"].resolution_min, 5);
    assert_eq!(
        summary.skipped_files.len(),
        // MANIFEST, README, duplicate_aliases, site_weather, sites and 14 weather files.
        19,
        "{:?}",
        summary.skipped_files
    );
}

#[test]
fn per_meter_files_without_a_unit_need_one() {
    let Some(dir) = require::dataset("enernoc_2012_commercial") else {
        return;
    };
    let message = error_of(&[dir], &ReadOptions::default());
    assert!(
        message.ends_with("12.csv.gz: values have no unit; pass --unit kwh or --unit kw"),
        "{message}"
    );
}

#[test]
fn long_csv_reads_kwh_and_kw_with_columns_in_any_order() {
    let tmp = TempDir::new().unwrap();
    let kwh = write(
        tmp.path(),
        "a.csv",
        "meter_id,timestamp,kwh\nm1,2013-01-01 00:00,0.5\nm2,2013-01-01 00:00,1.5\n",
    );
    let kw = write(
        tmp.path(),
        "b.csv",
        "note,KW,Timestamp,Meter_Id\nx, 2.5 ,2013-01-01 00:00,m3\n",
    );
    assert_eq!(
        readings(&[kwh, kw], &ReadOptions::default()),
        [
            ("m1".into(), JAN1_2013, 0.5, Unit::Kwh),
            ("m2".into(), JAN1_2013, 1.5, Unit::Kwh),
            ("m3".into(), JAN1_2013, 2.5, Unit::Kw)
        ]
    );
}

#[test]
fn lcl_values_are_trimmed_and_null_is_a_bad_value() {
    let tmp = TempDir::new().unwrap();
    let text = "LCLid,tstp,energy(kWh/hh)\nMAC1,2013-01-01 00:00:00, 0.219 \nMAC1,2013-01-01 00:30:00,Null\n";
    let path = write(tmp.path(), "block_0.csv", text);
    let (series, summary) = read(std::slice::from_ref(&path), &ReadOptions::default()).unwrap();
    assert_eq!(
        readings(&[path], &ReadOptions::default()),
        [("MAC1".into(), JAN1_2013, 0.219, Unit::Kwh)]
    );
    assert_eq!(series.len(), 1);
    assert_eq!(
        places(&summary),
        [("block_0.csv".into(), 3, BadReason::BadValue)]
    );
    assert_eq!(summary.examples[0].text, "Null");
}

#[test]
fn per_meter_files_take_their_id_from_the_file_name() {
    let tmp = TempDir::new().unwrap();
    write_gz(
        tmp.path(),
        "786.csv.gz",
        "timestamp,value\n1356998400,1.0\n",
    );
    write(tmp.path(), "787.csv", "timestamp,value\n1356998400,2.0\n");
    write(tmp.path(), "788", "timestamp,kw\n1356998400,3.0\n");
    let got = readings(&[tmp.path().to_path_buf()], &with_unit(Unit::Kwh));
    assert_eq!(
        got,
        [
            ("786".into(), JAN1_2013, 1.0, Unit::Kwh),
            ("787".into(), JAN1_2013, 2.0, Unit::Kwh),
            ("788".into(), JAN1_2013, 3.0, Unit::Kw)
        ]
    );
}

#[test]
fn every_timestamp_form_names_the_same_instant() {
    let tmp = TempDir::new().unwrap();
    let forms = [
        "1356998400",
        "1356998400.0",
        "2013-01-01 00:00:00",
        "2013-01-01 00:00",
        "2013-01-01T00:00:00",
        "2013-01-01T00:00:00Z",
        "2013-01-01T02:00:00+02:00",
        "2012-12-31T19:00:00-05:00",
        "2013-01-01T00:00:00.000Z",
    ];
    let mut text = String::from("meter_id,timestamp,kwh\n");
    for (i, form) in forms.iter().enumerate() {
        text.push_str(&format!("m{i},{form},1\n"));
    }
    let path = write(tmp.path(), "forms.csv", &text);
    let stamps: Vec<i64> = readings(&[path], &ReadOptions::default())
        .into_iter()
        .map(|r| r.1)
        .collect();
    assert_eq!(stamps, vec![JAN1_2013; forms.len()]);
}

#[test]
fn the_tz_offset_moves_naive_stamps_only() {
    let tmp = TempDir::new().unwrap();
    let text = "meter_id,timestamp,kwh\nnaive,2013-01-01 03:00,1\nnaive_t,2013-01-01T03:00:00,1\nzulu,2013-01-01T03:00:00Z,1\noffset,2013-01-01T03:00:00+01:00,1\nunix,1357009200,1\n";
    let path = write(tmp.path(), "tz.csv", text);
    let opts = ReadOptions {
        tz_offset_s: 3 * 3600,
        ..ReadOptions::default()
    };
    let stamps: Vec<(String, i64)> = readings(&[path], &opts)
        .into_iter()
        .map(|r| (r.0, r.1 - JAN1_2013))
        .collect();
    assert_eq!(
        stamps,
        [
            ("naive".into(), 0),
            ("naive_t".into(), 0),
            ("zulu".into(), 3 * 3600),
            ("offset".into(), 2 * 3600),
            ("unix".into(), 3 * 3600)
        ]
    );
}

/// A long CSV of three meters over two days, half-hourly, meters interleaved.
fn three_meters_two_days() -> Vec<String> {
    let mut rows = Vec::new();
    for step in 0..96 {
        for meter in 0..3 {
            let ts = JAN1_2013 + step * 1800;
            rows.push(format!(
                "m{meter},{ts},{}",
                (step % 7) as f32 * 0.25 + meter as f32
            ));
        }
    }
    rows
}

#[test]
fn gzip_and_plain_copies_read_the_same() {
    let tmp = TempDir::new().unwrap();
    let text = format!(
        "meter_id,timestamp,kwh\n{}\n",
        three_meters_two_days().join("\n")
    );
    let plain = read(
        &[write(tmp.path(), "plain.csv", &text)],
        &ReadOptions::default(),
    )
    .unwrap();
    let gz = read(
        &[write_gz(tmp.path(), "packed.csv.gz", &text)],
        &ReadOptions::default(),
    )
    .unwrap();
    // The magic bytes decide, not the name: a gzip stream named `.csv` is still unpacked.
    let disguised = read(
        &[write_gz(tmp.path(), "disguised.csv", &text)],
        &ReadOptions::default(),
    )
    .unwrap();
    assert_eq!(plain.0, gz.0);
    assert_eq!(plain.0, disguised.0);
    assert_eq!((plain.1.n_rows, plain.1.n_accepted), (288, 288));
    assert_eq!((gz.1.n_rows, gz.1.n_accepted), (288, 288));
}

#[test]
fn concatenated_gzip_members_are_read_to_the_end() {
    let tmp = TempDir::new().unwrap();
    let first = write_gz(
        tmp.path(),
        "first.gz",
        "meter_id,timestamp,kwh\nm1,1356998400,1\n",
    );
    let second = write_gz(tmp.path(), "second.gz", "m1,1357000200,2\n");
    let mut bytes = std::fs::read(first).unwrap();
    bytes.extend(std::fs::read(second).unwrap());
    let both = tmp.path().join("both.csv.gz");
    std::fs::write(&both, bytes).unwrap();
    assert_eq!(readings(&[both], &ReadOptions::default()).len(), 2);
}

#[test]
fn rows_in_reverse_order_give_the_same_series() {
    let tmp = TempDir::new().unwrap();
    let rows = three_meters_two_days();
    let mut reversed = rows.clone();
    reversed.reverse();
    let forward = write(
        tmp.path(),
        "forward.csv",
        &format!("meter_id,timestamp,kwh\n{}\n", rows.join("\n")),
    );
    let backward = write(
        tmp.path(),
        "backward.csv",
        &format!("meter_id,timestamp,kwh\n{}\n", reversed.join("\n")),
    );
    let (a, _) = read(&[forward], &ReadOptions::default()).unwrap();
    let (b, _) = read(&[backward], &ReadOptions::default()).unwrap();
    assert_eq!(a.len(), 3);
    assert_eq!(a, b);
}

#[test]
fn every_bad_reason_is_counted_at_its_file_and_line() {
    let tmp = TempDir::new().unwrap();
    let kwh = write(
        tmp.path(),
        "a.csv",
        "meter_id,timestamp,kwh\n\
         m1,2013-01-01 00:00,0.5\n\
         m1,2013-01-01 00:30\n\
         m1,yesterday,0.5\n\
         m1,2013-01-01 01:00,Null\n\
         m1,2013-01-01 01:30,-1\n\
         m1,2013-01-01 02:00,NaN\n\
         ,2013-01-01 02:30,0.5\n\
         m1,2013-01-01 00:00,0.7\n\
         m1,1980-01-01 00:00,0.5\n\
         m1,2013-01-01 03:00,0.5\n",
    );
    let kw = write(
        tmp.path(),
        "b.csv",
        "meter_id,timestamp,kw\nm2,2013-01-01 00:00,1\nm1,2013-01-01 04:00,1\n",
    );
    let (series, summary) = read(&[kwh, kw], &ReadOptions::default()).unwrap();
    use BadReason::*;
    assert_eq!(
        places(&summary),
        [
            ("a.csv".into(), 3, Malformed),
            ("a.csv".into(), 4, BadTimestamp),
            ("a.csv".into(), 5, BadValue),
            ("a.csv".into(), 6, NegativeValue),
            ("a.csv".into(), 7, NotFinite),
            ("a.csv".into(), 8, EmptyMeterId),
            ("a.csv".into(), 9, Duplicate),
            ("a.csv".into(), 10, OutOfRange),
            ("b.csv".into(), 3, UnitChanged),
        ]
    );
    assert_eq!(summary.n_rows, 12);
    assert_eq!(summary.n_accepted, 3);
    assert_eq!(summary.n_bad(), 9);
    assert!(summary.bad.values().all(|&n| n == 1));
    assert_eq!(series.len(), 2);
    let rendered = summary.render();
    assert!(
        rendered.contains("a.csv:4: bad timestamp: yesterday\n"),
        "{rendered}"
    );
    assert!(
        rendered.contains("b.csv:3: unit changed: m1,2013-01-01 04:00,1\n"),
        "{rendered}"
    );
}

#[test]
fn a_file_of_mostly_bad_rows_still_yields_its_good_rows() {
    let tmp = TempDir::new().unwrap();
    let mut text = String::from("meter_id,timestamp,kwh\n");
    for i in 0..1000 {
        let ts = JAN1_2013 + i * 1800;
        match i % 10 {
            0 => text.push_str(&format!("m1,{ts},0.5\n")),
            1..=4 => text.push_str(&format!("m1,{ts},oops\n")),
            _ => text.push_str("garbage\n"),
        }
    }
    let path = write(tmp.path(), "dirty.csv", &text);
    let opts = ReadOptions {
        max_examples: 3,
        ..ReadOptions::default()
    };
    let (series, summary) = read(&[path], &opts).unwrap();
    assert_eq!(summary.n_accepted, 100);
    assert_eq!(summary.bad[&BadReason::BadValue], 400);
    assert_eq!(summary.bad[&BadReason::Malformed], 500);
    assert_eq!(summary.examples.len(), 6);
    assert!((summary.bad_share() - 0.9).abs() < 1e-12);
    assert_eq!(series.keys().collect::<Vec<_>>(), ["m1"]);
}

#[test]
fn a_consumer_refusal_is_counted_as_its_reason() {
    let tmp = TempDir::new().unwrap();
    let path = write(
        tmp.path(),
        "a.csv",
        "meter_id,timestamp,kwh\nm1,0,1\nm2,0,1\n",
    );
    let summary = for_each_reading(
        &[path],
        &ReadOptions::default(),
        None,
        &mut |meter, _, _, _| {
            if meter == "m2" {
                Err(RejectReason::OutOfRange)
            } else {
                Ok(())
            }
        },
    )
    .unwrap();
    assert_eq!(summary.n_accepted, 1);
    assert_eq!(summary.bad[&BadReason::OutOfRange], 1);
}

#[test]
fn until_cuts_readings_at_and_after_it() {
    let tmp = TempDir::new().unwrap();
    let text = format!(
        "meter_id,timestamp,kwh\n{}\n",
        three_meters_two_days().join("\n")
    );
    let path = write(tmp.path(), "a.csv", &text);
    let opts = ReadOptions {
        until: Some(JAN1_2013 + 24 * 3600),
        ..ReadOptions::default()
    };
    let (series, summary) = read(&[path], &opts).unwrap();
    assert_eq!(
        (
            summary.n_rows,
            summary.n_accepted,
            summary.n_after_until,
            summary.n_bad()
        ),
        (288, 144, 144, 0)
    );
    assert!(series
        .values()
        .all(|s| s.end_hour() == JAN1_2013 / 3600 + 24));
    assert!(summary
        .render()
        .contains("144 at or after --until left out"));
}

#[test]
fn a_missing_path_is_not_found() {
    let message = error_of(
        &[PathBuf::from("/nonexistent/meters.csv")],
        &ReadOptions::default(),
    );
    assert_eq!(message, "/nonexistent/meters.csv: no such file or folder");
}

#[test]
fn input_without_data_rows_is_empty() {
    let tmp = TempDir::new().unwrap();
    write(tmp.path(), "header_only.csv", "meter_id,timestamp,kwh\n");
    write(tmp.path(), "nothing.csv", "");
    assert_eq!(
        error_of(&[tmp.path().to_path_buf()], &ReadOptions::default()),
        IngestError::Empty.to_string()
    );
    let empty_dir = TempDir::new().unwrap();
    assert!(matches!(
        read(&[empty_dir.path().to_path_buf()], &ReadOptions::default()),
        Err(IngestError::Empty)
    ));
}

#[test]
fn a_named_binary_file_is_not_csv() {
    let tmp = TempDir::new().unwrap();
    let path = tmp.path().join("photo.csv");
    std::fs::write(&path, b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00").unwrap();
    let message = error_of(&[path], &ReadOptions::default());
    assert!(
        message.ends_with("photo.csv: not a CSV text file: binary data (NUL bytes)"),
        "{message}"
    );
}

#[test]
fn a_named_corrupt_gzip_file_is_not_csv() {
    let tmp = TempDir::new().unwrap();
    let path = tmp.path().join("broken.csv.gz");
    std::fs::write(&path, b"\x1f\x8b\x08\x00garbage-not-deflate").unwrap();
    let message = error_of(&[path], &ReadOptions::default());
    assert!(
        message.contains("broken.csv.gz: not a CSV text file: corrupt gzip stream"),
        "{message}"
    );
}

#[test]
fn a_named_file_with_an_unknown_header_is_refused() {
    let tmp = TempDir::new().unwrap();
    let path = write(
        tmp.path(),
        "sites.csv",
        "SITE_ID,INDUSTRY,SQ_FT\n6,Commercial,161532\n",
    );
    let message = error_of(&[path], &ReadOptions::default());
    assert!(
        message
            .contains("sites.csv: header \"SITE_ID,INDUSTRY,SQ_FT\" is not a known meter layout"),
        "{message}"
    );
}

#[test]
fn a_folder_walk_skips_metadata_binary_and_hidden_files() {
    let tmp = TempDir::new().unwrap();
    write(tmp.path(), "README.md", "# Meters\n\nSome words.\n");
    write(tmp.path(), "sites.csv", "SITE_ID,INDUSTRY\n6,Commercial\n");
    write(tmp.path(), "MANIFEST.tsv", "site_id\tsha256\n6\tabc\n");
    std::fs::write(tmp.path().join("logo.png"), b"\x89PNG\r\n\x1a\n\x00\x00").unwrap();
    write(
        tmp.path(),
        ".hidden.csv",
        "meter_id,timestamp,kwh\nghost,0,1\n",
    );
    write(
        tmp.path(),
        ".git/data.csv",
        "meter_id,timestamp,kwh\nghost,0,1\n",
    );
    write(
        tmp.path(),
        "z/deep/b.csv",
        "meter_id,timestamp,kwh\nm2,0,1\n",
    );
    write(tmp.path(), "a.csv", "meter_id,timestamp,kwh\nm1,0,1\n");
    let (series, summary) = read(&[tmp.path().to_path_buf()], &ReadOptions::default()).unwrap();
    assert_eq!(series.keys().collect::<Vec<_>>(), ["m1", "m2"]);
    assert_eq!(summary.n_files, 2);
    let skipped: Vec<(String, &str)> = summary
        .skipped_files
        .iter()
        .map(|(p, why)| {
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                why.split(' ').next().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        skipped,
        [
            ("MANIFEST.tsv".into(), "not"),
            ("README.md".into(), "not"),
            ("logo.png".into(), "not"),
            ("sites.csv".into(), "not")
        ]
    );
    assert!(summary.skipped_files[3].1.contains("SITE_ID,INDUSTRY"));
}

#[test]
fn a_forced_format_reads_headerless_files_by_position() {
    let tmp = TempDir::new().unwrap();
    let long = write(
        tmp.path(),
        "long.csv",
        "m1,2013-01-01 00:00,0.5\nm1,2013-01-01 00:30,0.5\n",
    );
    let opts = ReadOptions {
        format: Format::Long,
        unit: Some(Unit::Kw),
        ..ReadOptions::default()
    };
    assert_eq!(readings(std::slice::from_ref(&long), &opts).len(), 2);
    // Without the forced format a headerless file has no known layout.
    assert!(matches!(
        read(&[long], &ReadOptions::default()),
        Err(IngestError::UnknownHeader { .. })
    ));
    let per_meter = write(tmp.path(), "site7.csv", "1356998400,3\n");
    let opts = ReadOptions {
        format: Format::PerMeter,
        unit: Some(Unit::Kwh),
        ..ReadOptions::default()
    };
    assert_eq!(
        readings(&[per_meter], &opts),
        [("site7".into(), JAN1_2013, 3.0, Unit::Kwh)]
    );
}

#[test]
fn windows_line_endings_and_quotes_are_fine() {
    let tmp = TempDir::new().unwrap();
    let path = write(
        tmp.path(),
        "crlf.csv",
        "\u{feff}\"meter_id\",\"timestamp\",\"kwh\"\r\n\"m,1\",\"2013-01-01 00:00\",\"0.5\"\r\n",
    );
    assert_eq!(
        readings(&[path], &ReadOptions::default()),
        [("m,1".into(), JAN1_2013, 0.5, Unit::Kwh)]
    );
}

#[test]
fn progress_advances_by_the_total_input_size() {
    let tmp = TempDir::new().unwrap();
    let text = format!(
        "meter_id,timestamp,kwh\n{}\n",
        three_meters_two_days().join("\n")
    );
    write_gz(tmp.path(), "a.csv.gz", &text);
    write(
        tmp.path(),
        "b.csv",
        &text
            .replace("m0", "n0")
            .replace("m1", "n1")
            .replace("m2", "n2"),
    );
    write(tmp.path(), "README.md", "not data\n");
    let paths = [tmp.path().to_path_buf()];
    let total = total_input_bytes(&paths);
    let bar = indicatif::ProgressBar::hidden();
    bar.set_length(total);
    let mut fleet = Fleet::new();
    read_paths(&paths, &ReadOptions::default(), &mut fleet, Some(&bar)).unwrap();
    assert_eq!(bar.position(), total);
    assert!(total > 0);
}

/// A folder that exercises everything the parallel reader must reproduce: interleaved and
/// meter-major rows, quarter-hour values (whose hourly sums depend on their order), every
/// bad reason, duplicates and a unit change across files, a quoted id with a newline in
/// it, ids either side of 15 bytes (packed into an integer or hashed as text), blank lines, CRLF, gzip, a skipped file, an empty file, a one-file-per-meter file,
/// and a last line without a newline.
fn tricky_folder() -> TempDir {
    let tmp = TempDir::new().unwrap();
    let mut long = String::from("\u{feff}meter_id,timestamp,kwh\r\n");
    let stamp = |q: i64| {
        let t = chrono::DateTime::from_timestamp(JAN1_2013 + q * 900, 0).unwrap();
        t.format("%Y-%m-%d %H:%M:%S").to_string()
    };
    // Ids either side of the 15 bytes the readers pack into an integer, in an order that
    // is the same at most time steps and reversed at every fifth.
    let edge_ids = [
        "fifteen-bytes-1",
        "sixteen-bytes-01",
        "a-long-meter-id-0001",
        "a-long-meter-id-0002",
    ];
    for q in 0..40 {
        for m in 0..3 {
            let value = 0.1 + 0.0137 * (q * 3 + m) as f64;
            long.push_str(&format!("m{m},{},{value:.4}\r\n", stamp(q)));
        }
        let mut ids = edge_ids;
        if q % 5 == 4 {
            ids.reverse();
        }
        for (i, id) in ids.iter().enumerate() {
            let value = 0.2 + 0.0311 * (q * 4 + i as i64) as f64;
            long.push_str(&format!("{id},{},{value:.4}\r\n", stamp(q)));
        }
        match q {
            3 => long.push_str("m0,2013-01-01 00:45:00,9.9\r\n"), // duplicate: first kept
            5 => long.push_str("m1,1980-01-01 00:00:00,1.0\r\n"), // out of range
            7 => long.push_str("m2,2013-02-30 00:00:00,1.0\r\n"),
            9 => long.push_str("m2,2013-01-01 00:00:00,Null\r\n"),
            11 => long.push_str("m2,2013-01-01 00:00:00,-1\r\n"),
            13 => long.push_str("m2,2013-01-01 00:00:00,NaN\r\n"),
            15 => long.push_str(",2013-01-01 00:00:00,1\r\n"),
            17 => long.push_str("m2,2013-01-01 00:00:00\r\n"),
            19 => long.push_str("\r\n\r\n"),
            21 => long.push_str(&format!("\"q\r\nid\",{},0.5\r\n", stamp(q))),
            // A duplicate of a long id: the consumer refuses it by its fleet index.
            23 => long.push_str(&format!("a-long-meter-id-0002,{},9.9\r\n", stamp(1))),
            _ => {}
        }
    }
    // Meter-major: one meter's readings in a run, then the last line without a newline.
    for q in 0..60 {
        long.push_str(&format!(
            "mm,{},{:.3}\r\n",
            stamp(q),
            0.25 + 0.01 * q as f64
        ));
    }
    long.push_str(&format!("m0,{},2.5", stamp(200)));
    write(tmp.path(), "a_long.csv", &long);
    // The same meters in kW: m0 changes unit; n0 is new; m1 repeats a minute of a_long.
    let mut gz = String::from("meter_id,timestamp,kw\n");
    for q in 40..50 {
        gz.push_str(&format!("m0,{},1.5\nn0,{},0.3\n", stamp(q), stamp(q)));
    }
    gz.push_str(&format!("m1,{},7.0\n", stamp(2)));
    write_gz(tmp.path(), "b_more.csv.gz", &gz);
    write(tmp.path(), "c_README.md", "# not data\nat all\n");
    write(tmp.path(), "d_empty.csv", "");
    write(
        tmp.path(),
        "e_site.csv",
        "timestamp,value\n1356998400,1\n1357002000,x\n1357005600,2\n",
    );
    tmp
}

/// Everything a read produced, compared exactly: the readings handed on in order (values
/// by bits), the fleet's series (by bits: NaN hours compare equal) and the summary.
type ReadResult = (
    Vec<(String, i64, u32, Unit)>,
    Vec<(String, i64, u32, Vec<u32>)>,
    IngestSummary,
);

fn read_exactly(paths: &[PathBuf], opts: &ReadOptions) -> ReadResult {
    let mut handed_on = Vec::new();
    for_each_reading(paths, opts, None, &mut |m, ts, v, u| {
        handed_on.push((m.to_string(), ts, v.to_bits(), u));
        Ok(())
    })
    .unwrap();
    let mut fleet = Fleet::new();
    let summary = read_paths(paths, opts, &mut fleet, None).unwrap();
    // read_paths hands readings on grouped by meter; pushing them in plain file order
    // must give the same fleet and the same summary.
    let mut in_file_order = Fleet::new();
    let plain_summary = for_each_reading(paths, opts, None, &mut |m, ts, v, u| {
        in_file_order.push(m, ts, v, u).map_err(|e| match e {
            FleetError::Series(PushError::Duplicate) => RejectReason::Duplicate,
            FleetError::Series(PushError::OutOfRange) => RejectReason::OutOfRange,
            FleetError::UnitChanged => RejectReason::UnitChanged,
        })
    })
    .unwrap();
    let bits = |fleet: &Fleet| -> Vec<(String, i64, u32, Vec<u32>)> {
        fleet
            .finish()
            .into_iter()
            .map(|(id, s)| {
                let kw = s.kw.iter().map(|v| v.to_bits()).collect();
                (id.to_string(), s.start_hour, s.resolution_min, kw)
            })
            .collect()
    };
    let series = bits(&fleet);
    assert_eq!(series, bits(&in_file_order), "grouped against file order");
    assert_eq!(summary, plain_summary, "grouped against file order");
    (handed_on, series, summary)
}

#[test]
fn the_parallel_reader_gives_the_serial_readers_series_and_bad_rows_for_any_block_size() {
    let tmp = tricky_folder();
    let paths = [tmp.path().to_path_buf()];
    for base in [
        ReadOptions {
            unit: Some(Unit::Kwh),
            ..ReadOptions::default()
        },
        ReadOptions {
            unit: Some(Unit::Kwh),
            until: Some(JAN1_2013 + 6 * 3600),
            max_examples: 1,
            ..ReadOptions::default()
        },
    ] {
        let serial = read_exactly(
            &paths,
            &ReadOptions {
                n_threads: 1,
                ..base.clone()
            },
        );
        // The fixture is what it claims to be: every bad reason, skipped files, a split
        // meter, and a fleet that saw the CRLF rows.
        let summary = &serial.2;
        assert_eq!(summary.n_files, 3, "{}", summary.render());
        assert_eq!(summary.skipped_files.len(), 2, "{}", summary.render());
        assert!(summary.bad.len() >= 8, "{}", summary.render());
        assert!(serial.1.len() >= 5);
        // Block sizes from one byte (a boundary after every line) to bigger than a file.
        let sizes = (1..=48).chain([61, 64, 100, 257, 1000, 4096, 1 << 20]);
        for block_bytes in sizes {
            for n_threads in [2, 3] {
                let opts = ReadOptions {
                    n_threads,
                    block_bytes,
                    ..base.clone()
                };
                let parallel = read_exactly(&paths, &opts);
                assert_eq!(parallel.0, serial.0, "{n_threads} threads, {block_bytes} B");
                assert_eq!(parallel.1, serial.1, "{n_threads} threads, {block_bytes} B");
                assert_eq!(parallel.2, serial.2, "{n_threads} threads, {block_bytes} B");
            }
        }
    }
}

#[test]
fn bad_rows_name_their_true_line_in_a_crlf_file_cut_at_every_line() {
    let tmp = TempDir::new().unwrap();
    let path = write(
        tmp.path(),
        "crlf.csv",
        "meter_id,timestamp,kwh\r\nm,2013-01-01 00:00,1\r\n\r\nm,2013-01-01 01:00,x\r\nm,2013-01-01 00:00,2\r\nm,bad,1",
    );
    for n_threads in [1, 2] {
        let opts = ReadOptions {
            n_threads,
            block_bytes: 1,
            ..ReadOptions::default()
        };
        let (_, summary) = read(std::slice::from_ref(&path), &opts).unwrap();
        assert_eq!(
            places(&summary),
            [
                ("crlf.csv".into(), 4, BadReason::BadValue),
                ("crlf.csv".into(), 5, BadReason::Duplicate),
                ("crlf.csv".into(), 6, BadReason::BadTimestamp),
            ],
            "{n_threads} threads"
        );
    }
}

#[test]
fn a_failing_file_stops_the_parallel_read_like_the_serial_one() {
    let tmp = TempDir::new().unwrap();
    let good = write(
        tmp.path(),
        "a.csv",
        "meter_id,timestamp,kwh\nm,1356998400,1\n",
    );
    let bad = write(tmp.path(), "b.csv", "site,industry\n1,x\n");
    for n_threads in [1, 2] {
        let opts = ReadOptions {
            n_threads,
            ..ReadOptions::default()
        };
        let message = error_of(&[good.clone(), bad.clone()], &opts);
        assert!(message.contains("b.csv: header"), "{message}");
    }
}

#[test]
fn unix_milliseconds_and_microseconds_read_as_the_same_moments_as_seconds() {
    let dir = TempDir::new().unwrap();
    let rows = |scale: i64| {
        let mut text = String::from("meter_id,timestamp,kwh\n");
        for i in 0..4 {
            text.push_str(&format!("m1,{},0.5\n", (JAN1_2013 + i * 1800) * scale));
        }
        text
    };
    let seconds = readings(
        &[write(dir.path(), "s.csv", &rows(1))],
        &ReadOptions::default(),
    );
    for (name, scale) in [("ms.csv", 1_000), ("us.csv", 1_000_000)] {
        let got = readings(
            &[write(dir.path(), name, &rows(scale))],
            &ReadOptions::default(),
        );
        assert_eq!(got, seconds, "{name}");
    }
    assert_eq!(seconds[0].1, JAN1_2013);
}

#[test]
fn timestamps_outside_1970_to_2099_are_refused_with_file_line_and_the_accepted_forms() {
    let dir = TempDir::new().unwrap();
    let path = write(
        dir.path(),
        "far.csv",
        "meter_id,timestamp,kwh\nm1,2013-01-01 00:00,0.5\nm1,2213-01-01 00:00,0.5\nm1,1913-01-01 00:00,0.5\n",
    );
    let (_, summary) = read(&[path], &ReadOptions::default()).unwrap();
    assert_eq!(summary.bad[&BadReason::ImplausibleTime], 2);
    assert_eq!(
        places(&summary),
        [
            ("far.csv".to_string(), 3, BadReason::ImplausibleTime),
            ("far.csv".to_string(), 4, BadReason::ImplausibleTime)
        ]
    );
    let text = summary.render();
    assert!(
        text.contains("far.csv:3: timestamp before 1970 or after 2099: 2213-01-01 00:00"),
        "{text}"
    );
    assert!(
        text.contains("Unix seconds, milliseconds or microseconds"),
        "{text}"
    );
}

#[test]
fn a_semicolon_separated_file_gets_a_hint_about_the_delimiter() {
    let dir = TempDir::new().unwrap();
    let path = write(
        dir.path(),
        "semi.csv",
        "meter_id,timestamp,kwh\nm1;2013-01-01 00:00;0.5\nm1,2013-01-01 00:30,0.5\n",
    );
    let (_, summary) = read(&[path], &ReadOptions::default()).unwrap();
    assert!(summary.render().contains("`;`"), "{}", summary.render());
}

#[test]
fn net_metering_reads_export_as_no_consumption_with_the_flag_or_a_net_column() {
    let dir = TempDir::new().unwrap();
    let body = "m1,2013-01-01 00:00,0.5\nm1,2013-01-01 00:30,-0.7\nm1,2013-01-01 01:00,0.25\n";
    let plain = write(
        dir.path(),
        "plain.csv",
        &format!("meter_id,timestamp,kwh\n{body}"),
    );
    let net = write(
        dir.path(),
        "net.csv",
        &format!("meter_id,timestamp,net_kwh\n{body}"),
    );
    // Without the flag a negative reading is a bad row, as before.
    let (_, summary) = read(std::slice::from_ref(&plain), &ReadOptions::default()).unwrap();
    assert_eq!(summary.bad[&BadReason::NegativeValue], 1);
    let flagged = ReadOptions {
        net_metering: true,
        ..ReadOptions::default()
    };
    let expected = vec![
        ("m1".to_string(), JAN1_2013, 0.5, Unit::Kwh),
        ("m1".to_string(), JAN1_2013 + 1800, 0.0, Unit::Kwh),
        ("m1".to_string(), JAN1_2013 + 3600, 0.25, Unit::Kwh),
    ];
    assert_eq!(readings(&[plain], &flagged), expected);
    assert_eq!(readings(&[net], &ReadOptions::default()), expected);
}

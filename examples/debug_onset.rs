use flatline::core::*;
fn main() {
    let args: Vec<String> = std::env::args().collect();
    let opts = flatline::ingest::ReadOptions {
        unit: args.get(3).map(|u| u.parse().unwrap()),
        ..Default::default()
    };
    let (series, _) = flatline::scan::load_series(&[args[1].clone().into()], &opts, None).unwrap();
    let (_, s) = series
        .iter()
        .find(|(id, _)| id.as_str() == args[2])
        .unwrap();
    let m = features::measure(s, s.end_hour(), 0).unwrap();
    println!("{:?}", m.onset);
    // daily means by slot
    let start = s.start_hour;
    for d in 0..(s.kw.len() / 24) {
        let row: Vec<String> = (0..4)
            .map(|q| {
                let v: Vec<f32> = s.kw[d * 24 + q * 6..d * 24 + q * 6 + 6].to_vec();
                let mut v2 = v.clone();
                v2.sort_by(|a, b| a.total_cmp(b));
                format!("{:7.1}", v2[1])
            })
            .collect();
        println!(
            "{} {}",
            verdict::hour_to_datetime(start + (d * 24) as i64).format("%m-%d %a"),
            row.join(" ")
        );
    }
}

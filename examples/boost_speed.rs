//! Speed check of gradient boosting at the sizes the weekly training sees.
//!
//! ```text
//! cargo build --release --example forest_bench --example boost_speed
//! target/release/examples/forest_bench export data/weatherAUS.csv.gz /tmp/wx
//! target/release/examples/boost_speed /tmp/wx [rows ...]
//! ```
//!
//! Fits the production boosting defaults on the newest `rows` rows of the
//! exported weatherAUS training window (a replay's weekly training learns from
//! 2 000 to 18 000 BOM rows; a server with the bundled history from ~100 000),
//! early-stopping on the tune window, and prints wall time, the process's CPU
//! time (user + system, what counts when the machine is shared) and the trees
//! kept, per size. Default sizes: 2 000, 8 000, 18 000 and all rows.

use std::path::Path;
use std::time::Instant;

#[path = "../src/allocator.rs"]
mod allocator;

use linfa::ParamGuard;
use raincast::features::N_FEATURES;
use raincast::forest::boost::Validation;
use raincast::forest::{BinnedMatrix, FitOptions};

fn read(dir: &Path, name: &str) -> std::io::Result<(Vec<f32>, Vec<bool>)> {
    let x = std::fs::read(dir.join(format!("{name}_x.f32")))?
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    let y = std::fs::read(dir.join(format!("{name}_y.u8")))?
        .into_iter()
        .map(|b| b == 1)
        .collect();
    Ok((x, y))
}

/// User + system CPU seconds of this process so far.
fn cpu_seconds() -> f64 {
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: getrusage writes a whole rusage into the pointer it is given.
    let usage = unsafe {
        libc::getrusage(libc::RUSAGE_SELF, usage.as_mut_ptr());
        usage.assume_init()
    };
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 * 1e-6;
    secs(usage.ru_utime) + secs(usage.ru_stime)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // As training inside the server does.
    raincast::memory::install(allocator::hooks());
    raincast::memory::lean_allocator();
    let args: Vec<String> = std::env::args().collect();
    let Some(dir) = args.get(1) else {
        eprintln!("usage: boost_speed EXPORT_DIR [rows ...]");
        std::process::exit(2);
    };
    let dir = Path::new(dir);
    let (x, y) = read(dir, "train")?;
    let (tx, ty) = read(dir, "tune")?;
    let mut sizes: Vec<usize> = args[2..]
        .iter()
        .map(|s| s.parse())
        .collect::<Result<_, _>>()?;
    if sizes.is_empty() {
        sizes = vec![2_000, 8_000, 18_000, y.len()];
    }
    let cfg = raincast::config::Config::load_from(None, std::env::vars())?.model;
    // As training builds them: the encoder's categorical features included.
    let params = raincast::train::FamilyParams::from_config(&cfg)?
        .boost
        .ok_or("boosting is off (model.boost = false)")?
        .check()?;
    // A replay's tune window is a few thousand rows.
    let tune_rows = 4_000.min(ty.len());
    let valid = Validation {
        x: &tx[..tune_rows * N_FEATURES],
        y: &ty[..tune_rows],
    };
    for rows in sizes {
        let rows = rows.min(y.len());
        let from = y.len() - rows;
        let (cpu, wall) = (cpu_seconds(), Instant::now());
        let binned =
            BinnedMatrix::from_rows(&x[from * N_FEATURES..], N_FEATURES, params.max_bins());
        let booster =
            params.fit_binned(&binned, &y[from..], Some(valid), &FitOptions::default())?;
        let (wall, cpu) = (wall.elapsed().as_secs_f64(), cpu_seconds() - cpu);
        println!(
            "{rows:>7} rows: {:>4} trees, wall {wall:6.3} s, cpu {cpu:6.3} s ({:.2} ms cpu per tree)",
            booster.n_trees(),
            cpu * 1e3 / booster.n_trees() as f64
        );
    }
    Ok(())
}

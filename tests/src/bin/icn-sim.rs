//! Measures the Chord ring on the deterministic simulator and prints one JSON
//! line. Example: `cargo run --release -p icn-tests --bin icn-sim -- --nodes 1024 --lookups 10000`.

use std::process::ExitCode;
use std::time::Instant;

use clap::Parser;
use icn_core::node::Config;
use icn_tests::scenario::{self, Params};

/// Simulate an icn ring in virtual time and report lookup figures as JSON.
#[derive(Debug, Parser)]
#[command(
    name = "icn-sim",
    version,
    about,
    after_help = "Environment: ICN_SIM_LOSSLOG=1 prints, for each object a churn run lost, its live copies over time and the joins and crashes of the nodes after its key."
)]
struct Args {
    /// Nodes in the initial ring.
    #[arg(long, default_value_t = 1024)]
    nodes: usize,
    /// Objects to publish.
    #[arg(long, default_value_t = 1000)]
    objects: usize,
    /// Gets of random published names from random live nodes.
    #[arg(long, default_value_t = 10_000)]
    lookups: usize,
    /// Fraction of nodes crashed at once after publishing (0 to 0.9).
    #[arg(long, default_value_t = 0.0)]
    crash: f64,
    /// Joins and crashes per simulated second during the churn phase: one of
    /// each every 1/CHURN s, each crash a uniformly random running node.
    #[arg(long, default_value_t = 0.0)]
    churn: f64,
    /// Length of the churn phase in simulated seconds.
    #[arg(long, default_value_t = 0)]
    duration: u64,
    /// Copies of each object (the node's default unless given).
    #[arg(long, default_value_t = Config::default().replication)]
    replication: usize,
    /// Seed of everything random.
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

fn main() -> ExitCode {
    let a = Args::parse();
    if a.nodes < 2
        || a.nodes > 100_000
        || !(0.0..=0.9).contains(&a.crash)
        || a.replication == 0
        || a.objects == 0
    {
        eprintln!("error: need 2 <= --nodes <= 100000, 0 <= --crash <= 0.9, --replication >= 1, --objects >= 1");
        return ExitCode::from(2);
    }
    let p = Params {
        nodes: a.nodes,
        objects: a.objects,
        lookups: a.lookups,
        crash: a.crash,
        churn: a.churn,
        duration_s: a.duration,
        replication: a.replication,
        seed: a.seed,
    };
    let start = Instant::now();
    match scenario::run(&p) {
        Ok(mut r) => {
            r.wall_seconds = (start.elapsed().as_secs_f64() * 100.0).round() / 100.0;
            println!("{}", serde_json::to_string(&r).unwrap_or_default());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e} (seed {})", a.seed);
            ExitCode::FAILURE
        }
    }
}

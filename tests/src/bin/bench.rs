//! `make bench`: the scale benchmark of issue 8 against the local environment (see `bench`). Prints a
//! table and writes it as JSON under target/bench/. Sizes come from `BENCH_*` variables.

use wasmcloud_operator_tests::bench::{Config, report, scenarios};
use wasmcloud_operator_tests::env::TestEnv;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = Config::from_env()?;
    let profile = if cfg!(debug_assertions) {
        "debug"
    } else {
        "release"
    };
    let report = scenarios::run(TestEnv::get(), config, profile).await?;
    let table = report::table(&report);
    println!("{table}");
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| TestEnv::repo_root().join("target"), std::path::PathBuf::from);
    let dir = target.join("bench");
    std::fs::create_dir_all(&dir)?;
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs();
    let json = serde_json::to_string_pretty(&report)?;
    for name in [format!("bench-{stamp}.json"), "latest.json".to_string()] {
        std::fs::write(dir.join(name), &json)?;
    }
    std::fs::write(dir.join("latest.md"), &table)?;
    eprintln!(
        "[bench] wrote {}",
        dir.join(format!("bench-{stamp}.json")).display()
    );
    Ok(())
}

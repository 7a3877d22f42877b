//! Criterion micro-benchmark: parsing a realistic `openclaw.json` (JSON5
//! with comments, as a user edits it) with `openclaw_config::parse`.

use std::hint::black_box;
use std::path::Path;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};

/// A config the size and shape of a real instance's: gateway, agents,
/// canvas, browser with several profiles, comments and trailing commas.
const REALISTIC: &str = r##"{
  // gateway of the "main" instance
  gateway: {
    mode: "local",
    port: 23592,
    bind: "loopback",
    auth: { mode: "token", token: "b804a8f7d06bee9956195e0ff483cc37a2c2ae9a6b53415e" },
  },
  agents: {
    defaults: { workspace: "~/.openclaw/workspace-main" },
  },
  canvasHost: { enabled: true, port: 23596, liveReload: true },
  browser: {
    enabled: true,
    headless: true,
    defaultProfile: "openclaw",
    profiles: {
      openclaw: { cdpPort: 23603, color: "#FF4500" },
      work: { cdpPort: 23604, color: "#0066CC" },
      remote: { cdpUrl: "http://127.0.0.1:23650" },
    },
  },
}
"##;

fn bench_parse(c: &mut Criterion) {
    let path = Path::new("/home/user/.openclaw-main/openclaw.json");
    // Fail loudly if the sample stops being a valid config.
    openclaw_config::parse(REALISTIC, path).expect("the benchmark config must parse");
    let mut g = c.benchmark_group("config");
    g.throughput(Throughput::Bytes(REALISTIC.len() as u64));
    g.bench_function("parse_realistic_json5", |b| {
        b.iter(|| openclaw_config::parse(black_box(REALISTIC), black_box(path)).unwrap())
    });
    g.finish();
}

criterion_group!(benches, bench_parse);
criterion_main!(benches);

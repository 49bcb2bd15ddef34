//! Stages of the demo build and their stamps: a stage whose inputs (the plan, the sources'
//! versions, the helper scripts) did not change and whose files are intact is skipped.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::packages::hex;
use super::python::HELPER_PY;
use super::{CORPUS_VERSION, Ctx, games};
use crate::io;

/// A stage's stamp: what it produced, so a second run can skip it.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Stamp {
    key: String,
    seconds: f64,
    files: Vec<(String, u64)>,
    stats: serde_json::Value,
}

/// The files a stage wrote, relative to the output folder, with their sizes.
pub(super) type Produced = (Vec<PathBuf>, serde_json::Value);

/// Runs a stage unless its stamp says it is done with the same inputs and its files are
/// intact. `dirs` are the stage's output folders (cleared before a rebuild).
pub(super) fn stage(
    ctx: &mut Ctx,
    name: &str,
    dirs: &[&str],
    build: fn(&Ctx) -> Result<Produced>,
) -> Result<()> {
    let key = stage_key(ctx, name);
    let stamp_path = ctx.work_dir().join(format!("stamp-{name}.json"));
    if let Some(stamp) = read_stamp(&stamp_path)
        && stamp.key == key
        && stamp
            .files
            .iter()
            .all(|(rel, size)| std::fs::metadata(ctx.out.join(rel)).is_ok_and(|m| m.len() == *size))
    {
        eprintln!("stage {name}: up to date ({} files)", stamp.files.len());
        ctx.times.push((name.into(), 0.0, stamp.seconds, true));
        ctx.stats.insert(name.into(), stamp.stats);
        return Ok(());
    }
    for d in dirs {
        let p = ctx.out.join(d);
        if p.exists() {
            std::fs::remove_dir_all(&p)
                .with_context(|| format!("{}: cannot clear", p.display()))?;
        }
    }
    eprintln!("stage {name}: building");
    let t = Instant::now();
    let (files, stats) = build(ctx).with_context(|| format!("stage {name}"))?;
    let seconds = t.elapsed().as_secs_f64();
    let mut listed = Vec::new();
    for f in files {
        let rel = f
            .strip_prefix(&ctx.out)
            .unwrap_or(&f)
            .to_string_lossy()
            .into_owned();
        let size = std::fs::metadata(ctx.out.join(&rel))
            .with_context(|| format!("{rel}: missing after stage {name}"))?
            .len();
        listed.push((rel, size));
    }
    let stamp = Stamp {
        key,
        seconds,
        files: listed,
        stats: stats.clone(),
    };
    io::write_atomic(&stamp_path, serde_json::to_string(&stamp)?.as_bytes())?;
    eprintln!("stage {name}: {seconds:.1} s");
    ctx.times.push((name.into(), seconds, seconds, false));
    ctx.stats.insert(name.into(), stats);
    Ok(())
}

fn stage_key(ctx: &Ctx, name: &str) -> String {
    let mut h = Sha256::new();
    h.update(format!("{name} v{CORPUS_VERSION} {:?}", ctx.plan));
    for d in ctx.debs.values() {
        h.update(format!("{} {} {}", d.name, d.version, d.sha256));
    }
    for t in &ctx.tools {
        h.update(format!("{} {}", t.name, t.version));
    }
    for w in &ctx.wheels {
        h.update(format!("{} {}", w.name, w.sha256));
    }
    h.update(HELPER_PY);
    if name == games::STAGE {
        h.update(games::key_extra(ctx));
    }
    hex(&h.finalize())
}

fn read_stamp(path: &Path) -> Option<Stamp> {
    serde_json::from_slice(&std::fs::read(path).ok()?).ok()
}

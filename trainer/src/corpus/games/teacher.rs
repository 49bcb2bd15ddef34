//! The teacher, vibenet 0.1.0: its virtual environment of pinned wheels, run once per clip
//! in its own Python processes at corpus-build time, its scores cached by the clip's
//! SHA-256; and how well it agrees with the games' labels.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};
use rayon::prelude::*;
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::corpus::Ctx;
use crate::corpus::packages::{hex, run_cmd, sha256_file};
use crate::corpus::python::{Venv, Wheel};
use crate::io;

const TEACHER_PY: &str = include_str!("../../../../scripts/corpus/teacher.py");

/// The teacher's wheels for CPython 3.11 on x86-64 Linux, installed with `--no-deps`
/// (exactly what vibenet needs to score a file): (name, version, SHA-256, licence as its
/// metadata states it).
const TEACHER_WHEELS: &[(&str, &str, &str, &str)] = &[
    (
        "audioread",
        "3.1.0",
        "b30d1df6c5d3de5dcef0fb0e256f6ea17bdcf5f979408df0297d8a408e2971b4",
        "MIT",
    ),
    (
        "cffi",
        "2.1.1",
        "34e261f78cb6ceaaa36f42f2613f4380d94d9c759a9c73c769ee6e0247364632",
        "MIT-0",
    ),
    (
        "cloudpickle",
        "3.1.3",
        "1654f4f18e416447210a63c5c25a135d65a292156aa5fa519dfa4baf7726dddb",
        "BSD-3-Clause",
    ),
    (
        "decorator",
        "5.3.1",
        "f47fe6fdbd2edd623ecfe36875d37aba411624e2670dd395dddae1358689bb3c",
        "BSD-2-Clause",
    ),
    (
        "joblib",
        "1.6.0",
        "3dbbf9f6e4b592a2357b854608e980fe6390d131d7a82f011a377ef2ebef7aba",
        "BSD-3-Clause",
    ),
    (
        "lazy_loader",
        "0.6",
        "77253be3391b06124a0e16105bd663b6c54470af1a9ca8e1cf026f38d58ed056",
        "BSD-3-Clause",
    ),
    (
        "librosa",
        "0.11.0",
        "0b6415c4fd68bff4c29288abe67c6d80b587e0e1e2cfb0aad23e4559504a7fa1",
        "ISC",
    ),
    (
        "llvmlite",
        "0.50.0",
        "a6ffde00d4be8772a24e3e8b3af6bf86a79e7cf066d944ef56136b3957d707dc",
        "BSD-2-Clause AND Apache-2.0 WITH LLVM-exception",
    ),
    (
        "msgpack",
        "1.2.4",
        "a45ceb5f199d5e388f28b550ba881096a3740d4bda10e661d77f59d9a2e8187a",
        "Apache-2.0",
    ),
    (
        "numba",
        "0.68.1",
        "58fe7a3810261cf13797d8aa94c018cfe91e1e8adf634df60eb60ef834f9367b",
        "BSD-2-Clause",
    ),
    (
        "numpy",
        "2.4.6",
        "89cd468399cfd2504718f0ba50e410dca55a170b61a02ad92bb18c8a65186e93",
        "BSD-3-Clause AND 0BSD AND MIT AND Zlib AND CC0-1.0",
    ),
    (
        "onnxruntime",
        "1.32.0",
        "5a34fc4dfeb5a7b4a74c95dcba1e773d722abda720b474edf1b0c419dc6d163d",
        "MIT",
    ),
    (
        "packaging",
        "26.4",
        "81383611a09c1bc0b08b76e0fd5829d7c6824c65b27a6aee339da133f4233ea2",
        "Apache-2.0 OR BSD-2-Clause",
    ),
    (
        "platformdirs",
        "4.14.9",
        "d0d3a23e7ff282cfa94b77f5a22b81030dcb68ba0430f90c74f4bd8d090782ea",
        "MIT",
    ),
    (
        "pooch",
        "1.9.0",
        "f265597baa9f760d25ceb29d0beb8186c243d6607b0f60b83ecf14078dbc703b",
        "BSD-3-Clause",
    ),
    (
        "pycparser",
        "3.12",
        "a076f3f489b39b43ed13563a1dafe42447445bec2e294154ec5c57fcdda4c85e",
        "BSD-3-Clause",
    ),
    (
        "pydub",
        "0.25.1",
        "65617e33033874b59d87db603aa1ed450633288aefead953b30bded59cb599a6",
        "MIT",
    ),
    (
        "scipy",
        "1.17.1",
        "43af8d1f3bea642559019edfe64e9b11192a8978efbd1539d7bc2aaa23d92de4",
        "BSD-3-Clause",
    ),
    (
        "soundfile",
        "0.14.0",
        "1e38bac1853412871318e82a1ba69a8be677619b56025bbfcccdb41b6cafe82d",
        "BSD-3-Clause (bundles libsndfile, LGPL-2.1-or-later)",
    ),
    (
        "soxr",
        "1.1.0",
        "3da87e3ffa3e41823d873b051c7ecb2acebd8d1b6b46b752f5facf10a0d84ab9",
        "LGPL-2.1-or-later",
    ),
    (
        "typing_extensions",
        "4.16.0",
        "481caa481374e813c1b176ada14e97f1f67a4539ce9cfeb3f350d78d6370c2e8",
        "PSF-2.0",
    ),
    (
        "vibenet",
        "0.1.0",
        "3474fd65a9723f0f58f511e77d1641ea937f11b8d75e906bcda2da9cad3094f5",
        "GPL-3.0-or-later",
    ),
];

/// The teacher's environment: exactly its pinned wheels, installed with `--no-deps`.
const TEACHER_VENV: Venv = Venv {
    dir: "teacher-venv",
    wheels_dir: "teacher-wheels",
    holds: "the teacher (vibenet)",
    python_version: Some("3.11"),
    no_python: "python3 not found (the teacher needs CPython 3.11 with venv)",
    venv_failed: "creating the teacher's virtual environment (install python3-venv)",
    install_failed: "installing the teacher's wheels",
    pip_options: &["--no-deps", "--no-index"],
};

/// A virtual environment in the cache with exactly the pinned wheels, installed with
/// `--no-deps` from files checked against their pinned SHA-256.
pub(super) fn ensure_teacher(ctx: &Ctx) -> Result<Vec<Wheel>> {
    let wheels = TEACHER_WHEELS
        .iter()
        .map(|(name, version, sha, licence)| Wheel::pinned(name, version, sha, licence))
        .collect();
    TEACHER_VENV.ensure(&ctx.cache, wheels)
}

/// Identifies the teacher's outputs: its script and its wheels.
pub(super) fn teacher_key() -> String {
    let mut h = Sha256::new();
    h.update(TEACHER_PY);
    for w in TEACHER_WHEELS {
        h.update(format!("{} {} {}", w.0, w.1, w.2));
    }
    hex(&h.finalize())[..16].to_string()
}

/// The teacher's (valence, energy) per file, from the cache where the same audio was
/// scored before by the same teacher; the rest in one process per core.
pub(super) fn teacher_scores(ctx: &Ctx, files: &[PathBuf]) -> Result<Vec<(f64, f64)>> {
    let dir = ctx.cache.join("teacher");
    std::fs::create_dir_all(&dir)?;
    let cache_path = dir.join(format!("scores-{}.csv", teacher_key()));
    let mut cache = read_scores(&cache_path);
    let sums: Vec<String> = files
        .par_iter()
        .map(|f| sha256_file(f))
        .collect::<Result<_>>()?;
    let missing: Vec<usize> = (0..files.len())
        .filter(|&i| !cache.contains_key(&sums[i]))
        .collect();
    if !missing.is_empty() {
        let script = dir.join("teacher.py");
        if std::fs::read_to_string(&script).ok().as_deref() != Some(TEACHER_PY) {
            io::write_atomic(&script, TEACHER_PY.as_bytes())?;
        }
        let procs = rayon::current_num_threads().clamp(1, missing.len().div_ceil(4));
        eprintln!(
            "  teacher: {} clips in {procs} process(es) ({} cached)",
            missing.len(),
            files.len() - missing.len()
        );
        let chunks: Vec<Vec<usize>> = (0..procs)
            .map(|p| missing.iter().copied().skip(p).step_by(procs).collect())
            .collect();
        let py = TEACHER_VENV.python(&ctx.cache);
        let results: Vec<Result<Vec<(usize, f64, f64)>>> = std::thread::scope(|s| {
            let handles: Vec<_> = chunks
                .iter()
                .enumerate()
                .map(|(p, chunk)| {
                    let (py, script, dir) = (&py, &script, &dir);
                    s.spawn(move || score(py, script, dir, p, chunk, files))
                })
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join()
                        .unwrap_or_else(|_| Err(anyhow::anyhow!("teacher thread panicked")))
                })
                .collect()
        });
        for r in results {
            for (i, v, e) in r? {
                if !(0.0..=1.0).contains(&v) || !(0.0..=1.0).contains(&e) {
                    bail!("the teacher gave {v}, {e} for {}", files[i].display());
                }
                cache.insert(sums[i].clone(), (v, e));
            }
        }
        write_scores(&cache_path, &cache)?;
    }
    Ok(sums.iter().map(|s| cache[s]).collect())
}

/// The cached scores: (valence, energy) by SHA-256 (none when the file is missing).
fn read_scores(path: &Path) -> BTreeMap<String, (f64, f64)> {
    let mut cache = BTreeMap::new();
    if let Ok(mut r) = csv::Reader::from_path(path) {
        for rec in r.records().flatten() {
            if let (Some(s), Some(v), Some(e)) = (rec.get(0), rec.get(1), rec.get(2))
                && let (Ok(v), Ok(e)) = (v.parse(), e.parse())
            {
                cache.insert(s.to_string(), (v, e));
            }
        }
    }
    cache
}

fn write_scores(path: &Path, cache: &BTreeMap<String, (f64, f64)>) -> Result<()> {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(["sha256", "valence", "energy"])?;
    for (s, (v, e)) in cache {
        w.write_record([s.as_str(), &format!("{v:.6}"), &format!("{e:.6}")])?;
    }
    io::write_atomic(path, &w.into_inner()?)
}

/// One teacher process (number `p`) scoring the files of `chunk`: (file index, valence,
/// energy) each.
fn score(
    py: &Path,
    script: &Path,
    dir: &Path,
    p: usize,
    chunk: &[usize],
    files: &[PathBuf],
) -> Result<Vec<(usize, f64, f64)>> {
    let list = dir.join(format!(".list-{p}.txt"));
    let out = dir.join(format!(".out-{p}.csv"));
    let text: String = chunk
        .iter()
        .map(|&i| format!("{}\n", files[i].display()))
        .collect();
    io::write_atomic(&list, text.as_bytes())?;
    run_cmd(
        Command::new(py)
            .arg(script)
            .arg("--list")
            .arg(&list)
            .arg("--out")
            .arg(&out)
            .args(["--threads", "1"]),
    )
    .context("the teacher (vibenet)")?;
    let mut r = csv::Reader::from_path(&out).with_context(|| format!("{}", out.display()))?;
    let mut got = Vec::new();
    for (rec, &i) in r.records().zip(chunk) {
        let rec = rec?;
        let v: f64 = rec.get(1).unwrap_or("").parse()?;
        let e: f64 = rec.get(2).unwrap_or("").parse()?;
        got.push((i, v, e));
    }
    if got.len() != chunk.len() {
        bail!("the teacher scored {} of {} clips", got.len(), chunk.len());
    }
    let _ = std::fs::remove_file(&list);
    let _ = std::fs::remove_file(&out);
    Ok(got)
}

/// ROC AUC of `score` for `label` (ties count a half); `None` without both classes.
pub(super) fn auc(pairs: &[(f64, bool)]) -> Option<f64> {
    let pos: Vec<f64> = pairs.iter().filter(|p| p.1).map(|p| p.0).collect();
    let neg: Vec<f64> = pairs.iter().filter(|p| !p.1).map(|p| p.0).collect();
    if pos.is_empty() || neg.is_empty() {
        return None;
    }
    let mut s = 0.0;
    for &p in &pos {
        for &n in &neg {
            s += if p > n {
                1.0
            } else if p == n {
                0.5
            } else {
                0.0
            };
        }
    }
    Some(s / (pos.len() * neg.len()) as f64)
}

/// Agreement of the teacher with the game where the game states a label: clips, how often
/// the teacher's side of 0.5 matches, the AUC, and the clips per class.
pub(super) fn agreement(pairs: &[(f64, bool)]) -> serde_json::Value {
    let agree = pairs.iter().filter(|p| (p.0 > 0.5) == p.1).count();
    json!({
        "clips": pairs.len(),
        "positive": pairs.iter().filter(|p| p.1).count(),
        "negative": pairs.iter().filter(|p| !p.1).count(),
        "agree": if pairs.is_empty() { serde_json::Value::Null } else { json!(agree as f64 / pairs.len() as f64) },
        "auc": auc(pairs),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auc_counts_ties_a_half() {
        assert_eq!(auc(&[(0.9, true), (0.1, false), (0.5, true)]), Some(1.0));
        assert_eq!(auc(&[(0.5, true), (0.5, false)]), Some(0.5));
        assert_eq!(auc(&[(0.5, true)]), None);
    }
}

//! Stage `melodies`: real melodies exported from music21's corpus by the helper script
//! (Bach chorales and Essen folk tunes for `western`, Han Chinese folk tunes for
//! `chinese`), with their key and mode; cached in the download cache.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use serde::Deserialize;
use serde_json::json;
use sha2::{Digest, Sha256};

use super::Ctx;
use super::packages::hex;
use super::python::{HELPER_PY, helper};
use super::stages::Produced;
use crate::io;

pub(super) const STAGE: &str = "melodies";

#[derive(Debug, Clone, Deserialize)]
pub(super) struct Piece {
    pub id: String,
    pub source: String,
    pub title: String,
    pub collection: String,
    pub tonic: i32,
    pub mode: String,
    pub bar_ql: f64,
    pub length_ql: f64,
    /// Parts of notes: (onset in quarter notes, duration, MIDI pitches).
    pub parts: Vec<Vec<(f64, f64, Vec<i32>)>>,
}

#[derive(Debug, Clone, Deserialize)]
pub(super) struct Melodies {
    pub western: Vec<Piece>,
    pub chinese: Vec<Piece>,
}

fn melodies_path(ctx: &Ctx) -> PathBuf {
    ctx.work_dir().join("melodies.json")
}

/// The melodies the stage wrote.
pub(super) fn load(ctx: &Ctx) -> Result<Melodies> {
    Ok(serde_json::from_slice(&std::fs::read(melodies_path(ctx))?)?)
}

pub(super) fn build(ctx: &Ctx) -> Result<Produced> {
    let n = ctx.plan.clips_per_quadrant * 4;
    let out = melodies_path(ctx);
    // Cached in the download cache too: parsing the corpus takes minutes.
    let cached = ctx.cache.join(format!(
        "melodies-{n}-{}.json",
        &hex(&Sha256::digest(HELPER_PY))[..12]
    ));
    if !cached.is_file() {
        let tmp = cached.with_extension("tmp");
        helper(
            ctx,
            &[
                "melodies",
                "--western",
                &n.to_string(),
                "--chinese",
                &n.to_string(),
                "--out",
                &tmp.to_string_lossy(),
            ],
        )
        .context("exporting melodies from music21's corpus")?;
        std::fs::rename(&tmp, &cached)?;
    }
    let bytes = std::fs::read(&cached)?;
    let m: Melodies = serde_json::from_slice(&bytes)
        .with_context(|| format!("{}: bad melody file", cached.display()))?;
    if m.western.is_empty() || m.chinese.is_empty() {
        bail!("music21 gave no melodies");
    }
    io::write_atomic(&out, &bytes)?;
    Ok((
        vec![out],
        json!({"western": m.western.len(), "chinese": m.chinese.len()}),
    ))
}

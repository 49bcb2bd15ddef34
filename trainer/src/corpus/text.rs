//! Stage `text`: English sentences from fortune-mod's fortunes and Chinese sentences from
//! fortunes-zh with their pinyin and zhuyin (by pypinyin, in the helper script), read by the
//! speech stages.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use serde::Deserialize;
use serde_json::json;

use super::Ctx;
use super::audio::files_in;
use super::python::helper;
use super::stages::Produced;
use crate::io;

pub(super) const STAGE: &str = "text";
/// The stage's files in the work folder.
const ENGLISH_JSON: &str = "english.json";
const CHINESE_JSON: &str = "chinese.json";

fn text_dir(ctx: &Ctx) -> PathBuf {
    ctx.work_dir().join("text")
}

/// English sentences from fortune-mod's (inoffensive) English fortunes, and Chinese
/// sentences from fortunes-zh with their pinyin and zhuyin.
pub(super) fn build(ctx: &Ctx) -> Result<Produced> {
    let dir = text_dir(ctx);
    std::fs::create_dir_all(&dir)?;
    let english = english_sentences(ctx)?;
    let en_path = dir.join(ENGLISH_JSON);
    io::write_atomic(&en_path, serde_json::to_string(&english)?.as_bytes())?;
    let zh_json = dir.join(CHINESE_JSON);
    chinese_sentences(ctx, &zh_json)?;
    let n_zh = load_chinese(ctx)?.len();
    Ok((
        vec![en_path, zh_json],
        json!({"english_sentences": english.len(), "chinese_sentences": n_zh}),
    ))
}

/// The fortunes that read as plain sentences, de-duplicated and shuffled.
fn english_sentences(ctx: &Ctx) -> Result<Vec<String>> {
    let fortunes = ctx.debs["fortunes"].root.join("usr/share/games/fortunes");
    let mut english = Vec::new();
    let names = files_in(&fortunes, |p| p.is_file() && p.extension().is_none())?;
    for f in names {
        let text = std::fs::read_to_string(&f).unwrap_or_default();
        english.extend(text.split("\n%\n").filter_map(plain_sentence));
    }
    english.dedup();
    english.shuffle(&mut StdRng::seed_from_u64(1));
    if english.len() < 100 {
        bail!("only {} English sentences found in fortunes", english.len());
    }
    Ok(english)
}

/// A fortune as one line, if it is a plain sentence of 40-320 characters (no attribution
/// lines, mostly letters, no unusual characters).
fn plain_sentence(entry: &str) -> Option<String> {
    let lines: Vec<&str> = entry
        .lines()
        .map(str::trim)
        .filter(|l| !l.starts_with("--") && !l.starts_with('-'))
        .collect();
    let s = lines.join(" ");
    let s = s.split_whitespace().collect::<Vec<_>>().join(" ");
    let ok_chars = s
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || " .,;:'\"!?()-".contains(c));
    let letters = s.chars().filter(|c| c.is_ascii_alphabetic()).count();
    (ok_chars && (40..=320).contains(&s.len()) && letters * 10 > s.len() * 7).then_some(s)
}

/// fortunes-zh's poems and prose, split into sentences with their pinyin and zhuyin by the
/// helper (pypinyin), written to `out`.
fn chinese_sentences(ctx: &Ctx, out: &Path) -> Result<()> {
    let zh = ctx.debs["fortunes-zh"]
        .root
        .join("usr/share/games/fortunes");
    let mut all = String::new();
    for name in ["tang300", "song100", "chinese"] {
        all.push_str(&std::fs::read_to_string(zh.join(name)).unwrap_or_default());
        all.push('\n');
    }
    let zh_text = text_dir(ctx).join("chinese.txt");
    std::fs::write(&zh_text, &all)?;
    helper(
        ctx,
        &[
            "pinyin",
            "--text",
            &zh_text.to_string_lossy(),
            "--max-sentences",
            &ctx.plan.sentences.to_string(),
            "--out",
            &out.to_string_lossy(),
        ],
    )
    .context("converting Chinese text to pinyin")?;
    let _ = std::fs::remove_file(&zh_text);
    Ok(())
}

#[derive(Debug, Clone, Deserialize)]
pub(super) struct ChineseSentence {
    pub text: String,
    pub pinyin: Vec<Vec<String>>,
    pub zhuyin: Vec<Vec<String>>,
}

pub(super) fn load_chinese(ctx: &Ctx) -> Result<Vec<ChineseSentence>> {
    let p = text_dir(ctx).join(CHINESE_JSON);
    Ok(serde_json::from_slice(&std::fs::read(&p)?)?)
}

pub(super) fn load_english(ctx: &Ctx) -> Result<Vec<String>> {
    let p = text_dir(ctx).join(ENGLISH_JSON);
    Ok(serde_json::from_slice(&std::fs::read(&p)?)?)
}

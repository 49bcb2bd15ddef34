//! A game's labelled tracks: where a track's audio lies (in a package, or a zip inside one)
//! and its licence, the cues the game's data states for it, and one label per dimension
//! from those cues. The games' own track lists are in [`super::strategy`] and
//! [`super::racing`].

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

use super::data_files::dep5_licence;
use super::{racing, strategy};
use crate::corpus::Ctx;
use crate::corpus::packages::{Deb, run_cmd};

/// A usage of a track that a game's data states, with the cue it gives (if any).
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Cue {
    /// The situation, e.g. `battlescape`, `victory`.
    pub usage: String,
    /// Where it is stated: `PACKAGE FILE WHAT`.
    pub source: String,
    pub arousal: Option<bool>,
    pub valence: Option<bool>,
}

#[derive(Debug, Clone)]
pub(super) struct Track {
    pub game: &'static str,
    /// The package holding the audio.
    pub package: String,
    /// The track's path inside that package (`ARCHIVE:MEMBER` inside a zip).
    pub track: String,
    /// The file to decode.
    pub file: PathBuf,
    pub licence: String,
    pub cues: Vec<Cue>,
}

impl Track {
    /// A track that is a file of an extracted package; one line when it is missing.
    pub fn extracted(game: &'static str, deb: &Deb, file: &Path, licence: String) -> Result<Self> {
        if !file.is_file() {
            bail!("{}: {} is missing", deb.name, rel(deb, file));
        }
        Ok(Track {
            game,
            package: deb.name.clone(),
            track: rel(deb, file),
            licence,
            file: file.to_path_buf(),
            cues: Vec::new(),
        })
    }
}

/// A zip archive in a package (`ARCHIVE` in a track's name), and the folder its members
/// are extracted to.
pub(super) struct Zip<'a> {
    pub deb: &'a Deb,
    pub archive: String,
    pub extracted: PathBuf,
}

impl Zip<'_> {
    /// The track that is member `member`, licensed as the copyright file's `licensed_as`;
    /// one line naming where it is listed when it is missing.
    pub fn track(
        &self,
        game: &'static str,
        member: &str,
        licensed_as: &str,
        listed_in: &str,
    ) -> Result<Track> {
        let file = self.extracted.join(member);
        if !file.is_file() {
            bail!(
                "{}: {member} (named in {listed_in}) is missing",
                self.deb.name
            );
        }
        Ok(Track {
            game,
            package: self.deb.name.clone(),
            track: format!("{}:{member}", self.archive),
            licence: track_licence(self.deb, licensed_as),
            file,
            cues: Vec::new(),
        })
    }
}

pub(super) fn read_text(path: &Path) -> Result<String> {
    let b = std::fs::read(path).with_context(|| format!("{}: cannot read", path.display()))?;
    Ok(String::from_utf8_lossy(&b).into_owned())
}

pub(super) fn rel(deb: &Deb, path: &Path) -> String {
    path.strip_prefix(&deb.root)
        .unwrap_or(path)
        .to_string_lossy()
        .into_owned()
}

/// Extracts the members of a zip archive whose names start with one of `prefixes` into a
/// folder beside it (once; python3's zipfile, which sanitises member names).
pub(super) fn unzip(zip: &Path, prefixes: &[&str]) -> Result<PathBuf> {
    let name = zip.file_name().unwrap_or_default().to_string_lossy();
    let dest = zip.with_file_name(format!(".unzipped-{name}"));
    let want = prefixes.join("\n");
    if std::fs::read_to_string(dest.join(".done")).is_ok_and(|s| s == want) {
        return Ok(dest);
    }
    if !zip.is_file() {
        bail!("{}: missing from its package", zip.display());
    }
    let tmp = zip.with_file_name(format!(".unzipping-{name}"));
    let _ = std::fs::remove_dir_all(&tmp);
    const PY: &str = "import sys, zipfile\n\
        z = zipfile.ZipFile(sys.argv[1])\n\
        pre = tuple(sys.argv[3:])\n\
        for i in z.infolist():\n    \
            if i.filename.startswith(pre) and not i.is_dir():\n        \
                z.extract(i, sys.argv[2])\n";
    run_cmd(
        Command::new("python3")
            .args(["-c", PY])
            .arg(zip)
            .arg(&tmp)
            .args(prefixes),
    )
    .with_context(|| format!("extracting {} from {}", prefixes.join(", "), zip.display()))?;
    let _ = std::fs::remove_dir_all(&dest);
    std::fs::rename(&tmp, &dest)?;
    std::fs::write(dest.join(".done"), want)?;
    Ok(dest)
}

/// A track's licence: its DEP-5 paragraph, else the package's licence, else (a free-text
/// copyright file that holds a Creative Commons legal code) the licence that code names.
pub(super) fn track_licence(deb: &Deb, candidate: &str) -> String {
    let text = std::fs::read_to_string(deb.copyright()).unwrap_or_default();
    if let Some(l) = dep5_licence(&text, candidate) {
        return l;
    }
    if deb.licence.starts_with("see ")
        && text.contains("CREATIVE COMMONS PUBLIC LICENSE")
        && text.contains("License Elements")
        && text.contains("Attribution, ShareAlike")
    {
        return "CC-BY-SA (Creative Commons legal code in the package's copyright file)".into();
    }
    deb.licence.clone()
}

pub(super) fn cue(
    usage: &str,
    source: String,
    arousal: Option<bool>,
    valence: Option<bool>,
) -> Cue {
    Cue {
        usage: usage.into(),
        source,
        arousal,
        valence,
    }
}

/// Requires `needle` in a data file before a label is taken from it.
pub(super) fn verify(path: &Path, deb: &Deb, needle: &str) -> Result<()> {
    if !read_text(path)?.contains(needle) {
        bail!(
            "{} {}: does not contain {needle:?}; the game's data changed, labels not taken",
            deb.name,
            rel(deb, path)
        );
    }
    Ok(())
}

/// Adds a cue to the track `key`, creating the track.
pub(super) fn add(
    tracks: &mut BTreeMap<String, Track>,
    key: &str,
    make: impl FnOnce() -> Result<Track>,
    c: Cue,
) -> Result<()> {
    if !tracks.contains_key(key) {
        tracks.insert(key.to_string(), make()?);
    }
    let t = tracks.get_mut(key).expect("inserted");
    if !t.cues.contains(&c) {
        t.cues.push(c);
    }
    Ok(())
}

/// The labelled tracks of a game, from its data.
pub(super) fn tracks_of(ctx: &Ctx, game: &str) -> Result<Vec<Track>> {
    match game {
        "ufoai" => strategy::ufoai(ctx),
        "0ad" => strategy::zero_ad(ctx),
        "supertuxkart" => racing::supertuxkart(ctx),
        "wesnoth" => strategy::wesnoth(ctx),
        "extremetuxracer" => racing::extremetuxracer(ctx),
        "singularity" => strategy::singularity(ctx),
        "colobot" => strategy::colobot(ctx),
        other => bail!("unknown game {other}"),
    }
}

/// One dimension's game label from a track's cues: `Some((sign, source))` when the cues
/// agree, `None` when they say nothing or disagree.
pub(super) fn game_label(cues: &[Cue], pick: fn(&Cue) -> Option<bool>) -> Option<(bool, String)> {
    let stated: Vec<(bool, &str)> = cues
        .iter()
        .filter_map(|c| pick(c).map(|s| (s, c.source.as_str())))
        .collect();
    let first = stated.first()?;
    if stated.iter().any(|s| s.0 != first.0) {
        return None;
    }
    let sources: BTreeSet<&str> = stated.iter().map(|s| s.1).collect();
    let mut it = sources.into_iter();
    let mut s = it.next()?.to_string();
    let more = it.count();
    if more > 0 {
        s.push_str(&format!(" (+{more} more)"));
    }
    Some((first.0, s))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_from_cues() {
        let c = |a, v, s: &str| cue("u", s.into(), a, v);
        let cues = [c(Some(false), None, "x"), c(Some(false), None, "y")];
        assert!(!game_label(&cues, |c| c.arousal).unwrap().0);
        assert!(game_label(&cues, |c| c.valence).is_none());
        let conflict = [c(Some(false), None, "x"), c(Some(true), None, "y")];
        assert!(game_label(&conflict, |c| c.arousal).is_none());
    }
}

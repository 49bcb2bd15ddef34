//! The labelled tracks of the racing games, from their data: SuperTuxKart's final-lap
//! versions and race results, Extreme Tux Racer's racing themes and won/lost race music.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use anyhow::{Context, Result, bail};

use super::data_files::{etr_records, xml_attrs};
use super::tracks::{Track, add, cue, read_text, rel, track_licence};
use crate::corpus::Ctx;
use crate::corpus::audio::{files_in, has_extension};

pub(super) fn supertuxkart(ctx: &Ctx) -> Result<Vec<Track>> {
    let deb = &ctx.debs["supertuxkart-data"];
    let data = deb.path("usr/share/games/supertuxkart/data");
    let mut tracks = BTreeMap::new();
    let make = |file: PathBuf| {
        move || -> Result<Track> {
            if !file.is_file() {
                bail!("supertuxkart-data: {} is missing", rel(deb, &file));
            }
            let name = file.file_name().unwrap_or_default().to_string_lossy();
            Ok(Track {
                game: "supertuxkart",
                package: deb.name.clone(),
                track: rel(deb, &file),
                licence: track_licence(deb, &format!("data/music/{name}")),
                file,
                cues: Vec::new(),
            })
        }
    };
    // The final-lap version (`fast-filename`) of a piece against its normal version.
    let descriptors = files_in(&data.join("music"), |p| has_extension(p, "music"))
        .context("supertuxkart-data: no data/music")?;
    for d in &descriptors {
        let Some(a) = xml_attrs(&read_text(d)?, "music", "file") else {
            continue;
        };
        let Some(fast) = a.get("fast-filename") else {
            continue;
        };
        let dn = rel(deb, d);
        let normal = data.join("music").join(&a["file"]);
        let fastf = data.join("music").join(fast);
        let src = |which: &str| format!("game:{} {dn} {which} (final-lap pair)", deb.name);
        add(
            &mut tracks,
            &a["file"],
            make(normal),
            cue("normal version", src("file"), Some(false), None),
        )?;
        add(
            &mut tracks,
            fast,
            make(fastf),
            cue("final-lap version", src("fast-filename"), Some(true), None),
        )?;
    }
    // Race results: stk_config.xml's <music race-win=... race-lose=... gp-win=...>.
    let cfg = data.join("stk_config.xml");
    let roles = xml_attrs(&read_text(&cfg)?, "music", "race-win")
        .context("supertuxkart-data data/stk_config.xml: no <music race-win=...>")?;
    for (role, valence) in [
        ("race-win", true),
        ("gp-win", true),
        ("race-lose", false),
        ("gp-lose", false),
    ] {
        let Some(desc) = roles.get(role) else {
            continue;
        };
        let dp = data.join("music").join(desc);
        let a = xml_attrs(&read_text(&dp)?, "music", "file")
            .with_context(|| format!("supertuxkart-data {}: no file=", rel(deb, &dp)))?;
        let source = format!("game:{} {} music {role}={desc}", deb.name, rel(deb, &cfg));
        add(
            &mut tracks,
            &a["file"],
            make(data.join("music").join(&a["file"])),
            cue(role, source, None, Some(valence)),
        )?;
    }
    Ok(tracks.into_values().collect())
}

pub(super) fn extremetuxracer(ctx: &Ctx) -> Result<Vec<Track>> {
    let deb = &ctx.debs["extremetuxracer-data"];
    let dir = deb.path("usr/share/games/etr/music");
    let files: BTreeMap<String, String> = etr_records(&read_text(&dir.join("music.lst"))?)
        .into_iter()
        .filter_map(|r| Some((r.get("name")?.clone(), r.get("file")?.clone())))
        .collect();
    let themes = etr_records(&read_text(&dir.join("racing_themes.lst"))?);
    let mut tracks = BTreeMap::new();
    for t in &themes {
        let theme = t.get("name").map_or("", String::as_str);
        // The race music of the mood themes courses choose from (`[theme] calm|spunky`);
        // the won/lost race music of every theme.
        let mut uses = Vec::new();
        match theme {
            "calm" => uses.push(("race", "calm race", Some(false), None)),
            "spunky" => uses.push(("race", "spunky race", Some(true), None)),
            _ => {}
        }
        uses.push(("wonrace", "won race", None, Some(true)));
        uses.push(("lostrace", "lost race", None, Some(false)));
        for (field, usage, a, v) in uses {
            let Some(name) = t.get(field) else {
                continue;
            };
            let f = files.get(name).with_context(|| {
                format!("extremetuxracer-data music/music.lst: no entry {name}")
            })?;
            let file = dir.join(f);
            let source = format!(
                "game:{} music/racing_themes.lst theme {theme} [{field}] {name}",
                deb.name
            );
            let make = || {
                let licence = track_licence(deb, &format!("data/music/{f}"));
                Track::extracted("extremetuxracer", deb, &file, licence)
            };
            add(&mut tracks, f, make, cue(usage, source, a, v))?;
        }
    }
    // The won/lost music is the same for every theme: keep one cue per track.
    for t in tracks.values_mut() {
        let mut seen = BTreeSet::new();
        t.cues
            .retain(|c| c.arousal.is_some() || seen.insert((c.usage.clone(), c.valence)));
    }
    Ok(tracks.into_values().collect())
}

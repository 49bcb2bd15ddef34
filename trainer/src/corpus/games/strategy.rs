//! The labelled tracks of the strategy games, from their data: UFO: Alien Invasion's
//! playlists and campaign windows, 0 A.D.'s music states, Wesnoth's victory and defeat
//! music, Singularity's win and lose folders, Colobot's scenes after a mission.

use std::collections::BTreeMap;

use anyhow::{Context, Result, bail};

use super::data_files::{
    colobot_audio, ufo_playlists, ufo_window_music, wml_list, zero_ad_civ_music, zero_ad_defaults,
};
use super::tracks::{Track, Zip, add, cue, read_text, rel, track_licence, unzip, verify};
use crate::corpus::Ctx;
use crate::corpus::audio::{files_in, has_extension};

pub(super) fn ufoai(ctx: &Ctx) -> Result<Vec<Track>> {
    let music = &ctx.debs["ufoai-music"];
    let common = &ctx.debs["ufoai-common"];
    let ufos_pk3 = common.path("usr/share/games/ufoai/base/0ufos.pk3");
    let music_pk3 = music.path("usr/share/games/ufoai/base/0music.pk3");
    let scripts = unzip(&ufos_pk3, &["ufos/music.ufo", "ufos/ui/campaign.ufo"])?;
    let audio = Zip {
        deb: music,
        archive: rel(music, &music_pk3),
        extracted: unzip(&music_pk3, &["music/"])?,
    };
    let pk3 = rel(common, &ufos_pk3);
    let mut tracks = BTreeMap::new();
    let make = |name: &str| {
        let member = format!("music/{name}.ogg");
        let (licensed_as, audio) = (format!("base/{member}"), &audio);
        move || audio.track("ufoai", &member, &licensed_as, "ufos/music.ufo")
    };
    // Playlists: geoscape (the strategic map, time passing) low arousal; battlescape
    // (tactical combat) and aircombat (interceptions) high.
    let playlists = ufo_playlists(&read_text(&scripts.join("ufos/music.ufo"))?);
    for (list, names) in &playlists {
        let arousal = match list.as_str() {
            "geoscape" => Some(false),
            "battlescape" | "aircombat" => Some(true),
            _ => continue,
        };
        for n in names {
            let source = format!("game:{} {pk3}:ufos/music.ufo playlist {list}", common.name);
            add(&mut tracks, n, make(n), cue(list, source, arousal, None))?;
        }
    }
    // The campaign's end windows: endgame (won) and lostgame.
    for (window, name) in ufo_window_music(&read_text(&scripts.join("ufos/ui/campaign.ufo"))?) {
        let (usage, valence) = match window.as_str() {
            "endgame" => ("campaign won", Some(true)),
            "lostgame" => ("campaign lost", Some(false)),
            _ => continue,
        };
        let source = format!(
            "game:{} {pk3}:ufos/ui/campaign.ufo window {window} snd_music",
            common.name
        );
        add(
            &mut tracks,
            &name,
            make(&name),
            cue(usage, source, None, valence),
        )?;
    }
    if !playlists.iter().any(|(l, _)| l == "battlescape") {
        bail!("ufoai-common ufos/music.ufo: no battlescape playlist");
    }
    Ok(tracks.into_values().collect())
}

pub(super) fn zero_ad(ctx: &Ctx) -> Result<Vec<Track>> {
    let deb = &ctx.debs["0ad-data"];
    let zip = deb.path("usr/share/games/0ad/mods/public/public.zip");
    let x = unzip(
        &zip,
        &[
            "gui/common/music.js",
            "simulation/data/civs/",
            "audio/music/",
        ],
    )?;
    let z = rel(deb, &zip);
    let mut tracks = BTreeMap::new();
    let cue_of = |state: &str| match state {
        "peace" => Some((Some(false), None)),
        "battle" => Some((Some(true), None)),
        "victory" => Some((None, Some(true))),
        "defeat" => Some((None, Some(false))),
        _ => None,
    };
    let public = Zip {
        deb,
        archive: z.clone(),
        extracted: x.clone(),
    };
    let make = |f: &str| {
        let member = format!("audio/music/{f}");
        let (licensed_as, public) = (format!("binaries/data/mods/public/{member}"), &public);
        move || public.track("0ad", &member, &licensed_as, "its music data")
    };
    let js = x.join("gui/common/music.js");
    let defaults = zero_ad_defaults(&read_text(&js)?);
    if !defaults.iter().any(|(s, _)| s == "battle") {
        bail!("0ad-data gui/common/music.js: no DEFAULT_BATTLE_TRACKS");
    }
    for (state, files) in &defaults {
        let Some((a, v)) = cue_of(state) else {
            continue;
        };
        for f in files {
            let source = format!(
                "game:{} {z}:gui/common/music.js DEFAULT_{}_TRACKS",
                deb.name,
                state.to_ascii_uppercase()
            );
            add(&mut tracks, f, make(f), cue(state, source, a, v))?;
        }
    }
    let civs = files_in(&x.join("simulation/data/civs"), |p| {
        has_extension(p, "json")
    })
    .context("0ad-data: no simulation/data/civs")?;
    for civ in civs {
        let music = zero_ad_civ_music(&read_text(&civ)?)
            .with_context(|| format!("0ad-data {}", rel(deb, &civ)))?;
        let cname = civ.file_name().unwrap_or_default().to_string_lossy();
        for (f, state) in music {
            let Some((a, v)) = cue_of(&state) else {
                continue;
            };
            let source = format!(
                "game:{} {z}:simulation/data/civs/{cname} Music Type {state}",
                deb.name
            );
            add(&mut tracks, &f, make(&f), cue(&state, source, a, v))?;
        }
    }
    Ok(tracks.into_values().collect())
}

pub(super) fn wesnoth(ctx: &Ctx) -> Result<Vec<Track>> {
    let music = &ctx.debs["wesnoth-1.16-music"];
    let data = &ctx.debs["wesnoth-1.16-data"];
    let cfg = data.path("usr/share/games/wesnoth/1.16/data/game_config.cfg");
    let dir = music.path("usr/share/games/wesnoth/1.16/data/core/music");
    let text = read_text(&cfg)?;
    let mut tracks = BTreeMap::new();
    for (key, usage, valence) in [
        ("default_victory_music", "victory", true),
        ("default_defeat_music", "defeat", false),
    ] {
        for f in wml_list(&text, key) {
            let file = dir.join(&f);
            let source = format!("game:{} {} {key}", data.name, rel(data, &cfg));
            let c = cue(usage, source, None, Some(valence));
            let make = || {
                Track::extracted("wesnoth", music, &file, music.licence.clone())
                    .with_context(|| format!("{f} (named in game_config.cfg)"))
            };
            add(&mut tracks, &f, make, c)?;
        }
    }
    Ok(tracks.into_values().collect())
}

pub(super) fn singularity(ctx: &Ctx) -> Result<Vec<Track>> {
    let music = &ctx.debs["singularity-music"];
    let code = &ctx.debs["singularity"];
    let pkg = code.path("usr/lib/python3/dist-packages/singularity/code");
    // The game groups music by folder (mixer.load_music keys music_dict by the folder's
    // name) and plays folder "win" when the game is won, "lose" when it is lost.
    verify(&pkg.join("mixer.py"), code, "music_dict[tail]")?;
    verify(&pkg.join("effect.py"), code, "mixer.play_music(\"win\")")?;
    verify(
        &pkg.join("screens/map.py"),
        code,
        "mixer.play_music(\"lose\")",
    )?;
    let dir = music.path("usr/share/games/singularity/music");
    let mut out = Vec::new();
    for (sub, valence, source) in [
        (
            "win",
            true,
            "singularity/code/effect.py endgame play_music(\"win\")",
        ),
        (
            "lose",
            false,
            "singularity/code/screens/map.py lost_game play_music(\"lose\")",
        ),
    ] {
        let files = files_in(&dir.join(sub), |p| has_extension(p, "ogg"))
            .with_context(|| format!("singularity-music: no music/{sub}"))?;
        for file in files {
            out.push(Track {
                game: "singularity",
                package: music.name.clone(),
                track: rel(music, &file),
                licence: track_licence(music, ""),
                cues: vec![cue(
                    sub,
                    format!("game:{} {source}", code.name),
                    None,
                    Some(valence),
                )],
                file,
            });
        }
    }
    Ok(out)
}

pub(super) fn colobot(ctx: &Ctx) -> Result<Vec<Track>> {
    let sounds = &ctx.debs["colobot-common-sounds"];
    let common = &ctx.debs["colobot-common"];
    let other = common.path("usr/share/games/colobot/levels/other");
    let dir = sounds.path("usr/share/games/colobot/music");
    let levels = files_in(&other, |_| true).context("colobot-common: no levels/other")?;
    let mut tracks = BTreeMap::new();
    for level in levels {
        let name = level
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        // The scenes shown after a mission: levels/other/winNNN.txt (won), lostNNN.txt.
        let valence = if name.starts_with("win") {
            true
        } else if name.starts_with("lost") {
            false
        } else {
            continue;
        };
        let Some(f) = colobot_audio(&read_text(&level)?) else {
            continue;
        };
        let file = dir.join(&f);
        let usage = if valence { "win scene" } else { "lost scene" };
        let source = format!("game:{} levels/other/{name} Audio filename", common.name);
        let make = || {
            let licence = track_licence(sounds, &format!("music/{f}"));
            Track::extracted("colobot", sounds, &file, licence)
                .with_context(|| format!("music/{f} (named in {name})"))
        };
        let c = cue(usage, source, None, Some(valence));
        add(&mut tracks, &f, make, c)?;
    }
    // One cue per track and scene kind (music011 closes 13 win scenes).
    for t in tracks.values_mut() {
        let n = t.cues.len();
        t.cues
            .dedup_by(|a, b| a.usage == b.usage && a.valence == b.valence);
        if n > t.cues.len()
            && let Some(c) = t.cues.first_mut()
        {
            c.source.push_str(&format!(" (and {} more scenes)", n - 1));
        }
    }
    Ok(tracks.into_values().collect())
}

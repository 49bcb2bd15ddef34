//! `CORPORA.md` and `corpus.json`: every source with its version, licence, SHA-256, size
//! and minutes used; how each set's labels were made; the time of each stage. The game
//! music's section is written by [`super::games`].

use anyhow::Result;
use serde_json::{Value, json};

use super::cues::CUES;
use super::music_real::{self, WESNOTH_LABELS};
use super::packages::HELD_OUT;
use super::{CORPUS_VERSION, Ctx, games, rendering, speech_eng, speech_man};
use crate::io;

fn minutes(v: &Value, stage: &str, source: &str) -> f64 {
    v.get(stage)
        .and_then(|s| s.get("sources"))
        .and_then(|s| s.get(source))
        .and_then(|x| x.get(1))
        .and_then(Value::as_f64)
        .unwrap_or(0.0)
        / 60.0
}

/// `{"a": 1, "b": 2}` as "a 1, b 2"; `[1, 2, 3, 4]` as "Q1 1, Q2 2, Q3 3, Q4 4".
pub(super) fn counts_text(v: &Value) -> String {
    match v {
        Value::Object(m) => m
            .iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect::<Vec<_>>()
            .join(", "),
        Value::Array(a) => a
            .iter()
            .enumerate()
            .map(|(i, v)| format!("Q{} {v}", i + 1))
            .collect::<Vec<_>>()
            .join(", "),
        other => other.to_string(),
    }
}

/// Writes `CORPORA.md` and `corpus.json` into the output folder.
pub(super) fn write(ctx: &Ctx, total_secs: f64) -> Result<()> {
    let stats = serde_json::to_value(&ctx.stats)?;
    let mut md = String::new();
    intro(&mut md, ctx);
    speech(&mut md, &stats);
    music(&mut md, &stats);
    rendered_labels(&mut md);
    real_labels(&mut md, ctx, &stats);
    if stats.get(games::STAGE).is_some() {
        md.push_str(&games::report(ctx, &stats));
    }
    sources(&mut md, ctx, &stats)?;
    times(&mut md, ctx, total_secs);
    io::write_atomic(&ctx.out.join("CORPORA.md"), md.as_bytes())?;
    manifest(ctx, stats)
}

/// What the corpora stand in for, and the command that runs on them.
fn intro(md: &mut String, ctx: &Ctx) {
    let plan = &ctx.plan;
    md.push_str(&format!(
        "# Demo corpora ({})\n\nBuilt by `trainer corpus demo{}` (corpus format v{CORPUS_VERSION}). \
         Stand-ins for the paper's corpora (LibriSpeech, AISHELL-1, 4Q-emotion, CH-818), assembled \
         from openly licensed material in Debian and PyPI: no package ships hours of speech per \
         language or music labelled with emotion. naev-data and flare-game are not used anywhere \
         (kept aside for independent evaluation).\n\n",
        if plan.small { "small" } else { "full" },
        if plan.small { " --small" } else { "" }
    ));
    md.push_str(
        "```sh\ntrainer reproduce --speech-en speech/eng --speech-man speech/man \\\n    \
         --music-en music/western/annotations.csv --music-man music/chinese/annotations.csv --out runs\n```\n\n",
    );
}

/// The speech table: minutes per language and source, and how the speech was made.
fn speech(md: &mut String, stats: &Value) {
    let speech_total = |stage: &str| {
        stats
            .get(stage)
            .and_then(|s| s.get("sources"))
            .and_then(|s| s.as_object())
            .map_or(0.0, |m| {
                m.values()
                    .filter_map(|v| v.get(1).and_then(Value::as_f64))
                    .sum::<f64>()
            })
    };
    md.push_str("## Speech\n\n| language | folder | source | kind | files | minutes |\n|---|---|---|---|---|---|\n");
    for (stage, lang, folder) in [
        (speech_eng::STAGE, "English", speech_eng::DIR),
        (speech_man::STAGE, "Mandarin", speech_man::DIR),
    ] {
        if let Some(src) = stats
            .get(stage)
            .and_then(|s| s.get("sources"))
            .and_then(|s| s.as_object())
        {
            for (name, v) in src {
                let kind = if name.starts_with("festival") || name.starts_with("espeak") {
                    "text-to-speech"
                } else if name == "gcin-voice" {
                    "real syllables, concatenated"
                } else {
                    "real recordings"
                };
                md.push_str(&format!(
                    "| {lang} | {folder} | {name} | {kind} | {} | {:.1} |\n",
                    v.get(0).and_then(Value::as_u64).unwrap_or(0),
                    v.get(1).and_then(Value::as_f64).unwrap_or(0.0) / 60.0
                ));
            }
            md.push_str(&format!(
                "| {lang} | {folder} | **total** | | | **{:.1}** ({:.2} h) |\n",
                speech_total(stage) / 60.0,
                speech_total(stage) / 3600.0
            ));
        }
    }
    let real_en: f64 = speech_eng::REAL_SOURCES
        .iter()
        .map(|s| minutes(stats, speech_eng::STAGE, s))
        .sum();
    md.push_str(&format!(
        "\nAll speech is 16 kHz mono 16-bit WAV, peak-scaled to 0.9. English: {real_en:.1} min of \
         real recordings (pocketsphinx-testdata's LibriVox and command clips, Asterisk's prompts \
         read by one speaker at 8 kHz, codec2's test speakers, Fish Fillets' English dialogue, \
         several actors), the rest text-to-speech over fortune-mod's English fortunes (filtered \
         to plain sentences): festival's HTS voice cmu_us_slt_arctic_hts at speeds 0.8-1.25 and \
         pitch shifts of -2..+2.5 semitones, festival's diphone voice kal_diphone with \
         Duration_Stretch 0.8-1.3, espeak-ng en-us with seven voice variants at 125-205 words \
         per minute. Mandarin: gcin-voice's recordings of single syllables (two speakers, \
         files 3.ogg and 5.ogg, trimmed of silence) concatenated along real Chinese sentences \
         (fortunes-zh: Tang and Song poems and prose) converted to zhuyin by pypinyin, with \
         random gaps of 5-100 ms between syllables, pauses of 180-350 ms at commas and a speed \
         change of 0.93-1.08; then espeak-ng `cmn-latn-pinyin` (six voice variants, 110-190 \
         wpm) over the following sentences in tone-numbered pinyin (pypinyin TONE3; `-v cmn` \
         is broken in Debian's espeak-ng 1.51). gcin syllables missing from the recordings \
         were skipped ({} lookups).\n\n",
        stats[speech_man::STAGE]["gcin_missing_syllables"]
            .as_u64()
            .unwrap_or(0)
    ));
}

/// The music table: clips, balance and minutes per set.
fn music(md: &mut String, stats: &Value) {
    md.push_str("## Music\n\n| set | folder | stands in for | clips | per quadrant | melodies | minutes |\n|---|---|---|---|---|---|---|\n");
    for (set, like) in [
        ("western", "4Q-emotion (English)"),
        ("chinese", "CH-818 (Mandarin)"),
    ] {
        let s = &stats[rendering::STAGE][set];
        md.push_str(&format!(
            "| {set} | music/{set}/annotations.csv | {like} | {} | {} | {} | {:.1} |\n",
            s["clips"],
            s["per_quadrant"],
            s["melodies"],
            s["minutes"].as_f64().unwrap_or(0.0)
        ));
    }
    md.push_str(&format!(
        "| both | music/both.csv | the two sets together (the shipped models' training set) | {} | | | |\n",
        stats[rendering::BOTH_STAGE]["clips"]
    ));
    let r = &stats[music_real::STAGE];
    let sum = |v: &Value| {
        v.as_array()
            .map_or(0, |a| a.iter().filter_map(Value::as_u64).sum::<u64>())
    };
    md.push_str(&format!(
        "| real | music/real/annotations.csv | (evaluation on real music) | {} | {} | {} tracks | {:.1} |\n\n",
        sum(&r["defensible_per_quadrant"]),
        counts_text(&r["defensible_per_quadrant"]),
        WESNOTH_LABELS.iter().filter(|l| l.3).count(),
        r["defensible_minutes"].as_f64().unwrap_or(0.0)
    ));
    md.push_str(&format!(
        "Melody sources (clips per collection): western {}; chinese {}.\n\n",
        counts_text(&stats[rendering::STAGE]["western"]["collections"]),
        counts_text(&stats[rendering::STAGE]["chinese"]["collections"])
    ));
}

/// How the rendered sets were labelled: the cues of each quadrant.
fn rendered_labels(md: &mut String) {
    md.push_str(
        "### How the rendered sets were labelled\n\n\
         The label is the design: each clip is a real melody (music21's corpus: Bach's chorales \
         in four voices and European folk tunes of the Essen collection for `western`; Han \
         Chinese folk tunes of the Essen collection, han1/han2, for `chinese`) rendered with the \
         cues that listeners associate with its quadrant in the music-psychology literature \
         (Juslin & Laukka 2003, *Psychological Bulletin* 129(5); Gabrielsson & Lindström 2010, \
         in *Handbook of Music and Emotion*; Eerola & Vuoskoski 2013, *Music Perception* 30(3)):\n\n\
         | quadrant | tempo (bpm) | mode | loudness (MIDI velocity) | articulation (sounding fraction) | register (mean MIDI pitch of the tune) | timbre, western | timbre, chinese | other |\n\
         |---|---|---|---|---|---|---|---|---|\n",
    );
    for (q, c) in CUES.iter().enumerate() {
        let names = |p: &[(i32, &str)]| {
            p.iter()
                .map(|x| format!("{} ({})", x.1, x.0))
                .collect::<Vec<_>>()
                .join(", ")
        };
        md.push_str(&format!(
            "| Q{} | {:.0}-{:.0} | {} | {}-{}, accents +{} | {:.2}-{:.2} | {:.0}-{:.0} | {} | {} | reverb send {}{} |\n",
            q + 1,
            c.tempo.0,
            c.tempo.1,
            if c.major { "major" } else { "minor" },
            c.velocity.0,
            c.velocity.1,
            c.accent,
            c.articulation.0,
            c.articulation.1,
            c.register.0,
            c.register.1,
            names(c.western),
            names(c.chinese),
            c.reverb,
            if c.dissonance { "; dissonance: minor seconds and tritones against the tune, tritone in the drone" } else { "" }
        ));
    }
    md.push_str(
        "\nThe tune's key is found by music21 (Krumhansl-Schmuckler); mode changes lower the 3rd, \
         6th and 7th degrees (major to natural minor) or raise them (minor to major), which keeps \
         pentatonic tunes pentatonic in shape. The whole piece is transposed so that its tune's \
         mean pitch lands in the quadrant's register. Single-line tunes get a drone (tonic and \
         fifth, or a drum for Q2) on each bar; chorales keep their four voices. Each clip uses a \
         different melody where the corpus has enough (melodies are shuffled and dealt to the \
         quadrants in turn) and is looped to 30 s, rendered with rustysynth through \
         FluidR3_GM (fluid-soundfont-gm) at 22.05 kHz mono with a fixed gain (so loudness stays \
         a cue) and a 0.5-s fade-out. GM programs are 0-based. `clips.csv` beside each \
         `annotations.csv` lists every clip's melody, source, tempo, mode, transposition, \
         velocity, articulation and instrument. These labels are by construction: they measure \
         whether a model hears the cues, not what listeners felt.\n\n",
    );
}

/// How the real music (Wesnoth's titles) was labelled.
fn real_labels(md: &mut String, ctx: &Ctx, stats: &Value) {
    let r = &stats[music_real::STAGE];
    md.push_str(&format!(
        "### How the real music was labelled\n\n\
         Wesnoth's soundtrack (wesnoth-1.16-music) cut into 30-s clips, resampled to 22.05 kHz mono. The quadrant comes from the track \
         title only; every row of `music/real/review.csv` names its source (`LabelSource`) and \
         whether it is defensible. **Defensible** (used for training and reporting, in \
         `music/real/annotations.csv`): titles that name an emotion or a situation with a \
         conventional scoring: victory (Q1); battle, frantic, vengeful, suspense (Q2); sad, \
         defeat (Q3); love theme (Q4). Q4 and Q1 rest on one and two tracks, so the set is \
         unbalanced ({}); clips of one track are not independent. At most {} clips per track, \
         spread evenly over it; jingles shorter than 30 s (victory, defeat: 5-21 s) are one \
         clip of their own length. **Not defensible** \
         (in review.csv only, never for training or reporting): guesses from indirect titles \
         (heroes, minstrels, siege, revenge, casualties, sanctuary, silence...). Tracks whose \
         titles state no mood are not used: {}. Other Debian game-music packages were examined \
         for title labels and not used here: singularity-music and warzone2100-music title \
         their tracks without a mood (\"Enemy Unknown\", \"Nuclear Heartbeat\", \"Track \
         3\"), and warzone2100's are Opus, which the trainer does not decode. Labels read \
         from the games' data instead of titles are in music/games (below).\n\n",
        counts_text(&r["defensible_per_quadrant"]),
        ctx.plan.real_clips_per_track,
        r["unlabelled_tracks"]
            .as_array()
            .map(|a| a.iter().filter_map(|x| x.as_str()).collect::<Vec<_>>().join(", "))
            .unwrap_or_default()
    ));
}

/// The sources: Debian packages (their copyright files copied to `licences/`), tools and
/// wheels.
fn sources(md: &mut String, ctx: &Ctx, stats: &Value) -> Result<()> {
    let r = &stats[music_real::STAGE];
    let used_min = |name: &str| -> String {
        let m = match name {
            "gcin-voice" => minutes(stats, speech_man::STAGE, name),
            "fluid-soundfont-gm" => {
                stats[rendering::STAGE]["western"]["minutes"]
                    .as_f64()
                    .unwrap_or(0.0)
                    + stats[rendering::STAGE]["chinese"]["minutes"]
                        .as_f64()
                        .unwrap_or(0.0)
            }
            music_real::PACKAGE => {
                r["minutes"].as_f64().unwrap_or(0.0)
                    + games::package_minutes(stats, name).unwrap_or(0.0)
            }
            _ if games::package_minutes(stats, name).is_some() => {
                games::package_minutes(stats, name).unwrap_or(0.0)
            }
            "fortunes" | "fortunes-zh" => return "text".into(),
            "ufoai-common" | "singularity" | "colobot-common" | "wesnoth-1.16-data" => {
                return "game data".into();
            }
            _ => minutes(stats, speech_eng::STAGE, name),
        };
        format!("{m:.1}")
    };
    md.push_str(
        "## Sources\n\nDebian packages (bookworm) fetched with `apt-get download`, SHA-256 checked \
         against the apt index (whose Release file apt checks against Debian's keys), extracted \
         with `dpkg-deb -x`; licences from each package's `usr/share/doc/PKG/copyright`.\n\n\
         | package | version | licence | .deb size | minutes used | SHA-256 |\n|---|---|---|---|---|---|\n",
    );
    for d in ctx.debs.values() {
        md.push_str(&format!(
            "| {} | {} | {} | {:.1} MB | {} | `{}` |\n",
            d.name,
            d.version,
            d.licence,
            d.size as f64 / 1e6,
            used_min(&d.name),
            d.sha256
        ));
    }
    let lic_dir = ctx.out.join("licences");
    std::fs::create_dir_all(&lic_dir)?;
    for d in ctx.debs.values() {
        let src = d.copyright();
        if src.is_file() {
            std::fs::copy(&src, lic_dir.join(format!("{}.copyright", d.name)))?;
        }
    }
    md.push_str(
        "\nEach package's copyright file is copied to `licences/PKG.copyright`; licences \
         shown for free-text copyright files are the ones those files name.\n",
    );
    md.push_str("\nTools installed with apt-get (text-to-speech; minutes in the speech table):\n\n| package | version | licence | SHA-256 (apt index) |\n|---|---|---|---|\n");
    for t in &ctx.tools {
        md.push_str(&format!(
            "| {} | {} | {} | `{}` |\n",
            t.name, t.version, t.licence, t.sha256
        ));
    }
    md.push_str("\nPyPI wheels (pinned SHA-256), in a virtual environment in the download cache:\n\n| package | version | licence | used for | SHA-256 |\n|---|---|---|---|---|\n");
    for w in &ctx.wheels {
        let used = if w.name == "music21" {
            "the melodies (its corpus) and their keys"
        } else {
            "Chinese text to pinyin and zhuyin"
        };
        md.push_str(&format!(
            "| {} | {} | {} | {used} | `{}` |\n",
            w.name, w.version, w.licence, w.sha256
        ));
    }
    md.push_str("\nrustysynth (crates.io, MIT) renders the soundfont.\n\n");
    Ok(())
}

/// The time of each stage.
fn times(md: &mut String, ctx: &Ctx, total_secs: f64) {
    md.push_str(&format!(
        "## Build time\n\nOn {} cores. \"built\" is the time the stage took when it was built; a \
         stage whose inputs did not change is skipped on the next run.\n\n| stage | this run (s) | built (s) |\n|---|---|---|\n",
        rayon::current_num_threads()
    ));
    for (name, now, built, skipped) in &ctx.times {
        md.push_str(&format!(
            "| {name} | {} | {built:.1} |\n",
            if *skipped {
                "skipped".to_string()
            } else {
                format!("{now:.1}")
            }
        ));
    }
    md.push_str(&format!("| **total** | {total_secs:.1} | |\n"));
}

/// `corpus.json`: the sources, the statistics and the times, for programs.
fn manifest(ctx: &Ctx, stats: Value) -> Result<()> {
    let plan = &ctx.plan;
    let manifest = json!({
        "version": CORPUS_VERSION,
        "small": plan.small,
        "debs": ctx.debs.values().collect::<Vec<_>>(),
        "tools": ctx.tools,
        "wheels": ctx.wheels,
        "stats": stats,
        "times": ctx.times.iter().map(|t| json!({"stage": t.0, "seconds": t.1, "built_seconds": t.2, "skipped": t.3})).collect::<Vec<_>>(),
        "held_out": HELD_OUT,
    });
    io::write_atomic(
        &ctx.out.join("corpus.json"),
        serde_json::to_string_pretty(&manifest)?.as_bytes(),
    )?;
    Ok(())
}

//! A rendered clip's notes: a real melody transformed by its quadrant's cues (tempo, mode,
//! register, loudness, articulation, dissonance), with a drone under single-line tunes,
//! looped to fill the clip.

use rand::Rng;
use rand::rngs::StdRng;
use serde::Serialize;

use super::CLIP_SECONDS;
use super::cues::{CUES, Cues, Instrument};
use super::melodies::Piece;

/// One note event: time in seconds, channel, key, velocity (0 = off).
#[derive(Debug, Clone, Copy)]
pub(super) struct Ev {
    pub t: f64,
    pub ch: i32,
    pub key: i32,
    pub vel: i32,
}

/// The channel of the drone under single-line tunes (channel 9 is GM's drum kit).
pub(super) const DRONE_CHANNEL: i32 = 10;

/// What a clip was made of (written to clips.csv).
#[derive(Debug, Clone, Serialize)]
pub(super) struct ClipInfo {
    pub file: String,
    pub quadrant: usize,
    pub melody: String,
    pub collection: String,
    pub source: String,
    pub title: String,
    pub tempo_bpm: f64,
    pub mode: &'static str,
    pub transpose: i32,
    pub velocity: i32,
    pub articulation: f64,
    pub program: i32,
    pub instrument: &'static str,
    pub accompaniment: String,
    pub reverb: i32,
    pub dissonance: bool,
}

/// What is drawn for a clip within its quadrant's ranges.
struct Draw {
    bpm: f64,
    /// Seconds per quarter note.
    spq: f64,
    /// The tune's target mean pitch, and the transposition that puts it there.
    target: f64,
    transpose: i32,
    velocity: i32,
    articulation: f64,
    instrument: Instrument,
    accompaniment: Instrument,
}

impl Draw {
    fn new(piece: &Piece, cues: &Cues, chinese: bool, rng: &mut StdRng) -> Self {
        let bpm = rng.random_range(cues.tempo.0..cues.tempo.1);
        let top = &piece.parts[0];
        let n_top: usize = top.iter().map(|n| n.2.len()).sum();
        let mean_top = top
            .iter()
            .flat_map(|n| n.2.iter())
            .map(|&p| f64::from(p))
            .sum::<f64>()
            / n_top.max(1) as f64;
        let target = rng.random_range(cues.register.0..cues.register.1);
        let velocity = rng.random_range(cues.velocity.0..=cues.velocity.1);
        let articulation = rng.random_range(cues.articulation.0..cues.articulation.1);
        let (pool, accompaniment) = cues.instruments(chinese);
        let instrument = pool[rng.random_range(0..pool.len())];
        Draw {
            bpm,
            spq: 60.0 / bpm,
            target,
            transpose: (target - mean_top).round() as i32,
            velocity,
            articulation,
            instrument,
            accompaniment,
        }
    }
}

/// The note events of a clip: the melody transformed by the quadrant's cues, looped to
/// fill the clip.
pub(super) fn arrange(
    piece: &Piece,
    q: usize,
    chinese: bool,
    rng: &mut StdRng,
) -> (Vec<Ev>, ClipInfo) {
    let cues = &CUES[q];
    let draw = Draw::new(piece, cues, chinese, rng);
    let bar = piece.bar_ql.max(1.0);
    // Loop length: whole bars.
    let loop_ql = (piece.length_ql / bar).ceil() * bar;
    let loops = ((CLIP_SECONDS / draw.spq) / loop_ql).ceil().max(1.0) as usize;
    let monophonic = piece.parts.len() == 1;
    let mut evs = Vec::new();
    for l in 0..loops {
        let off = l as f64 * loop_ql;
        melody(&mut evs, piece, cues, &draw, off, rng);
        if monophonic {
            drone(&mut evs, piece.tonic, q, cues, &draw, off, loop_ql, bar);
        }
    }
    // Off before on at the same instant.
    evs.sort_by(|a, b| a.t.total_cmp(&b.t).then((a.vel > 0).cmp(&(b.vel > 0))));
    let accompaniment = if monophonic {
        format!("{} ({})", draw.accompaniment.1, draw.accompaniment.0)
    } else {
        "none (the chorale's own voices)".into()
    };
    let info = ClipInfo {
        file: String::new(),
        quadrant: q + 1,
        melody: piece.id.clone(),
        collection: piece.collection.clone(),
        source: piece.source.clone(),
        title: piece.title.clone(),
        tempo_bpm: (draw.bpm * 10.0).round() / 10.0,
        mode: if cues.major { "major" } else { "minor" },
        transpose: draw.transpose,
        velocity: draw.velocity,
        articulation: (draw.articulation * 100.0).round() / 100.0,
        program: draw.instrument.0,
        instrument: draw.instrument.1,
        accompaniment,
        reverb: cues.reverb,
        dissonance: cues.dissonance,
    };
    (evs, info)
}

/// A note from `t` for `len` seconds, cut at the clip's end.
fn note(evs: &mut Vec<Ev>, t: f64, len: f64, ch: i32, key: i32, vel: i32) {
    if t >= CLIP_SECONDS {
        return;
    }
    evs.push(Ev {
        t,
        ch,
        key,
        vel: vel.clamp(1, 127),
    });
    evs.push(Ev {
        t: (t + len).min(CLIP_SECONDS),
        ch,
        key,
        vel: 0,
    });
}

/// One pass of the piece from `off` quarter notes: every part (up to 8, one channel each)
/// in the quadrant's mode, register, loudness and articulation, accents on the beats, and
/// in a dissonant quadrant minor seconds or tritones against the tune.
fn melody(evs: &mut Vec<Ev>, piece: &Piece, cues: &Cues, draw: &Draw, off: f64, rng: &mut StdRng) {
    let bar = piece.bar_ql.max(1.0);
    let from_major = piece.mode == "major";
    for (pi, part) in piece.parts.iter().enumerate().take(8) {
        let ch = pi as i32; // channels 0..7: the parts, one program
        for (onset, dur, pitches) in part {
            let t = (off + onset) * draw.spq;
            let len = dur * draw.spq * draw.articulation;
            let beat_pos = onset.rem_euclid(bar);
            let accent = if beat_pos < 1e-6 {
                cues.accent
            } else if beat_pos.fract() < 1e-6 {
                cues.accent / 2
            } else {
                0
            };
            let jitter = rng.random_range(-4..=4);
            // Inner voices a little softer than the tune.
            let vel = draw.velocity + accent + jitter - if pi == 0 { 0 } else { 8 };
            for &p in pitches {
                let key = clamp_pitch(
                    change_mode(p, piece.tonic, from_major, cues.major) + draw.transpose,
                    28,
                    100,
                );
                note(evs, t, len, ch, key, vel);
                // Dissonance: a minor second or tritone against the tune on beats.
                if cues.dissonance && pi == 0 && beat_pos.fract() < 1e-6 && rng.random_bool(0.6) {
                    let iv = if rng.random_bool(0.5) { 1 } else { 6 };
                    note(evs, t, len, 8, clamp_pitch(key - iv, 28, 100), vel - 10);
                }
            }
        }
    }
}

/// Single-line tunes get a drone on the tonic and fifth at every bar (the tonic of the
/// transformed key, two octaves under the tune), or a drum hit on the tonic; a dissonant
/// quadrant adds the tritone.
#[allow(clippy::too_many_arguments)]
fn drone(
    evs: &mut Vec<Ev>,
    tonic: i32,
    q: usize,
    cues: &Cues,
    draw: &Draw,
    off: f64,
    loop_ql: f64,
    bar: f64,
) {
    let root = clamp_pitch(tonic + draw.transpose, 24, 60);
    let root = if (root as f64) > draw.target - 18.0 {
        root - 12
    } else {
        root
    };
    let drum = matches!(draw.accompaniment.0, 116 | 47);
    let len = if q < 2 {
        bar * draw.spq * 0.5
    } else {
        bar * draw.spq
    };
    let v = draw.velocity - 12;
    let ch = DRONE_CHANNEL;
    let mut bar_t = 0.0;
    while bar_t < loop_ql - 1e-6 {
        let t = (off + bar_t) * draw.spq;
        if drum {
            // Drum hits on the tonic, loud.
            note(evs, t, len, ch, clamp_pitch(root, 36, 55), v + 10);
        } else {
            note(evs, t, len, ch, clamp_pitch(root, 28, 80), v);
            note(evs, t, len, ch, clamp_pitch(root + 7, 28, 80), v - 6);
            if cues.dissonance {
                note(evs, t, len, ch, clamp_pitch(root + 6, 28, 80), v - 4);
            }
        }
        bar_t += bar;
    }
}

/// Moves a pitch between major and minor: the 3rd, 6th and 7th degrees of the tonic are
/// lowered (major -> natural minor) or raised (minor -> major).
fn change_mode(pitch: i32, tonic: i32, from_major: bool, to_major: bool) -> i32 {
    let deg = (pitch - tonic).rem_euclid(12);
    match (from_major, to_major) {
        (true, false) if matches!(deg, 4 | 9 | 11) => pitch - 1,
        (false, true) if matches!(deg, 3 | 8 | 10) => pitch + 1,
        _ => pitch,
    }
}

fn clamp_pitch(mut p: i32, lo: i32, hi: i32) -> i32 {
    while p < lo {
        p += 12;
    }
    while p > hi {
        p -= 12;
    }
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mode_change_moves_third_sixth_seventh() {
        // C major -> C minor: E, A, B lowered; C, D, F, G kept.
        let c_major = [60, 62, 64, 65, 67, 69, 71];
        let minor: Vec<i32> = c_major
            .iter()
            .map(|&p| change_mode(p, 0, true, false))
            .collect();
        assert_eq!(minor, [60, 62, 63, 65, 67, 68, 70]);
        let back: Vec<i32> = minor
            .iter()
            .map(|&p| change_mode(p, 0, false, true))
            .collect();
        assert_eq!(back, c_major);
    }
}

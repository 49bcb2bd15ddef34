//! The quadrants: their arousal and valence signs as the annotation CSVs write them, and
//! the emotional cues the rendered music sets give each quadrant (Juslin & Laukka 2003;
//! Gabrielsson & Lindström 2010; Eerola & Vuoskoski 2013).

/// A sign as the annotation CSVs write it.
pub(super) fn sign(positive: bool) -> &'static str {
    if positive { "positive" } else { "negative" }
}

/// The quadrant (1-4) of an arousal and a valence sign.
pub(super) fn quadrant(arousal: bool, valence: bool) -> usize {
    match (arousal, valence) {
        (true, true) => 1,
        (true, false) => 2,
        (false, false) => 3,
        (false, true) => 4,
    }
}

/// The (arousal, valence) signs of quadrant `q` (0-based).
pub(super) fn quadrant_signs(q: usize) -> (&'static str, &'static str) {
    (sign(q < 2), sign(q == 0 || q == 3))
}

/// A General MIDI program (0-based) and the instrument it stands for.
pub(super) type Instrument = (i32, &'static str);

/// The cues of a quadrant.
pub(super) struct Cues {
    pub tempo: (f64, f64),
    pub major: bool,
    pub velocity: (i32, i32),
    pub accent: i32,
    /// Sounding fraction of each note's written length.
    pub articulation: (f64, f64),
    /// Mean MIDI pitch of the top voice.
    pub register: (f64, f64),
    pub reverb: i32,
    pub dissonance: bool,
    /// GM programs per set.
    pub western: &'static [Instrument],
    pub chinese: &'static [Instrument],
    /// Accompaniment of single-line tunes.
    pub accomp_western: Instrument,
    pub accomp_chinese: Instrument,
}

impl Cues {
    /// The instruments the melody may be played on, and the accompaniment of single-line
    /// tunes, for a set.
    pub fn instruments(&self, chinese: bool) -> (&'static [Instrument], Instrument) {
        if chinese {
            (self.chinese, self.accomp_chinese)
        } else {
            (self.western, self.accomp_western)
        }
    }
}

// A table, one quadrant a paragraph: kept as written.
#[rustfmt::skip]
pub(super) const CUES: [Cues; 4] = [
    Cues { // Q1: happy / excited.
        tempo: (132.0, 168.0), major: true, velocity: (96, 112), accent: 12,
        articulation: (0.35, 0.55), register: (74.0, 82.0), reverb: 25, dissonance: false,
        western: &[(1, "bright piano"), (13, "xylophone"), (12, "marimba"), (72, "piccolo"),
                   (45, "pizzicato strings"), (9, "glockenspiel")],
        chinese: &[(107, "koto (guzheng-like)"), (15, "dulcimer (yangqin-like)"),
                   (106, "shamisen (sanxian-like)"), (72, "piccolo (bangdi-like)")],
        accomp_western: (0, "piano"), accomp_chinese: (15, "dulcimer"),
    },
    Cues { // Q2: tense / angry.
        tempo: (132.0, 176.0), major: false, velocity: (106, 120), accent: 7,
        articulation: (0.7, 0.9), register: (50.0, 60.0), reverb: 15, dissonance: true,
        western: &[(30, "distortion guitar"), (29, "overdriven guitar"), (61, "brass section"),
                   (57, "trombone"), (62, "synth brass")],
        chinese: &[(111, "shanai (suona-like)"), (110, "fiddle (jinghu-like)"), (106, "shamisen"),
                   (109, "bag pipe")],
        accomp_western: (47, "timpani"), accomp_chinese: (116, "taiko drum"),
    },
    Cues { // Q3: sad / depressed.
        tempo: (44.0, 62.0), major: false, velocity: (34, 52), accent: 0,
        articulation: (0.95, 1.0), register: (46.0, 56.0), reverb: 70, dissonance: false,
        western: &[(42, "cello"), (70, "bassoon"), (60, "french horn"), (71, "clarinet")],
        chinese: &[(77, "shakuhachi (xiao-like)"),
                   (110, "fiddle (erhu-like)"), (42, "cello (erhu-like)"), (75, "pan flute")],
        accomp_western: (48, "string ensemble"), accomp_chinese: (48, "string ensemble"),
    },
    Cues { // Q4: calm / tender.
        tempo: (56.0, 76.0), major: true, velocity: (42, 62), accent: 0,
        articulation: (0.95, 1.0), register: (66.0, 76.0), reverb: 80, dissonance: false,
        western: &[(48, "string ensemble"), (73, "flute"), (24, "nylon guitar"), (46, "harp"),
                   (89, "warm pad"), (0, "piano")],
        chinese: &[(75, "pan flute"), (73, "flute (dizi-like)"), (107, "koto (guzheng-like)"),
                   (46, "harp (guzheng-like)")],
        accomp_western: (46, "harp"), accomp_chinese: (46, "harp"),
    },
];

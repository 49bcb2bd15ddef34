// Q1..Q4: their names, words and signs as Rust says them (mer's Quadrant, through the
// worker's `quadrants`), and the page's colour for each.
const COLORS = ['#f0a030', '#e0533d', '#4a72c4', '#3aa876'];

// [{ name, words, sign, color }], filled by loadQuadrants (empty until then).
export const QUADS = [];

export async function loadQuadrants(engine) {
  const words = await engine.call('quadrants');
  QUADS.splice(0, QUADS.length, ...words.map((q, i) => ({ ...q, color: COLORS[i] })));
}

// The quadrant called `name` ("Q1".."Q4").
export const quad = (name) => QUADS.find((q) => q.name === name) || QUADS[0];

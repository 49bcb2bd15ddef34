// The microphone tap of the page's live listening (app/live.js): an
// AudioWorklet that hands the main thread the mono mix of its input, about 4096 samples at
// a time, at the audio context's own rate. The samples go nowhere else.
class MerTap extends AudioWorkletProcessor {
  constructor() {
    super();
    this.buffer = new Float32Array(4096);
    this.filled = 0;
  }

  process(inputs) {
    const channels = inputs[0];
    if (channels && channels.length) {
      const n = channels[0].length;
      for (let i = 0; i < n; i++) {
        let sum = 0;
        for (const c of channels) sum += c[i];
        this.buffer[this.filled++] = sum / channels.length;
        if (this.filled === this.buffer.length) {
          this.port.postMessage(this.buffer, [this.buffer.buffer]);
          this.buffer = new Float32Array(4096);
          this.filled = 0;
        }
      }
    }
    return true;
  }
}

registerProcessor('mer-tap', MerTap);

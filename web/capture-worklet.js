// Microphone capture: low-pass (anti-alias) at the context rate, resample to the
// target rate, post 20 ms frames of 16-bit PCM to the page.
const TAPS_PER_STEP = 16; // filter length in output periods: sharper edge, more CPU

class CaptureProcessor extends AudioWorkletProcessor {
  constructor(options) {
    super();
    const target = (options.processorOptions && options.processorOptions.targetRate) || 16000;
    this.step = sampleRate / target; // input samples per output sample
    this.frameLen = Math.round(target * 0.02);
    this.kernel = lowpass(Math.min(0.42 * target, 0.42 * sampleRate) / sampleRate, 2 * Math.ceil(TAPS_PER_STEP * Math.max(1, this.step)) + 1);
    let size = 1;
    while (size < this.kernel.length + 4) size *= 2;
    this.hist = new Float32Array(size);
    this.mask = size - 1;
    this.n = 0; // input samples received
    this.t = 0; // input position of the next output sample
    this.frame = new Int16Array(this.frameLen);
    this.k = 0;
    this.energy = 0;
  }

  fir(m) {
    const h = this.kernel;
    const x = this.hist;
    let acc = 0;
    for (let j = 0; j < h.length; j++) acc += h[j] * x[(m - j) & this.mask];
    return acc;
  }

  process(inputs, outputs) {
    const input = inputs[0];
    if (!input || input.length === 0) return true;
    const len = input[0].length;
    for (let i = 0; i < len; i++) {
      let s = 0;
      for (let c = 0; c < input.length; c++) s += input[c][i];
      this.hist[this.n & this.mask] = s / input.length;
      this.n++;
      while (Math.floor(this.t) + 1 < this.n) {
        const m = Math.floor(this.t);
        const f = this.t - m;
        let v = this.fir(m);
        if (f > 0) v += f * (this.fir(m + 1) - v);
        this.t += this.step;
        v = Math.max(-1, Math.min(1, v));
        this.energy += v * v;
        this.frame[this.k++] = v < 0 ? v * 32768 : v * 32767;
        if (this.k === this.frameLen) this.flush();
      }
    }
    return true;
  }

  flush() {
    const pcm = this.frame;
    const rms = Math.sqrt(this.energy / pcm.length);
    this.port.postMessage({ pcm: pcm.buffer, rms }, [pcm.buffer]);
    this.frame = new Int16Array(this.frameLen);
    this.k = 0;
    this.energy = 0;
  }
}

// Blackman-windowed sinc, `cutoff` in cycles per sample, unity gain at DC.
function lowpass(cutoff, n) {
  const h = new Float32Array(n);
  const mid = (n - 1) / 2;
  let sum = 0;
  for (let i = 0; i < n; i++) {
    const x = i - mid;
    const sinc = x === 0 ? 2 * cutoff : Math.sin(2 * Math.PI * cutoff * x) / (Math.PI * x);
    const w = 0.42 - 0.5 * Math.cos((2 * Math.PI * i) / (n - 1)) + 0.08 * Math.cos((4 * Math.PI * i) / (n - 1));
    h[i] = sinc * w;
    sum += h[i];
  }
  for (let i = 0; i < n; i++) h[i] /= sum;
  return h;
}

registerProcessor("capture", CaptureProcessor);

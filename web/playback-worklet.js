// Reply playback: a queue of turn-tagged chunks, ~60 ms pre-roll, instant clear.
// Posts "started" when a turn's first sample plays, "progress" every ~100 ms,
// "cleared" when a clear dropped queued audio.
class PlaybackProcessor extends AudioWorkletProcessor {
  constructor(options) {
    super();
    const o = options.processorOptions || {};
    this.preroll = Math.round((sampleRate * (o.prerollMs || 60)) / 1000);
    this.maxWait = Math.round(sampleRate * 0.12); // a turn shorter than the pre-roll still plays
    this.queue = []; // {turn, data: Float32Array, off}
    this.queued = 0;
    this.playing = false;
    this.waited = 0;
    this.cleared = new Set(); // turns whose audio is dropped until a resume
    this.turn = 0;
    this.played = 0; // samples of this.turn played
    this.sinceReport = 0;
    this.port.onmessage = (e) => this.onMessage(e.data);
  }

  onMessage(m) {
    if (m.type === "audio") {
      if (this.cleared.has(m.turn)) return; // late audio of a cleared turn
      this.queue.push({ turn: m.turn, data: m.samples, off: 0 });
      this.queued += m.samples.length;
    } else if (m.type === "clear") {
      this.cleared.add(m.turn);
      const before = this.queued;
      this.queue = this.queue.filter((c) => !this.cleared.has(c.turn));
      this.queued = this.queue.reduce((n, c) => n + c.data.length - c.off, 0);
      if (this.queued === 0) this.playing = false;
      this.report();
      this.port.postMessage({ type: "cleared", turn: m.turn, dropped_s: (before - this.queued) / sampleRate });
    } else if (m.type === "resume") {
      this.cleared.delete(m.turn);
    }
  }

  report() {
    if (this.turn) this.port.postMessage({ type: "progress", turn: this.turn, heard_s: this.played / sampleRate });
    this.sinceReport = 0;
  }

  process(inputs, outputs) {
    const out = outputs[0][0];
    out.fill(0);
    if (!this.playing) {
      if (this.queued === 0) return true;
      this.waited += out.length;
      if (this.queued < this.preroll && this.waited < this.maxWait) return true;
      this.playing = true;
      this.waited = 0;
    }
    let i = 0;
    while (i < out.length && this.queue.length) {
      const c = this.queue[0];
      if (c.turn !== this.turn) {
        this.report();
        this.turn = c.turn;
        this.played = 0;
        this.port.postMessage({ type: "started", turn: c.turn, at: currentTime + i / sampleRate });
      }
      const n = Math.min(out.length - i, c.data.length - c.off);
      out.set(c.data.subarray(c.off, c.off + n), i);
      c.off += n;
      i += n;
      this.played += n;
      this.queued -= n;
      if (c.off >= c.data.length) this.queue.shift();
    }
    if (i < out.length) {
      this.playing = false; // ran dry: pre-roll again before resuming
      this.report();
    }
    for (let ch = 1; ch < outputs[0].length; ch++) outputs[0][ch].set(out);
    this.sinceReport += out.length;
    if (this.playing && this.sinceReport >= sampleRate / 10) this.report();
    return true;
  }
}

registerProcessor("playback", PlaybackProcessor);

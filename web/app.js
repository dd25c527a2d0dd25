// The talking page: microphone -> capture worklet -> websocket -> server session;
// server audio -> playback worklet; transcript, agent words as heard, latency.
// Protocol: docs/protocol.md. window.voiceAgent exposes the page's records.
"use strict";

const PROTOCOL = 1;
const INPUT_RATE = 16000;
const PREROLL_MS = 60;
// For the page's mouth-to-ear figure: speech ends with the last frame within 35 dB of the
// recent peak (the benchmark's rule), ignoring anything below -55 dBFS.
const WITHIN_DB = 35;
const FLOOR_DBFS = -55;
const $ = (id) => document.getElementById(id);

const va = (window.voiceAgent = {
  events: [], // {t, ...server event}
  playback: [], // {t, ...worklet message}
  capture: [], // {t, rms} per 20 ms frame sent
  turns: {}, // turn -> {firstAudioAt, startedAt, latency, mouthToEarMs, clauses, marks}
  running: false,
});
let ws = null;
let ctx = null;
let stream = null;
let playNode = null;
let capNode = null;
let outRate = 0;
let ready = false;
let lastLoudAt = null;
let peakDb = -120;
const cleared = new Set(); // turns cleared by the server (until it resumes them)
let partialLi = null;

function turnRec(turn) {
  if (!va.turns[turn]) va.turns[turn] = { clauses: [], received: 0, heard: 0, li: null };
  return va.turns[turn];
}

function setConn(text, state) {
  $("conn").textContent = text;
  $("conn").dataset.state = state || text;
}

function showError(text) {
  $("error").textContent = text;
  $("error").hidden = !text;
}

function micProblem(err) {
  const name = err && err.name;
  if (name === "NotAllowedError" || name === "SecurityError")
    return "Microphone permission was refused. Allow it for this site (the icon left of the address bar) and try again.";
  if (name === "NotFoundError" || name === "OverconstrainedError")
    return "No microphone was found. Plug one in or enable it in the system settings.";
  if (name === "NotReadableError" || name === "AbortError")
    return "The microphone is busy or blocked by the system (another app may be using it).";
  return `Could not open the microphone: ${err && err.message ? err.message : err}`;
}

async function start() {
  showError("");
  if (!window.isSecureContext || !navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
    showError("Browsers allow the microphone only on https:// pages or on localhost. Open this page through HTTPS " +
      "(see docs/browser.md) or on the machine running the server.");
    return;
  }
  setBusy(true);
  try {
    stream = await navigator.mediaDevices.getUserMedia({
      audio: { echoCancellation: true, noiseSuppression: true, autoGainControl: true, channelCount: 1 },
    });
  } catch (err) {
    showError(micProblem(err));
    setBusy(false);
    return;
  }
  try {
    ctx = new AudioContext({ latencyHint: "interactive" });
    await ctx.audioWorklet.addModule("capture-worklet.js");
    await ctx.audioWorklet.addModule("playback-worklet.js");
    await ctx.resume();
    playNode = new AudioWorkletNode(ctx, "playback", { outputChannelCount: [1], processorOptions: { prerollMs: PREROLL_MS } });
    playNode.port.onmessage = (e) => onPlayback(e.data);
    playNode.connect(ctx.destination);
    capNode = new AudioWorkletNode(ctx, "capture", { processorOptions: { targetRate: INPUT_RATE } });
    capNode.port.onmessage = (e) => onCapture(e.data);
    ctx.createMediaStreamSource(stream).connect(capNode);
    capNode.connect(ctx.destination); // keeps the node pulled; it outputs silence
  } catch (err) {
    showError(`Audio setup failed: ${err.message || err}`);
    stop();
    return;
  }
  connect();
}

function connect() {
  const token = new URLSearchParams(location.search).get("token");
  const url = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws${token ? `?token=${encodeURIComponent(token)}` : ""}`;
  setConn("connecting", "connecting");
  ws = new WebSocket(url);
  ws.binaryType = "arraybuffer";
  ws.onopen = () => {
    ws.send(JSON.stringify({ type: "hello", protocol: PROTOCOL, sample_rate: INPUT_RATE, encoding: "pcm_s16le", output_sample_rate: ctx.sampleRate }));
  };
  ws.onmessage = (e) => (typeof e.data === "string" ? onEvent(JSON.parse(e.data)) : onAudio(e.data));
  ws.onclose = (e) => {
    ready = false;
    if (va.running) {
      setConn("disconnected", "error");
      if (e.code === 1013) showError("The server is busy (too many conversations). Try again in a moment.");
      else if (e.code !== 1000) showError(`Connection closed (${e.code}${e.reason ? `: ${e.reason}` : ""}). Is the server running?`);
      stop();
    } else setConn("disconnected");
  };
}

function stop() {
  if (ws && ws.readyState === WebSocket.OPEN) {
    ws.send(JSON.stringify({ type: "bye" }));
    ws.close(1000);
  }
  ws = null;
  ready = false;
  if (stream) stream.getTracks().forEach((t) => t.stop());
  stream = null;
  if (ctx) ctx.close();
  ctx = capNode = playNode = null;
  $("level").style.width = "0";
  $("agent-state").textContent = "—";
  setBusy(false);
}

function setBusy(on) {
  va.running = on;
  const b = $("talk");
  b.setAttribute("aria-pressed", String(on));
  b.textContent = on ? "Stop" : "Start talking";
}

function onCapture({ pcm, rms }) {
  const db = rms > 0 ? 20 * Math.log10(rms) : -120;
  $("level").style.width = `${Math.max(0, Math.min(100, (db + 60) * (100 / 60)))}%`;
  if (!ready || !ws || ws.readyState !== WebSocket.OPEN) return;
  const t = performance.now();
  peakDb = Math.max(db, peakDb - 0.02); // forgets a loud moment over ~30 s
  if (db > FLOOR_DBFS && db >= peakDb - WITHIN_DB) lastLoudAt = t;
  if (va.capture.length < 60000) va.capture.push({ t, rms });
  ws.send(pcm);
}

function onAudio(buf) {
  const view = new DataView(buf);
  if (buf.byteLength < 8 || view.getUint8(0) !== 0x56 || view.getUint8(1) !== 0x41 || view.getUint8(2) !== PROTOCOL) return;
  const turn = view.getUint32(4, true);
  if (cleared.has(turn) || !playNode) return; // late audio of a cleared turn
  const pcm = new Int16Array(buf, 8);
  let samples = new Float32Array(pcm.length);
  for (let i = 0; i < pcm.length; i++) samples[i] = pcm[i] / 32768;
  if (outRate && outRate !== ctx.sampleRate) samples = linearResample(samples, outRate, ctx.sampleRate);
  const rec = turnRec(turn);
  if (rec.firstAudioAt === undefined) rec.firstAudioAt = performance.now();
  rec.received += samples.length / ctx.sampleRate;
  playNode.port.postMessage({ type: "audio", turn, samples }, [samples.buffer]);
}

// Only if the server could not send the rate asked for in hello.
function linearResample(x, from, to) {
  const y = new Float32Array(Math.floor((x.length * to) / from));
  for (let i = 0; i < y.length; i++) {
    const p = (i * from) / to;
    const j = Math.floor(p);
    y[i] = x[j] + (p - j) * ((x[j + 1] ?? x[j]) - x[j]);
  }
  return y;
}

function onEvent(ev) {
  va.events.push({ t: performance.now(), ...ev });
  switch (ev.type) {
    case "ready":
      ready = true;
      outRate = ev.output_sample_rate;
      setConn("connected", "connected");
      break;
    case "state":
      $("agent-state").textContent = ev.state.replace("_", " ");
      break;
    case "transcript":
      onTranscript(ev);
      break;
    case "agent_text": {
      const rec = turnRec(ev.turn);
      // Sent just before the audio piece where the clause starts: reveal it when playback gets there.
      rec.clauses.push({ text: ev.text, at: rec.received, shown: false });
      showHeard(ev.turn);
      break;
    }
    case "latency":
      turnRec(ev.turn).latency = ev;
      drawWaterfall(ev.turn);
      break;
    case "clear":
      cleared.add(ev.turn);
      if (playNode) playNode.port.postMessage({ type: "clear", turn: ev.turn });
      break;
    case "resume":
      cleared.delete(ev.turn);
      if (playNode) playNode.port.postMessage({ type: "resume", turn: ev.turn });
      break;
    case "interrupted": {
      const rec = turnRec(ev.turn);
      if (!rec.li) rec.li = addLine("agent", "");
      if (ev.heard) rec.li.textContent = ev.heard;
      rec.li.classList.add("interrupted");
      rec.clauses.forEach((c) => (c.shown = true));
      break;
    }
    case "error":
      showError(ev.code === "busy" ? "The server is busy (too many conversations). Try again in a moment." : `${ev.message} (${ev.code})`);
      break;
  }
}

function addLine(cls, text) {
  const li = document.createElement("li");
  li.className = cls;
  li.textContent = text;
  $("transcript").append(li);
  li.scrollIntoView({ block: "nearest" });
  return li;
}

function onTranscript(ev) {
  if (!ev.final) {
    if (!partialLi) partialLi = addLine("user tentative", "");
    partialLi.textContent = ev.text;
    return;
  }
  const li = partialLi || addLine("user", "");
  partialLi = null;
  li.className = "user";
  li.textContent = ev.text;
}

// Reveal the agent's clauses as the listener reaches them.
function showHeard(turn) {
  const rec = turnRec(turn);
  for (const c of rec.clauses) {
    if (c.shown || !rec.startedAt || rec.heard + 0.02 < c.at) continue;
    c.shown = true;
    if (!rec.li) rec.li = addLine("agent", "");
    rec.li.textContent = `${rec.li.textContent} ${c.text}`.trim();
  }
}

function onPlayback(m) {
  const t = performance.now();
  va.playback.push({ t, ...m });
  const rec = turnRec(m.turn);
  if (m.type === "started") {
    rec.startedAt = t;
    if (lastLoudAt !== null) rec.mouthToEarMs = Math.round(t - lastLoudAt);
    drawWaterfall(m.turn);
  } else if (m.type === "progress") {
    rec.heard = Math.max(rec.heard, m.heard_s);
    if (ws && ready) ws.send(JSON.stringify({ type: "playback", turn: m.turn, heard_s: Math.round(m.heard_s * 1000) / 1000 }));
  }
  showHeard(m.turn);
}

function drawWaterfall(turn) {
  const rec = turnRec(turn);
  const L = rec.latency;
  if (!L) return;
  const out = L.first_audio_out ?? 0;
  const net = rec.startedAt && rec.firstAudioAt ? Math.max(0, rec.startedAt - rec.firstAudioAt) : null;
  const rows = [
    ["endpoint", 0, L.endpoint, "end"],
    ["ASR final", 0, L.asr_final, ""],
    ["LLM → clause", L.asr_final, L.first_clause ?? L.llm_first_token, ""],
    ["TTS first audio", L.first_clause, L.first_tts_audio, ""],
    ["network + playout", out, net === null ? null : out + net, "net"],
  ];
  const total = Math.max(1, ...rows.map((r) => r[2] ?? 0));
  const box = $("waterfall");
  box.replaceChildren();
  for (const [label, a, b, cls] of rows) {
    const row = document.createElement("div");
    row.className = "wf-row";
    const ok = typeof a === "number" && typeof b === "number";
    row.innerHTML = `<span></span><div class="wf-track"><div class="wf-bar ${cls}"></div></div><span class="wf-ms"></span>`;
    row.children[0].textContent = label;
    if (ok) {
      const bar = row.querySelector(".wf-bar");
      bar.style.left = `${(100 * a) / total}%`;
      bar.style.width = `${(100 * Math.max(0, b - a)) / total}%`;
    }
    row.children[2].textContent = ok ? `${Math.round(b - a)} ms` : "—";
    box.append(row);
  }
  const foot = document.createElement("p");
  foot.className = "wf-total";
  const m2e = rec.mouthToEarMs !== undefined ? `; mouth-to-ear measured here ${rec.mouthToEarMs} ms` : "";
  foot.textContent = `turn ${turn}: reply left the server ${Math.round(out)} ms after the VAD's end of speech${m2e}`;
  box.append(foot);
}

$("talk").addEventListener("click", () => (va.running ? stop() : start()));
document.addEventListener("keydown", (e) => {
  if (e.key === "Escape" && va.running) stop();
});

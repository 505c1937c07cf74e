// The player: render (or find) a session, play it with chapters, large captions, keys, and
// listen at its reflection steps. Plain JavaScript, no libraries, nothing from elsewhere.
"use strict";
(function () {
  const csrf = document.querySelector('meta[name="csrf-token"]').content;
  const $ = (id) => document.getElementById(id);
  const audio = $("audio");
  const track = $("captions-track");
  const state = { heardS: 0, lastLook: null, historySent: false, kept: 0, startedAt: 0,
                  key: null, sessionId: "", practice: "", reflects: [], chapters: [],
                  handled: new Set(), reflection: null, pressedAt: 0 };
  window.selfkindTimes = {};  // for measuring: press to first sound

  async function post(url, body) {
    const response = await fetch(url, { method: "POST", body: body,
      headers: { "X-CSRF-Token": csrf }, credentials: "same-origin" });
    let data = {};
    try { data = await response.json(); } catch (e) { data = { error: response.statusText }; }
    if (!response.ok && !data.error && !data.mistakes) data.error = response.statusText;
    return data;
  }

  function problem(text) {
    const el = $("problem");
    el.textContent = text || "";
    el.hidden = !text;
  }

  async function waitForRender(key) {
    const box = $("progress");
    box.hidden = false;
    for (;;) {
      const response = await fetch("/render/" + key, { credentials: "same-origin" });
      const s = await response.json();
      if (s.error) { box.hidden = true; problem(s.error); return false; }
      $("progress-label").textContent = s.label;
      $("progress-bar").value = s.fraction || 0;
      if (s.ready) { box.hidden = true; return s.audio; }
      await new Promise((r) => setTimeout(r, 250));
    }
  }

  function clock(seconds) {
    const m = Math.floor(seconds / 60), s = Math.floor(seconds % 60);
    return m + ":" + String(s).padStart(2, "0");
  }

  async function load(key, audioUrl, practice) {
    state.key = key;
    state.practice = practice;
    state.sessionId = "web-" + key.slice(0, 8) + "-" + Date.now();
    state.handled = new Set();
    sendHistory(false);  // a session replaced by another is kept as it went
    state.heardS = 0; state.lastLook = null; state.historySent = false; state.kept = 0;
    state.startedAt = performance.now();
    const manifest = await (await fetch("/sessions/" + key + ".json")).json();
    state.chapters = manifest.events.filter((e) => e.kind === "section");
    state.reflects = manifest.events.filter((e) => e.kind === "reflect");
    const list = $("chapters");
    list.replaceChildren();
    state.chapters.forEach((chapter, i) => {
      const item = document.createElement("li");
      const button = document.createElement("button");
      button.type = "button";
      button.className = "chapter";
      button.dataset.start = chapter.start_s;
      button.dataset.index = i;
      button.textContent = chapter.text + " (" + clock(chapter.start_s) + ")";
      button.addEventListener("click", () => seek(chapter.start_s, true));
      item.appendChild(button);
      list.appendChild(item);
    });
    track.src = "/sessions/" + key + ".vtt";
    track.track.mode = "hidden";  // shown large below the player, by us
    audio.src = audioUrl;
    $("player").hidden = false;
    // The keys (space, arrows) work from here at once; the Play button would start again.
    $("player").focus({ preventScroll: true });
    try { await audio.play(); } catch (e) { /* the person presses play */ }
  }

  function seek(seconds, play) {
    audio.currentTime = Math.max(0, Math.min(seconds, audio.duration || seconds));
    if (play && audio.paused) audio.play();
  }

  track.addEventListener("cuechange", () => {
    const cues = track.track.activeCues;
    $("caption").textContent = cues && cues.length ? cues[0].text : "";
  });

  audio.addEventListener("playing", () => {
    if (state.pressedAt && !window.selfkindTimes.firstSound) {
      window.selfkindTimes.firstSound = performance.now() - state.pressedAt;
    }
  });

  // The history: time actually played (steady progress; a pause or a skip adds nothing, as
  // the terminal's HeardClock), sent once when the session ends or the page is left.
  function lookHeard() {
    const t = audio.currentTime;
    if (state.lastLook !== null && t - state.lastLook > 0 && t - state.lastLook <= 2) {
      state.heardS += t - state.lastLook;
    }
    state.lastLook = t;
  }
  function sendHistory(ended) {
    if (!state.key || state.historySent || state.heardS < 1) return;
    state.historySent = true;
    const form = new FormData();
    form.append("csrf", csrf);
    form.append("practice", state.practiceTitle || state.practice || "");
    form.append("source", state.source || "");
    form.append("voice", state.voice || "");
    form.append("elapsed_s", String((performance.now() - state.startedAt) / 1000));
    form.append("length_s", String(audio.duration || 0));
    form.append("heard_s", String(state.heardS));
    form.append("reflections", String(state.kept));
    if (!ended) {
      const t = audio.currentTime;
      const part = [...state.chapters].reverse().find((c) => c.start_s <= t + 0.05);
      form.append("stopped_at_s", String(part ? part.start_s : 0));
      form.append("stopped_in", part ? part.text : "");
    }
    navigator.sendBeacon("/journal/history", form);
  }
  audio.addEventListener("ended", () => sendHistory(true));
  window.addEventListener("pagehide", () => sendHistory(false));

  audio.addEventListener("timeupdate", () => {
    lookHeard();
    const t = audio.currentTime;
    const current = state.chapters.reduce((at, c, i) => (c.start_s <= t + 0.05 ? i : at), -1);
    document.querySelectorAll("#chapters button").forEach((b, i) => {
      if (i === current) b.setAttribute("aria-current", "step");
      else b.removeAttribute("aria-current");
    });
    for (const step of state.reflects) {
      if (t >= step.start_s && t < step.end_s && !state.handled.has(step.start_s)) {
        state.handled.add(step.start_s);
        reflect(step);
      }
    }
    const r = state.reflection;
    if (r && r.listening && t >= r.step.end_s - 0.3 && !audio.paused) {
      audio.pause();  // the session waits while the person is still speaking
      r.held = true;
      $("reflection-state").textContent = "Listening. The session waits until you finish.";
    }
  });

  document.addEventListener("keydown", (event) => {
    if ($("player").hidden) return;
    const tag = (event.target.tagName || "").toLowerCase();
    if (["input", "textarea", "select", "button", "a"].includes(tag)) return;
    if (event.target === audio && event.key === " ") return;  // its own controls
    if (event.key === " ") {
      event.preventDefault();
      if (audio.paused) audio.play(); else audio.pause();
    } else if (event.key === "ArrowLeft" || event.key === "ArrowRight") {
      event.preventDefault();
      seek(audio.currentTime + (event.key === "ArrowRight" ? 10 : -10), false);
    } else if (event.key === "ArrowUp" || event.key === "ArrowDown") {
      event.preventDefault();
      const t = audio.currentTime;
      const starts = state.chapters.map((c) => c.start_s);
      const target = event.key === "ArrowDown"
        ? starts.find((s) => s > t + 0.5)
        : [...starts].reverse().find((s) => s < t - 2);
      if (target !== undefined) seek(target, false);
      else if (event.key === "ArrowUp") seek(0, false);
    }
  });

  // Reflections ----------------------------------------------------------------------------

  const TARGET_RATE_HZ = 16000;

  function downsampler(inputRate) {
    // Box-filter decimation to 16 kHz: each output sample averages the input samples that
    // fall in its interval, carried across chunks.
    const step = inputRate / TARGET_RATE_HZ;
    let position = 0, sum = 0, count = 0;
    return (input) => {
      const out = [];
      for (let i = 0; i < input.length; i++) {
        sum += input[i]; count++;
        position += 1;
        if (position >= step) {
          position -= step;
          out.push(sum / count);
          sum = 0; count = 0;
        }
      }
      const pcm = new Int16Array(out.length);
      for (let i = 0; i < out.length; i++) {
        const v = Math.max(-1, Math.min(1, out[i]));
        pcm[i] = v < 0 ? v * 32768 : v * 32767;
      }
      return pcm;
    };
  }

  function showReflection(step) {
    $("reflection").hidden = false;
    $("reflection-prompt").textContent = step.text;
    $("reflection-words").textContent = "";
    $("reflection-write").hidden = true;
    $("reflection-done").hidden = true;
  }

  function offerWriting(step, why) {
    $("reflection-state").textContent = why;
    $("reflection-write").hidden = false;
    $("reflection-save").onclick = async () => {
      const form = new FormData();
      form.append("text", $("reflection-text").value);
      form.append("prompt", step.text);
      form.append("practice", state.practice);
      form.append("session_id", state.sessionId);
      const saved = await post("/journal/write", form);
      if (saved.error) { $("reflection-state").textContent = saved.error; return; }
      $("reflection-write").hidden = true;
      kept(saved.entry, $("reflection-text").value);
    };
  }

  function kept(entryId, text) {
    state.kept += 1;
    const el = $("reflection-state");
    el.replaceChildren();
    el.append("Kept in your journal. ");
    const link = document.createElement("a");
    link.href = "/journal/" + entryId;
    link.textContent = "Read it";
    link.id = "reflection-entry";
    link.dataset.entry = entryId;
    el.append(link);
    if (text) $("reflection-words").textContent = text;
  }

  async function reflect(step) {
    showReflection(step);
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
      offerWriting(step, "This is quiet time. The browser offers no microphone here; you can write instead.");
      return;
    }
    $("reflection-state").textContent = "Asking for the microphone…";
    let stream;
    try {
      stream = await navigator.mediaDevices.getUserMedia(
        { audio: { channelCount: 1, echoCancellation: false, noiseSuppression: false,
                   autoGainControl: false } });
    } catch (e) {
      offerWriting(step, "This is quiet time: the microphone is not available. You can write your reflection instead.");
      return;
    }
    const form = new FormData();
    form.append("prompt", step.text);
    form.append("practice", state.practice);
    form.append("session_id", state.sessionId);
    const started = await post("/reflections", form);
    if (started.error) {
      stream.getTracks().forEach((t) => t.stop());
      offerWriting(step, started.error + " You can write instead.");
      return;
    }
    // The samples are taken on the audio thread (an AudioWorklet), so a busy page never
    // drops any; the page only converts and sends them.
    const context = new AudioContext();
    await context.audioWorklet.addModule("/static/capture-worklet.js");
    const source = context.createMediaStreamSource(stream);
    const capture = new AudioWorkletNode(context, "selfkind-capture");
    const convert = downsampler(context.sampleRate);
    const r = { id: started.id, step: step, listening: true, held: false, chunks: [],
                stream: stream, context: context, sending: false };
    state.reflection = r;
    capture.port.onmessage = (event) => {
      if (r.listening) r.chunks.push(convert(event.data));
    };
    source.connect(capture);
    $("reflection-state").textContent = "Listening… speak when you are ready.";
    $("reflection").classList.add("listening");
    $("reflection-done").hidden = false;
    $("reflection-done").onclick = () => finish(r);
    r.timer = setInterval(() => send(r), 250);
  }

  async function send(r) {
    if (r.sending || !r.chunks.length) return;
    r.sending = true;
    const total = r.chunks.reduce((n, c) => n + c.length, 0);
    const pcm = new Int16Array(total);
    let at = 0;
    for (const c of r.chunks) { pcm.set(c, at); at += c.length; }
    r.chunks = [];
    try {
      const heard = await post("/reflections/" + r.id + "/audio", pcm.buffer);
      if (heard.partial) $("reflection-words").textContent = heard.partial;
      if (heard.finished && r.listening) finish(r);
    } finally {
      r.sending = false;
    }
  }

  async function finish(r) {
    if (!r.listening) return;
    r.listening = false;
    clearInterval(r.timer);
    r.stream.getTracks().forEach((t) => t.stop());
    r.context.close();
    while (r.sending) await new Promise((ok) => setTimeout(ok, 20));
    if (r.chunks.length) { r.sending = false; await send(r); }
    $("reflection").classList.remove("listening");
    $("reflection-done").hidden = true;
    $("reflection-state").textContent = "Keeping your words…";
    const result = await post("/reflections/" + r.id + "/end", new FormData());
    if (result.error) $("reflection-state").textContent = result.error;
    else if (result.status === "empty") $("reflection-state").textContent = "Nothing was heard, so nothing was kept.";
    else kept(result.entry, result.transcript);
    if (r.held) audio.play();
    state.reflection = null;
  }

  // Choosing and starting a practice ---------------------------------------------------------

  async function start(requestPlay) {
    if (state.starting) return;  // one press at a time
    state.starting = true;
    document.querySelectorAll("#play, #preview").forEach((b) => b.setAttribute("aria-disabled", "true"));
    try {
      problem("");
      state.pressedAt = performance.now();
      window.selfkindTimes = {};
      const answer = await requestPlay();
      if (answer.error || answer.mistakes) { problem(answer.error || "The script has mistakes."); return; }
      const audioUrl = await waitForRender(answer.key);
      if (audioUrl) {
        window.selfkindTimes.rendered = performance.now() - state.pressedAt;
        await load(answer.key, audioUrl, answer.title || state.practiceTitle || "");
      }
    } finally {
      state.starting = false;
      document.querySelectorAll("#play, #preview").forEach((b) => b.removeAttribute("aria-disabled"));
    }
  }
  window.selfkindPlayer = { start: start, post: post, state: state };

  const choose = $("choose");
  if (choose) {
    state.practiceTitle = document.querySelector("h1").textContent;
    choose.addEventListener("submit", (event) => {
      event.preventDefault();
      state.source = choose.dataset.practice;
      state.voice = $("voice").value;
      start(() => {
        const form = new FormData(choose);
        form.append("practice", choose.dataset.practice);
        return post("/play", form);
      });
    });
  }
})();

// The page: drawing pad, photo picker, model selector, top-3 and the input the model saw.
// All image and model work goes through edgecnn.js, the same functions the browser check runs.
import * as core from "./edgecnn.js";

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
const state = { index: null, runtimes: {}, loaded: new Map(), current: null, lastPicture: null };
const RUNTIME_NAMES = { "onnxruntime-web": "ONNX Runtime Web", "litert.js": "LiteRT.js" };

function setStatus(text) { $("status").textContent = text; }

function showError(text) {
  $("error").hidden = false;
  $("error").textContent = text;
  console.error(text);
}

function clearError() { $("error").hidden = true; $("error").textContent = ""; }

// ---- runtime and models -------------------------------------------------------------------

function threadCount() {
  const asked = Number.parseInt(params.get("threads") || "", 10);
  if (asked > 0) return asked;
  // More than one wasm thread needs SharedArrayBuffer, i.e. a cross-origin-isolated page
  // (COOP/COEP headers, which `edgecnn serve` sends); any other host gets one thread.
  return self.crossOriginIsolated ? Math.min(4, navigator.hardwareConcurrency || 1) : 1;
}

/** The runtime a model needs, loaded on first use from the bundle's own files. */
async function runtimeFor(name) {
  if (state.runtimes[name]) return state.runtimes[name];
  const info = (state.index.runtimes || { "onnxruntime-web": state.index.runtime })[name];
  if (!info) throw new Error(`models.json names no runtime "${name}"`);
  const url = `${info.dir}/${info.entry}`;
  setStatus(`Loading ${RUNTIME_NAMES[name] || name}…`);
  try {
    const mod = await import(`./${url}`);
    if (name === "litert.js") {
      await core.startLiteRt(mod, info.dir, info.wasm);
    } else {
      core.configureRuntime(mod, info.dir, threadCount());
    }
    state.runtimes[name] = mod;
    return mod;
  } catch (err) {
    throw new Error(`Could not load the ${RUNTIME_NAMES[name] || name} runtime (${url}): ${err.message}`);
  }
}

function describeRuntime(entry) {
  const info = (state.index.runtimes || {})[entry.runtime] || state.index.runtime;
  if (entry.runtime === "litert.js") return `LiteRT.js ${info.version} (WebAssembly, XNNPACK, 1 thread)`;
  const n = state.runtimes["onnxruntime-web"].env.wasm.numThreads;
  return `onnxruntime-web ${info.version} (WebAssembly, ${n} thread${n === 1 ? "" : "s"})`;
}

async function useModel(key) {
  const entry = state.index.models.find((m) => m.key === key);
  if (!entry) throw new Error(`no model "${key}" in models.json`);
  if (!state.loaded.has(key)) {
    await runtimeFor(entry.runtime || "onnxruntime-web");
    setStatus(`Loading ${entry.file}…`);
    try {
      state.loaded.set(key, await core.loadModel(state.runtimes, entry));
    } catch (err) {
      throw new Error(`Could not load the model ${entry.file}: ${err.message}`);
    }
  }
  state.current = state.loaded.get(key);
  const m = state.current.model;
  const [H, W, C] = m.input_shape;
  $("seen").width = W;
  $("seen").height = H;
  const side = 112 / Math.max(H, W); // the model's own aspect ratio, each pixel a square
  $("seen").style.width = `${Math.round(W * side)}px`;
  $("seen").style.height = `${Math.round(H * side)}px`;
  $("seen-caption").textContent = `The ${W}×${H}${C === 3 ? " colour" : ""} input ${entry.file} saw (width×height)`;
  $("about").textContent = `${m.name}: ${m.labels.length} classes, preparation "${m.preprocessing.prepare}", `
    + `${describeRuntime(entry)}. Everything runs on this device.`;
  setStatus(`Ready: ${entry.precision} model on ${RUNTIME_NAMES[entry.runtime] || entry.runtime}. Draw a digit or drop a photo.`);
  if (state.lastPicture) await classifyPicture(...state.lastPicture);
  return state.current;
}

// ---- showing a result ---------------------------------------------------------------------

function showSeen(pixels, model) {
  const [H, W, C] = model.input_shape;
  const img = $("seen").getContext("2d").createImageData(W, H);
  for (let i = 0; i < H * W; i++) {
    for (let c = 0; c < 3; c++) img.data[4 * i + c] = pixels[i * C + (C === 3 ? c : 0)];
    img.data[4 * i + 3] = 255;
  }
  $("seen").getContext("2d").putImageData(img, 0, 0);
}

function showTop(probs, ms, model) {
  const list = $("top");
  list.replaceChildren();
  for (const { label, p } of core.topK(probs, model.labels, 3)) {
    const li = document.createElement("li");
    const name = document.createElement("span");
    name.className = "label";
    name.textContent = label;
    const bar = document.createElement("span");
    bar.className = "bar";
    const fill = document.createElement("span");
    fill.style.width = `${(100 * p).toFixed(1)}%`;
    bar.append(fill);
    const pct = document.createElement("span");
    pct.className = "pct";
    pct.textContent = `${(100 * p).toFixed(1)} %`;
    li.append(name, bar, pct);
    list.append(li);
  }
  const e = state.current.entry;
  $("timing").textContent = `${ms.toFixed(2)} ms for this prediction (${e.precision}, ${RUNTIME_NAMES[e.runtime] || e.runtime}, in this browser)`;
}

/** RGBA pixels of a picture -> prepare -> predict -> show. */
async function classifyPicture(rgba, w, h) {
  state.lastPicture = [rgba, w, h];
  if (!state.current) return null;
  const model = state.current.model;
  let pixels;
  try {
    pixels = core.prepareRGBA(rgba, w, h, model);
  } catch (err) {
    if (err instanceof core.PrepareError) {
      setStatus(`Nothing to classify: ${err.message}.`);
      $("top").replaceChildren();
      return null;
    }
    throw err;
  }
  showSeen(pixels, model);
  const { probs, ms } = await core.predict(state.current, pixels);
  showTop(probs, ms, model);
  const best = core.topK(probs, model.labels, 1)[0];
  setStatus(`Prediction: ${best.label} (${(100 * best.p).toFixed(1)} %).`);
  return { pixels, probs, ms };
}

// ---- drawing pad --------------------------------------------------------------------------

function setupPad() {
  const pad = $("pad");
  const ctx = pad.getContext("2d", { willReadFrequently: true });
  const clear = () => {
    ctx.fillStyle = "#fff";
    ctx.fillRect(0, 0, pad.width, pad.height);
  };
  clear();
  ctx.lineCap = "round";
  ctx.lineJoin = "round";
  ctx.strokeStyle = "#000";
  ctx.lineWidth = pad.width / 14;
  let drawing = false, dirty = false, last = null;
  const point = (clientX, clientY) => {
    const r = pad.getBoundingClientRect();
    return [(clientX - r.left) * pad.width / r.width, (clientY - r.top) * pad.height / r.height];
  };
  const start = (x, y) => {
    drawing = true;
    last = point(x, y);
    ctx.beginPath();
    ctx.arc(last[0], last[1], ctx.lineWidth / 2, 0, 2 * Math.PI);
    ctx.fillStyle = "#000";
    ctx.fill();
    dirty = true;
  };
  const move = (x, y) => {
    if (!drawing) return;
    const p = point(x, y);
    ctx.beginPath();
    ctx.moveTo(...last);
    ctx.lineTo(...p);
    ctx.stroke();
    last = p;
  };
  const end = () => {
    if (!drawing) return;
    drawing = false;
    if (dirty) classifyPad().catch((err) => showError(err.message));
  };
  if (window.PointerEvent) {
    pad.addEventListener("pointerdown", (e) => { pad.setPointerCapture(e.pointerId); start(e.clientX, e.clientY); e.preventDefault(); });
    pad.addEventListener("pointermove", (e) => move(e.clientX, e.clientY));
    pad.addEventListener("pointerup", end);
    pad.addEventListener("pointercancel", end);
  } else { // old mobile browsers: touch events, and mouse events
    pad.addEventListener("touchstart", (e) => { start(e.touches[0].clientX, e.touches[0].clientY); e.preventDefault(); }, { passive: false });
    pad.addEventListener("touchmove", (e) => { move(e.touches[0].clientX, e.touches[0].clientY); e.preventDefault(); }, { passive: false });
    pad.addEventListener("touchend", end);
    pad.addEventListener("mousedown", (e) => start(e.clientX, e.clientY));
    pad.addEventListener("mousemove", (e) => move(e.clientX, e.clientY));
    window.addEventListener("mouseup", end);
  }
  $("clear").addEventListener("click", () => {
    clear();
    dirty = false;
    state.lastPicture = null;
    $("top").replaceChildren();
    $("timing").textContent = "–";
    $("seen").getContext("2d").clearRect(0, 0, $("seen").width, $("seen").height);
    setStatus("Cleared. Draw a digit or drop a photo.");
  });
  async function classifyPad() {
    const data = ctx.getImageData(0, 0, pad.width, pad.height).data;
    return classifyPicture(data, pad.width, pad.height);
  }
}

// ---- photos -------------------------------------------------------------------------------

/** Decode an image file and draw it on white (transparency over white, as in Python). */
async function decodeFile(file) {
  let bitmap;
  try {
    bitmap = await createImageBitmap(file);
  } catch {
    throw new Error(`${file.name}: not an image this browser can decode`);
  }
  const canvas = document.createElement("canvas");
  canvas.width = bitmap.width;
  canvas.height = bitmap.height;
  const ctx = canvas.getContext("2d", { willReadFrequently: true });
  ctx.fillStyle = "#fff";
  ctx.fillRect(0, 0, canvas.width, canvas.height);
  ctx.drawImage(bitmap, 0, 0);
  return [ctx.getImageData(0, 0, canvas.width, canvas.height).data, canvas.width, canvas.height];
}

function setupPicker() {
  const drop = $("drop");
  const take = async (file) => {
    if (!file) return;
    clearError();
    try {
      await classifyPicture(...(await decodeFile(file)));
    } catch (err) {
      showError(err.message);
    }
  };
  $("file").addEventListener("change", (e) => take(e.target.files[0]));
  for (const type of ["dragenter", "dragover"]) {
    drop.addEventListener(type, (e) => { e.preventDefault(); drop.classList.add("over"); });
  }
  for (const type of ["dragleave", "drop"]) drop.addEventListener(type, () => drop.classList.remove("over"));
  drop.addEventListener("drop", (e) => { e.preventDefault(); take(e.dataTransfer.files[0]); });
  drop.addEventListener("keydown", (e) => { if (e.key === "Enter" || e.key === " ") $("file").click(); });
}

// ---- start --------------------------------------------------------------------------------

/** For `edgecnn verify --platform browser`: the page's own functions on many images at once. */
function testHooks() {
  const bytes = (b64) => Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
  const b64 = (arr) => {
    const u8 = new Uint8Array(arr.buffer, arr.byteOffset, arr.byteLength);
    let s = "";
    for (let i = 0; i < u8.length; i += 0x8000) s += String.fromCharCode(...u8.subarray(i, i + 0x8000));
    return btoa(s);
  };
  return {
    useModel,
    /** n images of uint8 pixels (H*W*C each, base64) -> probabilities (base64 float32) and ms per image. */
    async predictMany(key, pixelsB64, n) {
      const loaded = await useModel(key);
      const all = bytes(pixelsB64), size = all.length / n;
      const probs = new Float32Array(n * loaded.model.labels.length), times = [];
      for (let i = 0; i < n; i++) {
        const r = await core.predict(loaded, all.subarray(i * size, (i + 1) * size));
        probs.set(r.probs, i * loaded.model.labels.length);
        times.push(r.ms);
      }
      return { probs: b64(probs), times };
    },
    /** A grey picture (float32 base64, w x h) -> the prepared pixels (uint8 base64), as the UI prepares. */
    prepareGrey(greyB64, w, h) {
      const u8 = bytes(greyB64);
      const grey = new Float32Array(u8.buffer);
      try {
        return b64(core.toMnist(grey, w, h));
      } catch (err) {
        return `error: ${err.message}`;
      }
    },
  };
}

async function start() {
  try {
    state.index = await core.loadIndex("models.json");
  } catch (err) {
    throw new Error(`Could not read the model list: ${err.message}`);
  }
  const select = $("model");
  for (const m of state.index.models) {
    const runtime = RUNTIME_NAMES[m.runtime || "onnxruntime-web"] || m.runtime;
    select.add(new Option(`${m.precision} · ${runtime} (${(m.bytes / 1024).toFixed(0)} KiB)`, m.key));
  }
  if (!state.index.models.length) throw new Error("models.json lists no model");
  const first = params.get("model") || state.index.models[0].key;
  select.value = first;
  document.title = `${state.index.models[0].model.name} in the browser`;
  $("title").textContent = `${state.index.models[0].model.name} in the browser`;
  await useModel(first);
  select.disabled = false;
  select.addEventListener("change", () => {
    clearError();
    useModel(select.value).catch((err) => { showError(err.message); setStatus("Model not loaded."); });
  });
}

setupPad();
setupPicker();
window.edgecnn = { ...testHooks(), core };
window.edgecnn.ready = start().then(
  () => true,
  (err) => { showError(err.message); setStatus("Not ready."); return err.message; },
);

// edgecnn in the browser: the image preparation, the model input and inference.
//
// These are the functions the page uses for every prediction, and the ones
// `edgecnn verify --platform browser` drives in headless Chromium. Nothing model-specific is
// a constant here: sizes, labels, preprocessing and tensor names come from models.json, which
// `edgecnn bundle --target web` writes from each model file's embedded metadata.
//
// The preparation is a faithful port of edgecnn/images.py (`edgecnn predict`) and the Pi
// bundle's classify.py, down to float32 rounding, Pillow's LANCZOS resampler and numpy's
// round-half-to-even, so a picture gives the same input bytes here as in Python.

const f32 = Math.fround;
const INK_THRESHOLD = 40; // of 255: fainter pixels are not the digit (images.py)
const MNIST_FIELD = 28; // MNIST fitted its digits into a 20x20 box of the 28x28 field
const MNIST_BOX = 20;

// ---- small numeric helpers that match numpy / Python ------------------------------------

/** numpy's round (and Python's round): half to even. */
export function roundHalfEven(x) {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** numpy's pairwise summation of a contiguous array (float32 when `single`, else float64). */
function pairwiseSum(a, start, n, single) {
  const add = single ? (x, y) => f32(x + y) : (x, y) => x + y;
  if (n < 8) {
    let res = 0;
    for (let i = 0; i < n; i++) res = add(res, a[start + i]);
    return res;
  }
  if (n <= 128) {
    const r = [];
    for (let j = 0; j < 8; j++) r.push(a[start + j]);
    let i = 8;
    for (; i < n - (n % 8); i += 8) for (let j = 0; j < 8; j++) r[j] = add(r[j], a[start + i + j]);
    let res = add(add(add(r[0], r[1]), add(r[2], r[3])), add(add(r[4], r[5]), add(r[6], r[7])));
    for (; i < n; i++) res = add(res, a[start + i]);
    return res;
  }
  let n2 = Math.floor(n / 2);
  n2 -= n2 % 8;
  return add(pairwiseSum(a, start, n2, single), pairwiseSum(a, start + n2, n - n2, single));
}

/** The upper median, as images.py's _median (np.partition at len // 2). */
function upperMedian(values) {
  const sorted = Float64Array.from(values).sort();
  return sorted[Math.floor(sorted.length / 2)];
}

// ---- Pillow's resampling (Resample.c), for float ("F") images ----------------------------

function sinc(x) {
  if (x === 0) return 1;
  x *= Math.PI;
  return Math.sin(x) / x;
}

function lanczos(x) {
  return x >= -3 && x < 3 ? sinc(x) * sinc(x / 3) : 0;
}

/** Pillow's precompute_coeffs: per output pixel, the first input pixel, the count and the
 * normalised weights of `filter` (support in input pixels at scale 1: 3 for LANCZOS, 1 for BILINEAR). */
function coefficients(inSize, outSize, filter = lanczos, filterSupport = 3) {
  const scale = inSize / outSize;
  const filterscale = Math.max(scale, 1);
  const support = filterSupport * filterscale;
  const out = [];
  for (let xx = 0; xx < outSize; xx++) {
    const center = (xx + 0.5) * scale;
    const ss = 1 / filterscale;
    const xmin = Math.max(0, Math.trunc(center - support + 0.5));
    const xmax = Math.min(inSize, Math.trunc(center + support + 0.5)) - xmin;
    const k = new Float64Array(Math.max(xmax, 0));
    let ww = 0;
    for (let x = 0; x < xmax; x++) {
      k[x] = filter((x + xmin - center + 0.5) * ss);
      ww += k[x];
    }
    if (ww !== 0) for (let x = 0; x < xmax; x++) k[x] /= ww;
    out.push({ xmin, k });
  }
  return out;
}

/**
 * Pillow's Image.resize(size, LANCZOS) of a float32 image: horizontal pass, then vertical,
 * each skipped when that size does not change, sums in double, stored as float32.
 */
export function resizeLanczos(src, w, h, outW, outH) {
  let img = src;
  let width = w;
  if (outW !== w) {
    const cs = coefficients(w, outW);
    const tmp = new Float32Array(outW * h);
    for (let y = 0; y < h; y++) {
      for (let xx = 0; xx < outW; xx++) {
        const { xmin, k } = cs[xx];
        let ss = 0;
        for (let x = 0; x < k.length; x++) ss += img[y * width + xmin + x] * k[x];
        tmp[y * outW + xx] = ss;
      }
    }
    img = tmp;
    width = outW;
  }
  if (outH !== h) {
    const cs = coefficients(h, outH);
    const tmp = new Float32Array(width * outH);
    for (let yy = 0; yy < outH; yy++) {
      const { xmin: ymin, k } = cs[yy];
      for (let x = 0; x < width; x++) {
        let ss = 0;
        for (let y = 0; y < k.length; y++) ss += img[(ymin + y) * width + x] * k[y];
        tmp[yy * width + x] = ss;
      }
    }
    img = tmp;
  }
  return img === src ? Float32Array.from(src) : img;
}

// ---- from pixels on a canvas to grey ------------------------------------------------------

/** RGBA bytes (already drawn on white) -> float32 grey 0..255, as Pillow's convert("L"). */
export function greyFromRGBA(rgba, w, h) {
  const grey = new Float32Array(w * h);
  for (let i = 0; i < w * h; i++) {
    const r = rgba[4 * i], g = rgba[4 * i + 1], b = rgba[4 * i + 2];
    grey[i] = (r * 19595 + g * 38470 + b * 7471 + 0x8000) >>> 16;
  }
  return grey;
}

/** RGBA bytes -> RGB bytes (for colour models). */
function rgbFromRGBA(rgba, w, h) {
  const rgb = new Float32Array(w * h * 3);
  for (let i = 0; i < w * h; i++) for (let c = 0; c < 3; c++) rgb[3 * i + c] = rgba[4 * i + c];
  return rgb;
}

export class PrepareError extends Error {}

// ---- the MNIST-like preparation (images.py to_mnist) ---------------------------------------

/**
 * A grey image (float32 0..255, w x h) of one digit, any polarity -> uint8 (H x W) white digit
 * on black: inverted on a light background, background removed, cropped to the digit, scaled
 * to fit the box keeping its aspect ratio (LANCZOS), centred by centre of mass.
 */
export function toMnist(greyIn, w, h) {
  const fieldH = MNIST_FIELD, fieldW = MNIST_FIELD;
  let grey = Float32Array.from(greyIn);
  const border = [];
  for (let x = 0; x < w; x++) border.push(grey[x]);
  for (let x = 0; x < w; x++) border.push(grey[(h - 1) * w + x]);
  for (let y = 0; y < h; y++) border.push(grey[y * w]);
  for (let y = 0; y < h; y++) border.push(grey[y * w + w - 1]);
  let med = upperMedian(border);
  if (med > 127) { // light background: MNIST is a light digit on black
    grey = grey.map((v) => f32(255 - v));
    med = upperMedian(border.map((v) => f32(255 - v)));
  }
  const ink = new Float32Array(w * h);
  let max = 0;
  for (let i = 0; i < ink.length; i++) {
    ink[i] = Math.max(f32(grey[i] - med), 0);
    if (ink[i] > max) max = ink[i];
  }
  if (!(max > 0)) throw new PrepareError("blank image, no digit found");
  const gain = f32(255 / max);
  let top = h, bottom = -1, left = w, right = -1;
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const v = f32(ink[y * w + x] * gain);
      ink[y * w + x] = v;
      if (v > INK_THRESHOLD) {
        if (y < top) top = y;
        if (y > bottom) bottom = y;
        if (x < left) left = x;
        if (x > right) right = x;
      }
    }
  }
  if (bottom < 0) throw new PrepareError("no digit found (only faint pixels)");
  const dh = bottom - top + 1, dw = right - left + 1;
  const digit = new Float32Array(dh * dw);
  for (let y = 0; y < dh; y++) for (let x = 0; x < dw; x++) digit[y * dw + x] = ink[(top + y) * w + left + x];
  const factor = MNIST_BOX / Math.max(dh, dw);
  const fw = Math.max(1, roundHalfEven(dw * factor)), fh = Math.max(1, roundHalfEven(dh * factor));
  const fitted = resizeLanczos(digit, dw, dh, fw, fh).map((v) => Math.min(Math.max(v, 0), 255));
  return centreByMass(fitted, fw, fh, fieldH, fieldW);
}

function centreByMass(digit, w, h, fieldH, fieldW) {
  const total = pairwiseSum(digit, 0, digit.length, true);
  const ys = new Float64Array(digit.length), xs = new Float64Array(digit.length);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      ys[y * w + x] = y * digit[y * w + x];
      xs[y * w + x] = x * digit[y * w + x];
    }
  }
  const cy = pairwiseSum(ys, 0, ys.length, false) / total;
  const cx = pairwiseSum(xs, 0, xs.length, false) / total;
  // Integer shift, as MNIST did; clamped so that the whole box stays inside the field.
  const top = Math.min(Math.max(roundHalfEven(fieldH / 2 - cy), 0), fieldH - h);
  const left = Math.min(Math.max(roundHalfEven(fieldW / 2 - cx), 0), fieldW - w);
  const field = new Uint8Array(fieldH * fieldW);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) field[(top + y) * fieldW + left + x] = roundHalfEven(digit[y * w + x]);
  }
  return field;
}

// ---- the plain preparation for other models ("resize") ------------------------------------

const PRECISION_BITS = 32 - 8 - 2; // Pillow's fixed-point coefficients for 8-bit images

function bilinear(x) {
  x = Math.abs(x);
  return x < 1 ? 1 - x : 0;
}

/** Pillow's precompute_coeffs for BILINEAR, then normalize_coeffs_8bpc (fixed point). */
function coefficients8(inSize, outSize) {
  return coefficients(inSize, outSize, bilinear, 1).map(({ xmin, k }) => ({
    xmin,
    k: Int32Array.from(k, (v) => Math.trunc(v * (1 << PRECISION_BITS) + (v < 0 ? -0.5 : 0.5))),
  }));
}

function clip8(v) {
  if (v >= (1 << PRECISION_BITS) * 256) return 255;
  if (v <= 0) return 0;
  return Math.floor(v / (1 << PRECISION_BITS));
}

/**
 * Pillow's Image.resize(size, BILINEAR) of an 8-bit image (L or RGB, `channels` interleaved):
 * horizontal pass then vertical, each skipped when that size does not change, fixed point.
 */
export function resizeBilinear8(src, w, h, channels, outW, outH) {
  let img = src;
  let width = w;
  const half = 1 << (PRECISION_BITS - 1);
  if (outW !== w) {
    const cs = coefficients8(w, outW);
    const tmp = new Uint8Array(outW * h * channels);
    for (let y = 0; y < h; y++) {
      for (let xx = 0; xx < outW; xx++) {
        const { xmin, k } = cs[xx];
        for (let c = 0; c < channels; c++) {
          let ss = half;
          for (let x = 0; x < k.length; x++) ss += img[(y * width + xmin + x) * channels + c] * k[x];
          tmp[(y * outW + xx) * channels + c] = clip8(ss);
        }
      }
    }
    img = tmp;
    width = outW;
  }
  if (outH !== h) {
    const cs = coefficients8(h, outH);
    const tmp = new Uint8Array(width * outH * channels);
    for (let yy = 0; yy < outH; yy++) {
      const { xmin: ymin, k } = cs[yy];
      for (let x = 0; x < width; x++) {
        for (let c = 0; c < channels; c++) {
          let ss = half;
          for (let y = 0; y < k.length; y++) ss += img[((ymin + y) * width + x) * channels + c] * k[y];
          tmp[(yy * width + x) * channels + c] = clip8(ss);
        }
      }
    }
    img = tmp;
  }
  return img === src ? Uint8Array.from(src) : img;
}

/**
 * images.py fit_pixels: uint8 pixels (h x w x channels) -> uint8 (H x W x C): scaled to fit
 * keeping the aspect ratio (Pillow BILINEAR), centred, padded with black; grey <-> RGB as needed.
 */
export function fitPixels(pixels, w, h, channels, fieldH, fieldW, C) {
  let arr = Uint8Array.from(pixels, (v) => Math.min(Math.max(roundHalfEven(v), 0), 255));
  if (C === 1 && channels === 3) {
    const grey = new Uint8Array(w * h);
    for (let i = 0; i < w * h; i++) {
      grey[i] = (arr[3 * i] * 19595 + arr[3 * i + 1] * 38470 + arr[3 * i + 2] * 7471 + 0x8000) >>> 16;
    }
    arr = grey;
    channels = 1;
  } else if (C === 3 && channels === 1) {
    const rgb = new Uint8Array(w * h * 3);
    for (let i = 0; i < w * h; i++) rgb[3 * i] = rgb[3 * i + 1] = rgb[3 * i + 2] = arr[i];
    arr = rgb;
    channels = 3;
  }
  if (w === fieldW && h === fieldH) return arr;
  const factor = Math.min(fieldW / w, fieldH / h);
  const sw = Math.max(1, Math.min(fieldW, roundHalfEven(w * factor)));
  const sh = Math.max(1, Math.min(fieldH, roundHalfEven(h * factor)));
  const small = resizeBilinear8(arr, w, h, channels, sw, sh);
  const out = new Uint8Array(fieldH * fieldW * channels);
  const top = Math.floor((fieldH - sh) / 2), left = Math.floor((fieldW - sw) / 2);
  for (let y = 0; y < sh; y++) {
    out.set(small.subarray(y * sw * channels, (y + 1) * sw * channels), ((top + y) * fieldW + left) * channels);
  }
  return out;
}

/**
 * RGBA pixels of a picture (drawn on white) -> the model's uint8 input (H x W x C), following
 * the model record's preprocessing, as images.py prepare_for: "mnist" (the digit preparation
 * in MNIST's 28x28 field, then fitted to the model's size if it differs) or "resize".
 */
export function prepareRGBA(rgba, w, h, model) {
  const [H, W, C] = model.input_shape;
  const pre = model.preprocessing;
  if ((pre.prepare || "resize") === "mnist") {
    const digit = toMnist(greyFromRGBA(rgba, w, h), w, h);
    return H === MNIST_FIELD && W === MNIST_FIELD && C === 1 ? digit : fitPixels(digit, MNIST_FIELD, MNIST_FIELD, 1, H, W, C);
  }
  if (C === 1) return fitPixels(greyFromRGBA(rgba, w, h), w, h, 1, H, W, 1);
  return fitPixels(rgbFromRGBA(rgba, w, h), w, h, 3, H, W, 3);
}

// ---- the model's input and inference --------------------------------------------------------

/**
 * The model input for each pixel value 0..255, exactly as edgecnn's runtime computes it:
 * float32(p) / float32(255); a file that asks for another affine map gets
 * x * float32(255 * scale) + float32(offset), in float32.
 */
export function pixelTable(pre) {
  const unit = 1 / 255;
  const scale = Number(pre.scale ?? unit), offset = Number(pre.offset ?? 0);
  const isUnit = Math.abs(scale - unit) <= 1e-6 * unit && Math.abs(offset) < 1e-9;
  const table = new Float32Array(256);
  for (let p = 0; p < 256; p++) {
    let x = f32(p / 255);
    if (!isUnit) x = f32(f32(x * f32(255 * scale)) + f32(offset));
    table[p] = x;
  }
  return table;
}

export async function loadIndex(url = "models.json") {
  let res;
  try {
    res = await fetch(url, { cache: "no-cache" });
  } catch (err) {
    throw new Error(`cannot fetch ${url}: ${err.message}`);
  }
  if (!res.ok) throw new Error(`cannot fetch ${url}: HTTP ${res.status}`);
  return res.json();
}

/** Point ONNX Runtime Web at its own files next to the page, with `threads` wasm threads. */
export function configureRuntime(ort, runtimeDir, threads) {
  ort.env.wasm.wasmPaths = new URL(runtimeDir.endsWith("/") ? runtimeDir : runtimeDir + "/", document.baseURI).href;
  ort.env.wasm.numThreads = threads;
  ort.env.logLevel = "error";
}

/**
 * Start LiteRT.js from its own files next to the page (`wasmJs`: its wasm loader script). Its
 * WebAssembly writes log lines to stderr ("INFO: ..."), which would land in console.error:
 * they are routed by level, so that only real errors are logged as errors.
 */
export async function startLiteRt(lrt, runtimeDir, wasmJs) {
  self.Module = {
    printErr: (line) => {
      if (/^(INFO|VERBOSE)\b/.test(line)) console.debug(line);
      else if (/^WARNING\b/.test(line)) console.warn(line);
      else console.error(line);
    },
    print: (line) => console.debug(line),
  };
  await lrt.loadLiteRt(new URL(`${runtimeDir}/${wasmJs}`, document.baseURI).href);
  return lrt;
}

async function fetchBytes(file) {
  const res = await fetch(file);
  if (!res.ok) throw new Error(`cannot fetch ${file}: HTTP ${res.status}`);
  return new Uint8Array(await res.arrayBuffer());
}

function checkNames(entry, inputs, outputs) {
  const model = entry.model;
  for (const [names, name, what] of [[inputs, model.input_name, "input"], [outputs, model.output_name, "output"]]) {
    if (!names.includes(name)) throw new Error(`${entry.file}: no ${what} named "${name}" (has ${names.join(", ")})`);
  }
}

/**
 * One model from models.json, in its runtime (`runtimes[entry.runtime]`: the onnxruntime-web
 * module, or the started LiteRT.js module): its record, its pixel table and `run(float32) -> float32`.
 */
export async function loadModel(runtimes, entry) {
  const model = entry.model;
  if ((model.preprocessing.layout || "NHWC") !== "NHWC") {
    throw new Error(`${entry.file}: layout ${model.preprocessing.layout} is not supported (NHWC only)`);
  }
  const bytes = await fetchBytes(entry.file);
  const shape = [1, ...model.input_shape];
  let run;
  if (entry.runtime === "litert.js") {
    const lrt = runtimes["litert.js"];
    const compiled = await lrt.loadAndCompile(bytes, { accelerator: "wasm" });
    checkNames(entry, compiled.getInputDetails().map((d) => d.name), compiled.getOutputDetails().map((d) => d.name));
    run = async (x) => {
      const input = new lrt.Tensor(x, shape);
      let outputs;
      try {
        outputs = await compiled.run(input);
      } finally {
        input.delete();
      }
      try {
        return Float32Array.from(outputs[0].toTypedArray());
      } finally {
        for (const t of outputs) t.delete();
      }
    };
  } else {
    const ort = runtimes["onnxruntime-web"];
    const session = await ort.InferenceSession.create(bytes, {
      executionProviders: ["wasm"], graphOptimizationLevel: "all",
    });
    checkNames(entry, session.inputNames, session.outputNames);
    run = async (x) => {
      const out = await session.run({ [model.input_name]: new ort.Tensor("float32", x, shape) });
      return Float32Array.from(out[model.output_name].data);
    };
  }
  return { entry, model, run, table: pixelTable(model.preprocessing) };
}

/** uint8 pixels (H x W x C) -> the float32 input tensor's data. */
export function toInput(loaded, pixels) {
  const n = loaded.model.input_shape.reduce((a, b) => a * b, 1);
  if (pixels.length !== n) throw new Error(`expected ${n} pixels, got ${pixels.length}`);
  const x = new Float32Array(n);
  for (let i = 0; i < n; i++) x[i] = loaded.table[pixels[i]];
  return x;
}

/** One prediction: probabilities (float32, one per label) and the milliseconds it took. */
export async function predict(loaded, pixels) {
  const t0 = performance.now();
  const probs = await loaded.run(toInput(loaded, pixels));
  const ms = performance.now() - t0;
  if (probs.length !== loaded.model.labels.length) {
    throw new Error(`${loaded.entry.file}: ${probs.length} outputs for ${loaded.model.labels.length} labels`);
  }
  return { probs, ms };
}

/** The k most probable labels: [{label, index, p}], best first. */
export function topK(probs, labels, k = 3) {
  return Array.from(probs, (p, index) => ({ p, index, label: labels[index] }))
    .sort((a, b) => b.p - a.p || a.index - b.index)
    .slice(0, k);
}

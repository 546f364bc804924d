"""The report's "In the browser" section, from verify.json's ``browser-chromium-wasm`` entry (no heavy imports)."""

from __future__ import annotations

from typing import Any

SECTION = "browser-chromium-wasm"  # = edgecnn.platforms.browser.SECTION


def _ms(value: float | None) -> str:
    return "–" if value is None else f"{value:,.0f} ms"


def browser_lines(entry: dict[str, Any]) -> list[str]:
    """Markdown lines: parity per file, browser timings (labelled as such) and the screenshot."""
    lines = [f"The web bundle (`edgecnn bundle --target web`) in headless {entry.get('browser', 'Chromium')}, "
             f"{', '.join((entry.get('runtimes') or {}).values()) or entry.get('runtime', '')}, WebAssembly, "
             f"{entry.get('threads', 1)} thread: {entry.get('samples', 0):,} test images "
             "through the page's own JavaScript, compared with the same file in Python and with Keras. "
             "Times are browser figures (performance.now() per image at batch 1), not comparable with the "
             "native benchmarks above."
             + (f" Page load (navigation until the page is ready): {entry['page_load_ms']:,.0f} ms."
                if entry.get("page_load_ms") is not None else ""), "",
             "| file | runtime | vs Python: agreement | vs Python: max abs diff | vs Keras: agreement | "
             "model load | browser median per image | verdict |", "|---|---|---|---|---|---|---|---|"]
    for name, row in entry.get("artifacts", {}).items():
        py, t = row.get("vs_python", {}), row.get("browser_timing", {})
        lines.append(f"| {name} | {row.get('runtime', 'onnxruntime-web')} | {100 * py.get('agreement', 0):.2f} % "
                     f"| {py.get('max_abs_diff', 0):.1e} | {100 * row.get('agreement', 0):.2f} % "
                     f"| {_ms(t.get('model_load_ms'))} | {t.get('median_us', 0):.0f} µs | {row.get('status', '–')} |")
    if any(row.get("variant_of") for row in entry.get("artifacts", {}).values()):
        lines += ["", "The `*_b1.tflite` files are batch-1, float-I/O conversions of the same Keras model "
                      "(LiteRT.js refuses the standard files); `vs Python` runs that same file in LiteRT."]
    prep = entry.get("preparation")
    if prep:
        lines += ["", f"Image preparation (JavaScript port of `images.py`): {prep['identical']} of {prep['photos']} "
                      "synthetic photos give byte-identical inputs."]
    for problem in entry.get("problems", []):
        lines.append(f"- Problem: {problem}")
    if entry.get("screenshot"):
        drawn = entry.get("drawn", {})
        lines += ["", f"A digit drawn on the page with mouse moves, classified as **{drawn.get('top', '?')}** "
                      f"by the {drawn.get('model', '')} model:", "",
                  f"![The web page in Chromium]({entry['screenshot']})"]
    return lines

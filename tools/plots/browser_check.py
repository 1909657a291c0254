"""Check, in a real headless browser, that a ``dvc plots show`` page renders.

``check_rendered(html_path, min_charts)`` opens the page in Debian's
``/usr/bin/chromium`` (headless, fresh profile, all host-name lookups made to
fail so nothing can come from the network) and counts the charts that
vega-embed actually drew.

How "rendered" is decided
-------------------------
The page is copied to a temp dir with a ``<base href>`` pointing back at the
original folder (so ``static/*.png`` still resolve) and two small scripts
injected:

* at the top of ``<head>``: records JS errors / unhandled promise rejections
  and wraps ``window.vegaEmbed`` (when a library defines it) to count
  ``vegaEmbed()`` calls and how many of their promises resolved / rejected;
* at the end of ``<body>``: polls (on virtual time) until every embed has
  settled, then inspects each vega-embed chart: for the canvas renderer
  (vega-embed's default, which DVC's page uses) it reads the canvas pixels
  with ``getImageData`` and counts non-white and "coloured" (saturated)
  pixels; for the SVG renderer it counts drawn SVG elements inside
  ``svg.marks``.  ``<img>`` elements (DVC image plots) are counted as loaded
  when ``naturalWidth > 0``.  The result is written as JSON into the DOM.

Chromium is run with ``--virtual-time-budget`` and ``--dump-dom``; the JSON is
read back from the dumped DOM.  A chart counts as rendered when its
canvas/SVG exists and it has at least ``min_pixels`` non-white pixels (canvas)
or ``min_svg_marks`` drawn elements (SVG).  Note that raw ``<svg`` counting
would be wrong: vega-embed's "..." actions menu is itself an ``<svg>`` icon.

Optionally (``screenshot=PATH``) a second chromium run takes a PNG screenshot
and the non-white pixel fraction is reported too (independent of the JS probe).

Only stdlib + numpy/pillow (pillow only for the optional screenshot).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any, Optional, Union

CHROMIUM = "/usr/bin/chromium"
INSTALL_HINT = "run tools/plots/install_chromium.sh (apt-get install chromium) first"

RESULT_ID = "__dvc_plots_check_result__"

CHROME_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--disable-dev-shm-usage",  # small /dev/shm in containers/CI
    "--hide-scrollbars",
    "--mute-audio",
    # Make every host-name lookup fail: the check must prove the page works
    # offline even on a machine that does have network.
    "--host-resolver-rules=MAP * ~NOTFOUND",
]


class PlotsCheckError(RuntimeError):
    """The page could not be checked, or fewer charts than expected drew."""


class ChromiumNotFoundError(PlotsCheckError):
    pass


# --------------------------------------------------------------------------
# injected JavaScript
# --------------------------------------------------------------------------

_HEAD_JS = r"""
<script>
(function () {
  var S = window.__plotsCheck = {errors: [], calls: 0, resolved: 0, rejected: 0, empty: 0};
  function msg(e) { try { return String(e && (e.message || e)); } catch (_) { return '?'; } }
  window.addEventListener('error', function (ev) {
    S.errors.push(msg(ev.error || ev.message) +
                  (ev.filename ? ' @' + ev.filename + ':' + ev.lineno : ''));
  });
  window.addEventListener('unhandledrejection', function (ev) {
    S.errors.push('unhandled rejection: ' + msg(ev.reason));
  });
  var real;
  function wrap(fn) {
    if (typeof fn !== 'function') return fn;
    var w = function () {
      S.calls++;
      var spec = arguments[1];
      if (spec && typeof spec === 'object' && Object.keys(spec).length === 0) S.empty++;
      var p;
      try { p = fn.apply(this, arguments); }
      catch (e) { S.rejected++; S.errors.push('vegaEmbed threw: ' + msg(e)); throw e; }
      Promise.resolve(p).then(function () { S.resolved++; },
        function (e) { S.rejected++; S.errors.push('vegaEmbed rejected: ' + msg(e)); });
      return p;
    };
    for (var k in fn) { try { w[k] = fn[k]; } catch (_) {} }
    return w;
  }
  try {
    Object.defineProperty(window, 'vegaEmbed', {
      configurable: true, enumerable: true,
      get: function () { return real; },
      set: function (v) { real = wrap(v); }
    });
  } catch (_) {}
})();
</script>
"""

_BODY_JS = r"""
<script>
(function () {
  var S = window.__plotsCheck;
  var MAX_TICKS = %(max_ticks)d, tick = 0, settledTicks = 0;
  function canvasStats(c) {
    var r = {kind: 'canvas', width: c.width, height: c.height, nonwhite: 0, colored: 0};
    try {
      var d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
      for (var i = 0; i < d.length; i += 4) {
        if (d[i + 3] < 16) continue;                       // transparent
        var R = d[i], G = d[i + 1], B = d[i + 2];
        if (R > 245 && G > 245 && B > 245) continue;       // white
        r.nonwhite++;
        var mx = Math.max(R, G, B), mn = Math.min(R, G, B);
        if (mx - mn > 40) r.colored++;                     // saturated = data marks
      }
    } catch (e) { r.error = String(e && e.message || e); }
    return r;
  }
  function svgStats(s) {
    var marks = s.querySelectorAll('path, line, rect, circle, text, polygon, polyline, ellipse');
    return {kind: 'svg', width: s.clientWidth, height: s.clientHeight, elements: marks.length};
  }
  function collect() {
    var charts = [];
    var embeds = document.querySelectorAll('.vega-embed');
    for (var i = 0; i < embeds.length; i++) {
      var e = embeds[i], host = e.closest('[id]');
      var c = e.querySelector('canvas.marks'), s = e.querySelector('svg.marks');
      var st = c ? canvasStats(c) : (s ? svgStats(s) : {kind: 'none'});
      st.id = host ? host.id : null;
      charts.push(st);
    }
    var imgs = document.querySelectorAll('img'), images = [];
    for (var j = 0; j < imgs.length; j++) {
      images.push({src: imgs[j].getAttribute('src'),
                   loaded: !!(imgs[j].complete && imgs[j].naturalWidth > 0),
                   width: imgs[j].naturalWidth, height: imgs[j].naturalHeight});
    }
    var ext = [];
    document.querySelectorAll('script[src], link[href], img[src]').forEach(function (n) {
      var u = n.getAttribute('src') || n.getAttribute('href') || '';
      if (/^(https?:)?\/\//i.test(u)) ext.push(u);
    });
    return {
      done: false, tick: tick,
      vega_defined: typeof window.vega !== 'undefined',
      vega_lite_defined: typeof window.vegaLite !== 'undefined',
      vega_embed_defined: typeof window.vegaEmbed === 'function',
      embed_calls: S ? S.calls : -1, embed_resolved: S ? S.resolved : -1,
      embed_rejected: S ? S.rejected : -1, empty_specs: S ? S.empty : -1, errors: S ? S.errors.slice(0, 20) : [],
      charts: charts, images: images, external_urls: ext
    };
  }
  function publish(res) {
    var el = document.getElementById('%(rid)s');
    if (!el) {
      el = document.createElement('script');
      el.type = 'application/json'; el.id = '%(rid)s';
      document.body.appendChild(el);
    }
    el.textContent = JSON.stringify(res).replace(/</g, '\\u003c');
  }
  function step() {
    tick++;
    var res = collect();
    var imgsDone = Array.prototype.every.call(document.querySelectorAll('img'),
                                              function (im) { return im.complete; });
    var settled = S && (S.resolved + S.rejected >= S.calls) && imgsDone;
    settledTicks = settled ? settledTicks + 1 : 0;
    // a couple of extra ticks after settling so canvases are painted
    if (settledTicks >= 3 || tick >= MAX_TICKS) {
      res.done = true; res.settled = !!settled; publish(res); return;
    }
    publish(res);
    setTimeout(step, 100);
  }
  window.addEventListener('load', function () { setTimeout(step, 50); });
})();
</script>
"""


def _instrument(html: str, base_dir: Path, max_ticks: int) -> str:
    base = f'<base href="{base_dir.resolve().as_uri()}/">'
    head = base + _HEAD_JS
    m = re.search(r"<head[^>]*>", html, flags=re.I)
    if m:
        html = html[: m.end()] + head + html[m.end():]
    else:
        m = re.search(r"<html[^>]*>", html, flags=re.I)
        pos = m.end() if m else 0
        html = html[:pos] + "<head>" + head + "</head>" + html[pos:]
    body = _BODY_JS % {"rid": RESULT_ID, "max_ticks": max_ticks}
    idx = html.lower().rfind("</body>")
    if idx < 0:
        return html + body
    return html[:idx] + body + html[idx:]


# --------------------------------------------------------------------------
# chromium
# --------------------------------------------------------------------------

def find_chromium(chromium: Optional[str] = None) -> str:
    exe = chromium or os.environ.get("PLOTS_CHECK_CHROMIUM") or CHROMIUM
    if not (os.path.isfile(exe) and os.access(exe, os.X_OK)):
        raise ChromiumNotFoundError(f"chromium not found at {exe}: {INSTALL_HINT}")
    return exe


def _run_chromium(exe: str, args: list[str], timeout: float) -> subprocess.CompletedProcess:
    profile = tempfile.mkdtemp(prefix="plots-check-profile-")
    cmd = [exe, *CHROME_FLAGS, f"--user-data-dir={profile}", *args]
    env = dict(os.environ)
    env.pop("DISPLAY", None)
    env.pop("WAYLAND_DISPLAY", None)
    # keep the Debian wrapper from trying to talk to a session bus
    env.setdefault("DBUS_SESSION_BUS_ADDRESS", "disabled:")
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=env, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # only the group we started
        except ProcessLookupError:
            pass
        proc.communicate()
        raise PlotsCheckError(f"chromium timed out after {timeout}s: {' '.join(cmd)}")
    finally:
        shutil.rmtree(profile, ignore_errors=True)
    return subprocess.CompletedProcess(cmd, proc.returncode,
                                       out.decode("utf8", "replace"),
                                       err.decode("utf8", "replace"))


def _stderr_tail(err: str, n: int = 15) -> str:
    lines = [ln for ln in err.splitlines() if "dbus" not in ln.lower()]
    return "\n".join(lines[-n:])


def screenshot_stats(png_path: Union[str, Path]) -> dict[str, Any]:
    """Non-white pixel count / fraction of a PNG screenshot."""
    import numpy as np
    from PIL import Image

    with Image.open(png_path) as im:
        a = np.asarray(im.convert("RGB"), dtype=np.int16)
    nonwhite = ~(a > 245).all(axis=-1)
    sat = (a.max(axis=-1) - a.min(axis=-1)) > 40
    return {
        "width": int(a.shape[1]),
        "height": int(a.shape[0]),
        "nonwhite_pixels": int(nonwhite.sum()),
        "nonwhite_fraction": float(nonwhite.mean()),
        "colored_pixels": int(sat.sum()),
    }


# --------------------------------------------------------------------------
# public API
# --------------------------------------------------------------------------

def check_rendered(
    html_path: Union[str, Path],
    min_charts: int = 1,
    *,
    min_images: int = 0,
    min_pixels: int = 200,
    min_svg_marks: int = 5,
    chromium: Optional[str] = None,
    virtual_time_budget_ms: int = 10000,
    timeout: float = 90.0,
    screenshot: Optional[Union[str, Path]] = None,
    window_size: str = "1280,2400",
) -> dict[str, Any]:
    """Render ``html_path`` in headless chromium and count drawn charts.

    Returns a dict with ``charts_rendered``, ``charts_found``,
    ``images_loaded``, ``images_found``, per-chart details (``charts``),
    ``errors`` (JS errors), ``external_urls`` and timing.  Raises
    :class:`ChromiumNotFoundError` if chromium is missing and
    :class:`PlotsCheckError` if fewer than ``min_charts`` charts (or
    ``min_images`` images) rendered.
    """
    html_path = Path(html_path)
    if not html_path.is_file():
        raise PlotsCheckError(f"no such HTML file: {html_path}")
    exe = find_chromium(chromium)

    t0 = time.monotonic()
    max_ticks = max(10, virtual_time_budget_ms // 100 - 5)
    src = html_path.read_text(encoding="utf8")
    with tempfile.TemporaryDirectory(prefix="plots-check-") as tmp:
        probe = Path(tmp) / "probe.html"
        probe.write_text(_instrument(src, html_path.parent, max_ticks), encoding="utf8")
        cp = _run_chromium(exe, [f"--virtual-time-budget={virtual_time_budget_ms}",
                                 "--dump-dom", probe.as_uri()], timeout)

    m = re.search(
        r'<script[^>]*id="%s"[^>]*>(.*?)</script>' % re.escape(RESULT_ID),
        cp.stdout, flags=re.S)
    if cp.returncode != 0 or not m:
        raise PlotsCheckError(
            f"chromium did not produce a result (rc={cp.returncode}, "
            f"{len(cp.stdout)} bytes of DOM); stderr tail:\n{_stderr_tail(cp.stderr)}")
    probe_res = json.loads(m.group(1))

    charts = probe_res["charts"]
    for c in charts:
        if c["kind"] == "canvas":
            c["rendered"] = c["nonwhite"] >= min_pixels and "error" not in c
        elif c["kind"] == "svg":
            c["rendered"] = c["elements"] >= min_svg_marks
        else:
            c["rendered"] = False
    images = probe_res["images"]

    result: dict[str, Any] = {
        "html": str(html_path),
        "charts_found": len(charts),
        "charts_rendered": sum(c["rendered"] for c in charts),
        "images_found": len(images),
        "images_loaded": sum(i["loaded"] for i in images),
        "embed_calls": probe_res["embed_calls"],
        "embed_resolved": probe_res["embed_resolved"],
        "embed_rejected": probe_res["embed_rejected"],
        "empty_specs": probe_res.get("empty_specs", 0),
        "libraries": {
            "vega": probe_res["vega_defined"],
            "vega-lite": probe_res["vega_lite_defined"],
            "vega-embed": probe_res["vega_embed_defined"],
        },
        "settled": probe_res.get("settled", False),
        "errors": probe_res["errors"],
        "external_urls": probe_res["external_urls"],
        "charts": charts,
        "images": images,
    }

    if screenshot is not None:
        shot = Path(screenshot).resolve()
        shot.parent.mkdir(parents=True, exist_ok=True)
        cp2 = _run_chromium(exe, [f"--virtual-time-budget={virtual_time_budget_ms}",
                                  f"--window-size={window_size}",
                                  f"--screenshot={shot}", html_path.resolve().as_uri()],
                            timeout)
        if not shot.is_file():
            raise PlotsCheckError(f"chromium wrote no screenshot (rc={cp2.returncode}):\n"
                                  f"{_stderr_tail(cp2.stderr)}")
        result["screenshot"] = {"path": str(shot), **screenshot_stats(shot)}

    result["seconds"] = round(time.monotonic() - t0, 2)

    problems = []
    if result["charts_rendered"] < min_charts:
        problems.append(
            f"only {result['charts_rendered']} of {min_charts} expected charts rendered "
            f"({result['charts_found']} vega-embed containers, "
            f"{result['embed_calls']} vegaEmbed calls)")
        if result["empty_specs"] > 0:
            problems.append(
                f"{result['empty_specs']} plot(s) have an empty vega spec {{}}: DVC found "
                "no data for them (plot files missing? pipeline not run yet?)")
        missing = [k for k, v in result["libraries"].items() if not v]
        if missing:
            problems.append("JavaScript libraries not loaded: " + ", ".join(missing) +
                            " (HTML template without inlined vega? CDN unreachable?)")
    if result["images_loaded"] < min_images:
        problems.append(f"only {result['images_loaded']} of {min_images} expected images loaded")
    if problems:
        detail = "; ".join(problems)
        if result["errors"]:
            detail += "\nJS errors:\n  " + "\n  ".join(result["errors"][:10])
        if result["external_urls"]:
            detail += "\nexternal URLs in page:\n  " + "\n  ".join(result["external_urls"][:10])
        err = PlotsCheckError(f"{html_path}: {detail}")
        err.result = result  # type: ignore[attr-defined]
        raise err
    return result


def summarize(result: dict[str, Any]) -> str:
    lines = [
        f"{result['html']}",
        f"  charts rendered: {result['charts_rendered']}/{result['charts_found']} "
        f"(vegaEmbed calls {result['embed_calls']}, resolved {result['embed_resolved']}, "
        f"rejected {result['embed_rejected']}, empty specs {result['empty_specs']})",
        f"  images loaded:   {result['images_loaded']}/{result['images_found']}",
    ]
    for c in result["charts"]:
        if c["kind"] == "canvas":
            info = f"canvas {c['width']}x{c['height']} nonwhite={c['nonwhite']} colored={c['colored']}"
        elif c["kind"] == "svg":
            info = f"svg elements={c['elements']}"
        else:
            info = "no canvas/svg"
        lines.append(f"    - {c['id']}: {'OK ' if c['rendered'] else 'BAD'} {info}")
    if "screenshot" in result:
        s = result["screenshot"]
        lines.append(f"  screenshot: {s['path']} nonwhite={s['nonwhite_fraction']:.1%} "
                     f"colored_pixels={s['colored_pixels']}")
    if result["errors"]:
        lines.append("  JS errors: " + " | ".join(result["errors"][:5]))
    if result["external_urls"]:
        lines.append("  external URLs: " + " ".join(result["external_urls"][:5]))
    lines.append(f"  took {result['seconds']}s")
    return "\n".join(lines)

/* app.js owns the behaviour of Metricstor's embedded UI: the PromQL editor with autocomplete, the
 * table and graph views (a small hand-written canvas chart: lines, stacking, legend, hover), the
 * series explorer and the TSDB status page. It talks only to the same-origin HTTP API and needs
 * nothing from the network. */
'use strict';
(function () {

const $ = (id) => document.getElementById(id);
const el = (tag, attrs, ...kids) => {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === 'class') e.className = v;
    else if (k === 'text') e.textContent = v;
    else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v);
  }
  for (const c of kids) if (c != null) e.append(c);
  return e;
};

/* ---------------- API access ---------------- */

class ApiError extends Error {
  constructor(type, message, status) { super(message); this.type = type; this.status = status; }
}

/* Calls one API endpoint; POST sends form values (as Grafana does), GET puts them in the URL.
 * Resolves to the `data` member; rejects with ApiError carrying Prometheus's errorType. */
async function api(path, params, method) {
  const body = new URLSearchParams();
  for (const [k, v] of params || []) body.append(k, v);
  const opts = { method: method || 'GET', headers: {} };
  let url = path;
  if (opts.method === 'POST') {
    opts.body = body;
    opts.headers['Content-Type'] = 'application/x-www-form-urlencoded';
  } else if ([...body].length) {
    url += '?' + body.toString();
  }
  let resp;
  try {
    resp = await fetch(url, opts);
  } catch (e) {
    throw new ApiError('network', 'cannot reach the server: ' + e.message, 0);
  }
  const text = await resp.text();
  let js = null;
  try { js = JSON.parse(text); } catch (e) { /* not JSON: reported below */ }
  if (js && js.status === 'success') return js.data;
  if (js && js.status === 'error') throw new ApiError(js.errorType || 'error', js.error || '(no message)', resp.status);
  throw new ApiError('http', `HTTP ${resp.status}: ${text.trim().slice(0, 500)}`, resp.status);
}

function showError(box, err, what) {
  if (!err) { box.hidden = true; box.textContent = ''; return; }
  box.hidden = false;
  box.textContent = '';
  box.append(el('b', { text: (what || 'Error') + ' ' }), `${err.type ? err.type + ': ' : ''}${err.message}`);
}

/* ---------------- formatting helpers ---------------- */

const DUR_UNITS = { y: 365 * 86400, w: 7 * 86400, d: 86400, h: 3600, m: 60, s: 1, ms: 0.001 };

/* "1h30m" -> 5400 (seconds); a bare number is seconds; null when malformed. */
function parseDuration(s) {
  s = String(s).trim();
  if (!s) return null;
  if (/^\d+(\.\d+)?$/.test(s)) return parseFloat(s);
  const re = /(\d+)(ms|[ywdhms])/gy;
  let total = 0, m, pos = 0;
  while ((m = re.exec(s)) !== null) { total += parseInt(m[1], 10) * DUR_UNITS[m[2]]; pos = re.lastIndex; }
  return pos === s.length && total > 0 ? total : null;
}

function formatDuration(sec) {
  if (sec <= 0) return '0s';
  let out = '';
  for (const u of ['w', 'd', 'h', 'm', 's']) {
    const n = Math.floor(sec / DUR_UNITS[u]);
    if (n > 0) { out += n + u; sec -= n * DUR_UNITS[u]; }
  }
  return out || '0s';
}

/* A sample value as the API writes it ("1.5", "+Inf", "-Inf", "NaN") -> number. */
function parseValue(v) {
  if (typeof v !== 'string') return v;
  if (v === '+Inf' || v === 'Inf') return Infinity;
  if (v === '-Inf') return -Infinity;
  return parseFloat(v);
}

function formatValue(v) {
  v = parseValue(v);
  if (!isFinite(v)) return String(v);
  const a = Math.abs(v);
  if (a !== 0 && (a >= 1e15 || a < 1e-4)) return v.toExponential(3);
  return String(+v.toPrecision(6));
}

function pad(n, w) { return String(n).padStart(w || 2, '0'); }
function fmtTime(ms, withDate) {
  const d = new Date(ms);
  const hm = `${pad(d.getHours())}:${pad(d.getMinutes())}`;
  const sec = d.getSeconds() ? ':' + pad(d.getSeconds()) : '';
  return withDate ? `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${hm}${sec}` : hm + sec;
}
function fmtFullTime(ms) {
  const d = new Date(ms);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}
/* datetime-local input value <-> epoch seconds (local time); empty means "now". */
function inputTime(input) {
  if (!input.value) return Date.now() / 1000;
  const t = new Date(input.value).getTime();
  return isNaN(t) ? Date.now() / 1000 : t / 1000;
}
function setInputTime(input, sec) {
  const d = new Date(sec * 1000);
  input.value = `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

function seriesName(metric) {
  const name = metric.__name__ || '';
  const parts = Object.keys(metric).filter((k) => k !== '__name__').sort()
    .map((k) => `${k}=${JSON.stringify(metric[k])}`);
  if (!parts.length) return name || '{}';
  return `${name}{${parts.join(', ')}}`;
}

/* ---------------- autocomplete ---------------- */

const FUNCTIONS = ('abs absent absent_over_time acos acosh asin asinh atan atanh avg_over_time ceil changes clamp clamp_max ' +
  'clamp_min cos cosh count_over_time day_of_month day_of_week day_of_year days_in_month deg delta deriv exp floor ' +
  'histogram_quantile holt_winters hour idelta increase irate label_join label_replace last_over_time ln log10 log2 ' +
  'mad_over_time max_over_time min_over_time minute month pi predict_linear present_over_time quantile_over_time rad ' +
  'rate resets round scalar sgn sin sinh sort sort_desc sqrt stddev_over_time stdvar_over_time sum_over_time tan tanh ' +
  'time timestamp vector year').split(' ');
const AGGREGATIONS = 'sum min max avg group stddev stdvar count count_values bottomk topk quantile'.split(' ');
const KEYWORDS = 'by without on ignoring group_left group_right offset bool and or unless'.split(' ');

const cache = { metrics: null, metricsAt: 0, labels: new Map(), values: new Map() };
const CACHE_MS = 30000;

async function metricNames() {
  if (!cache.metrics || Date.now() - cache.metricsAt > CACHE_MS) {
    cache.metrics = await api('/api/v1/label/__name__/values').catch(() => cache.metrics || []);
    cache.metricsAt = Date.now();
  }
  return cache.metrics;
}
async function cachedList(map, key, path, metric) {
  const hit = map.get(key);
  if (hit && Date.now() - hit.at < CACHE_MS) return hit.list;
  let list;
  try {
    list = await api(path, metric ? [['match[]', metric]] : []);
  } catch (e) {
    list = metric ? await api(path).catch(() => []) : [];
  }
  map.set(key, { at: Date.now(), list });
  return list;
}
function labelNames(metric) {
  return cachedList(cache.labels, metric || '', '/api/v1/labels', metric).then((l) => l.filter((n) => n !== '__name__'));
}
function labelValues(name, metric) {
  return cachedList(cache.values, name + '\u0000' + (metric || ''), `/api/v1/label/${encodeURIComponent(name)}/values`, metric);
}

/* Works out what the text before the cursor is in the middle of: a metric/function name, a label
 * name inside {...} or by (...), or a label value after name=" . Returns null where nothing fits
 * (inside a [range], a number, a string outside a selector). */
function completionContext(text) {
  let depthBrace = -1, inStr = null, inBracket = false, braceStart = -1;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (inStr) {
      if (c === '\\') i++;
      else if (c === inStr) inStr = null;
      continue;
    }
    if (c === '"' || c === "'" || c === '`') inStr = c;
    else if (c === '{') { depthBrace = i; braceStart = i; }
    else if (c === '}') depthBrace = -1;
    else if (c === '[') inBracket = true;
    else if (c === ']') inBracket = false;
    else if (c === '#') { const nl = text.indexOf('\n', i); if (nl < 0) return null; i = nl; }
  }
  if (inBracket) return null;
  if (depthBrace >= 0) {
    const before = text.slice(0, braceStart);
    const mm = /([a-zA-Z_:][a-zA-Z0-9_:]*)\s*$/.exec(before);
    const metric = mm && !FUNCTIONS.includes(mm[1]) && !AGGREGATIONS.includes(mm[1]) ? mm[1] : null;
    const seg = text.slice(braceStart + 1).split(',').pop();
    let m = /^\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)$/.exec(seg);
    if (m) return { kind: 'value', label: m[1], prefix: m[3], metric };
    if (inStr) return null;
    m = /^\s*([a-zA-Z_][a-zA-Z0-9_]*)?$/.exec(seg);
    if (m) return { kind: 'label', prefix: m[1] || '', metric, selector: true };
    return null;
  }
  if (inStr) return null;
  const grp = /\b(by|without|on|ignoring|group_left|group_right)\s*\(([^()]*)$/.exec(text);
  if (grp) {
    const m = /([a-zA-Z_][a-zA-Z0-9_]*)?$/.exec(grp[2]);
    return { kind: 'label', prefix: m[1] || '', metric: null };
  }
  const m = /(^|[^a-zA-Z0-9_:.])([a-zA-Z_:][a-zA-Z0-9_:]*)$/.exec(text);
  if (m) return { kind: 'metric', prefix: m[2] };
  return null;
}

function rank(list, prefix) {
  const p = prefix.toLowerCase();
  const starts = [], contains = [];
  for (const item of list) {
    const s = item.text.toLowerCase();
    if (s === p) continue;
    if (s.startsWith(p)) starts.push(item);
    else if (p && s.includes(p)) contains.push(item);
  }
  return starts.concat(contains).slice(0, 60);
}

class Autocomplete {
  constructor(input, list) {
    this.input = input; this.list = list; this.items = []; this.sel = 0; this.ctx = null; this.seq = 0;
    input.addEventListener('input', () => this.update());
    input.addEventListener('click', () => this.update());
    input.addEventListener('blur', () => setTimeout(() => this.close(), 150));
    input.addEventListener('keydown', (e) => this.key(e));
  }
  get open() { return !this.list.hidden && this.items.length > 0; }
  close() { this.list.hidden = true; this.items = []; }
  async update() {
    const seq = ++this.seq;
    const pos = this.input.selectionStart;
    const ctx = completionContext(this.input.value.slice(0, pos));
    if (!ctx || (ctx.kind === 'metric' && ctx.prefix.length < 1)) { this.close(); return; }
    let cands;
    if (ctx.kind === 'metric') {
      const names = await metricNames();
      cands = names.map((n) => ({ text: n, kind: 'metric' }))
        .concat(AGGREGATIONS.map((n) => ({ text: n, kind: 'aggregation' })))
        .concat(FUNCTIONS.map((n) => ({ text: n, kind: 'function' })))
        .concat(KEYWORDS.map((n) => ({ text: n, kind: 'keyword' })));
    } else if (ctx.kind === 'label') {
      cands = (await labelNames(ctx.metric)).map((n) => ({ text: n, kind: 'label' }));
    } else {
      cands = (await labelValues(ctx.label, ctx.metric)).map((n) => ({ text: n, kind: 'value' }));
    }
    if (seq !== this.seq) return; /* a newer keystroke won */
    this.ctx = ctx;
    this.items = rank(cands, ctx.prefix);
    this.sel = 0;
    this.render();
  }
  render() {
    this.list.textContent = '';
    if (!this.items.length) { this.list.hidden = true; return; }
    this.items.forEach((it, i) => {
      const li = el('li', { role: 'option', class: i === this.sel ? 'sel' : '', 'data-kind': it.kind },
        el('span', { class: 'text', text: it.text }), el('span', { class: 'kind', text: it.kind }));
      li.addEventListener('mousedown', (e) => { e.preventDefault(); this.sel = i; this.accept(); });
      this.list.append(li);
    });
    this.list.hidden = false;
    const cur = this.list.children[this.sel];
    if (cur && cur.scrollIntoView) cur.scrollIntoView({ block: 'nearest' });
  }
  key(e) {
    if (!this.open) return;
    if (e.key === 'ArrowDown' || e.key === 'ArrowUp') {
      const n = this.items.length;
      this.sel = (this.sel + (e.key === 'ArrowDown' ? 1 : n - 1)) % n;
      this.render();
      e.preventDefault();
    } else if (e.key === 'Enter' || e.key === 'Tab') {
      if (e.key === 'Enter' && (e.shiftKey || e.ctrlKey)) return;
      e.preventDefault();
      e.stopImmediatePropagation();
      this.accept();
    } else if (e.key === 'Escape') {
      this.close();
      e.preventDefault();
    }
  }
  /* Replaces the word being typed with the chosen item; a label name becomes name="" with the
   * cursor inside the quotes (and value suggestions open); a value closes its quote. */
  accept() {
    const it = this.items[this.sel];
    if (!it) return;
    const inp = this.input, pos = inp.selectionStart, v = inp.value, ctx = this.ctx;
    const start = pos - ctx.prefix.length;
    let after = v.slice(pos), ins = it.text, cursor;
    if (ctx.kind === 'value') {
      ins = it.text.replace(/\\/g, '\\\\').replace(/"/g, '\\"');
      const closing = after.startsWith('"');
      cursor = start + ins.length + 1;
      if (!closing) ins += '"';
    } else if (ctx.kind === 'label' && ctx.selector && !/^\s*(=|!=|=~|!~)/.test(after)) {
      ins += '=""';
      cursor = start + ins.length - 1;
    } else {
      cursor = start + ins.length;
      if (it.kind === 'function' || it.kind === 'aggregation') {
        if (!after.startsWith('(')) { ins += '()'; }
        cursor = start + it.text.length + 1;
      }
    }
    inp.value = v.slice(0, start) + ins + after;
    inp.setSelectionRange(cursor, cursor);
    inp.dispatchEvent(new Event('input')); /* resize, and reopen for the next part (e.g. values) */
    inp.focus();
  }
}

/* ---------------- chart (canvas) ---------------- */

const PALETTE = ['#4e79a7', '#f28e2b', '#59a14f', '#e15759', '#b07aa1', '#edc948', '#76b7b2', '#ff9da7', '#9c755f', '#2f4b7c'];
function colorFor(i) {
  if (i < PALETTE.length) return PALETTE[i];
  return `hsl(${(i * 137.508) % 360}, 62%, 48%)`;
}

function niceStep(span, target) {
  const raw = span / Math.max(1, target);
  const mag = Math.pow(10, Math.floor(Math.log10(raw)));
  const n = raw / mag;
  return (n < 1.5 ? 1 : n < 3 ? 2 : n < 7 ? 5 : 10) * mag;
}
const TIME_STEPS = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400, 172800, 604800];

class Chart {
  constructor(canvas, tooltip) {
    this.canvas = canvas; this.tooltip = tooltip; this.data = null; this.hoverIdx = -1;
    canvas.addEventListener('mousemove', (e) => this.hover(e));
    canvas.addEventListener('mouseleave', () => { this.hoverIdx = -1; this.tooltip.hidden = true; this.draw(); });
    window.addEventListener('resize', () => this.draw());
  }
  /* series: [{name, color, visible, values: Float64Array aligned on the step grid (NaN = absent)}] */
  set(data, emptyText) {
    this.data = data; this.emptyText = emptyText; this.hoverIdx = -1; this.tooltip.hidden = true; this.draw();
  }

  /* The values drawn: raw, or running sums over visible series when stacked (absent counts as 0
   * for the sum but the series' own absent points stay gaps). */
  drawn() {
    const d = this.data;
    const vis = d.series.filter((s) => s.visible);
    if (!d.stacked) return vis.map((s) => ({ s, top: s.values, base: null }));
    const acc = new Float64Array(d.n);
    return vis.map((s) => {
      const base = Float64Array.from(acc);
      const top = new Float64Array(d.n);
      for (let i = 0; i < d.n; i++) {
        const v = s.values[i];
        if (isNaN(v)) { top[i] = NaN; continue; }
        acc[i] += v; top[i] = acc[i];
      }
      return { s, top, base };
    });
  }

  draw() {
    const c = this.canvas, dpr = window.devicePixelRatio || 1;
    const W = c.clientWidth, H = c.clientHeight;
    if (!W || !H) return;
    c.width = Math.round(W * dpr); c.height = Math.round(H * dpr);
    const g = c.getContext('2d');
    g.setTransform(dpr, 0, 0, dpr, 0, 0);
    g.clearRect(0, 0, W, H);
    g.font = '11px system-ui, sans-serif';
    const d = this.data;
    if (!d || !d.series.length) {
      g.fillStyle = '#8a94a3'; g.textAlign = 'center';
      g.fillText(d ? 'No data points in this range' : this.emptyText || 'Run a query to see a graph', W / 2, H / 2);
      c.dataset.series = '0';
      return;
    }
    const layers = this.drawn();
    let lo = Infinity, hi = -Infinity;
    for (const L of layers) for (let i = 0; i < d.n; i++) {
      const v = L.top[i];
      if (isFinite(v)) { if (v < lo) lo = v; if (v > hi) hi = v; }
    }
    if (d.stacked && lo > 0) lo = 0;
    if (!isFinite(lo)) { lo = 0; hi = 1; }
    if (lo === hi) { lo -= Math.abs(lo) * 0.1 || 1; hi += Math.abs(hi) * 0.1 || 1; }
    const ystep = niceStep(hi - lo, 6);
    lo = Math.floor(lo / ystep) * ystep; hi = Math.ceil(hi / ystep) * ystep;
    const yLabels = [];
    for (let v = lo; v <= hi + ystep / 2; v += ystep) yLabels.push(+v.toPrecision(12));
    const left = Math.max(...yLabels.map((v) => g.measureText(formatValue(v)).width)) + 14;
    const top = 10, right = 12, bottom = 24;
    const pw = W - left - right, ph = H - top - bottom;
    const t0 = d.start, t1 = d.end;
    const xOf = (t) => left + ((t - t0) / Math.max(1e-9, t1 - t0)) * pw;
    const yOf = (v) => top + ph - ((v - lo) / (hi - lo)) * ph;
    this.geom = { left, top, pw, ph, xOf, yOf, W, H };

    /* grid and axes */
    g.strokeStyle = '#e8ebef'; g.lineWidth = 1; g.fillStyle = '#6b7685';
    g.textAlign = 'right'; g.textBaseline = 'middle';
    for (const v of yLabels) {
      const y = Math.round(yOf(v)) + 0.5;
      g.beginPath(); g.moveTo(left, y); g.lineTo(left + pw, y); g.stroke();
      g.fillText(formatValue(v), left - 6, y);
    }
    const span = t1 - t0;
    const tstep = TIME_STEPS.find((s) => span / s <= Math.max(2, pw / 90)) || 604800 * Math.ceil(span / 604800 / 8);
    const withDate = span > 86400;
    g.textAlign = 'center'; g.textBaseline = 'top';
    const tzOff = new Date().getTimezoneOffset() * 60;
    for (let t = Math.ceil((t0 - tzOff) / tstep) * tstep + tzOff; t <= t1; t += tstep) {
      const x = Math.round(xOf(t)) + 0.5;
      g.beginPath(); g.moveTo(x, top); g.lineTo(x, top + ph); g.stroke();
      g.fillText(fmtTime(t * 1000, withDate && tstep >= 3600), x, top + ph + 6);
    }
    g.strokeStyle = '#b7c0cc';
    g.beginPath(); g.moveTo(left + 0.5, top); g.lineTo(left + 0.5, top + ph + 0.5); g.lineTo(left + pw, top + ph + 0.5); g.stroke();

    /* series: clip to the plot area; a gap in the step grid breaks the line */
    g.save();
    g.beginPath(); g.rect(left, top - 1, pw, ph + 2); g.clip();
    const tAt = (i) => d.start + i * d.step;
    if (d.stacked) {
      for (const L of layers) {
        g.fillStyle = L.s.color; g.globalAlpha = 0.25;
        let i = 0;
        while (i < d.n) {
          while (i < d.n && isNaN(L.top[i])) i++;
          const s = i;
          while (i < d.n && !isNaN(L.top[i])) i++;
          if (i - s < 1) continue;
          g.beginPath();
          for (let k = s; k < i; k++) g.lineTo(xOf(tAt(k)), yOf(L.top[k]));
          for (let k = i - 1; k >= s; k--) g.lineTo(xOf(tAt(k)), yOf(Math.max(lo, L.base[k])));
          g.closePath(); g.fill();
        }
      }
      g.globalAlpha = 1;
    }
    g.lineWidth = 2; g.lineJoin = 'round';
    for (const L of layers) {
      g.strokeStyle = L.s.color; g.fillStyle = L.s.color;
      g.beginPath();
      let prev = false, lastSingle = -1;
      for (let i = 0; i < d.n; i++) {
        const v = L.top[i];
        if (!isFinite(v)) { prev = false; continue; }
        const x = xOf(tAt(i)), y = yOf(v);
        if (prev) g.lineTo(x, y); else { g.moveTo(x, y); lastSingle = i; }
        if (prev) lastSingle = -1;
        prev = true;
        if (lastSingle >= 0 && (i + 1 >= d.n || !isFinite(L.top[i + 1]))) g.fillRect(x - 1.5, y - 1.5, 3, 3); /* lone point */
      }
      g.stroke();
    }
    /* hover marker */
    if (this.hoverIdx >= 0) {
      const x = Math.round(xOf(tAt(this.hoverIdx))) + 0.5;
      g.strokeStyle = '#9aa4b2'; g.lineWidth = 1; g.setLineDash([3, 3]);
      g.beginPath(); g.moveTo(x, top); g.lineTo(x, top + ph); g.stroke(); g.setLineDash([]);
      for (const L of layers) {
        const v = L.top[this.hoverIdx];
        if (!isFinite(v)) continue;
        g.fillStyle = L.s.color; g.beginPath(); g.arc(x, yOf(v), 3.5, 0, 2 * Math.PI); g.fill();
      }
    }
    g.restore();
    c.dataset.series = String(layers.length);
  }

  hover(e) {
    const d = this.data, gm = this.geom;
    if (!d || !d.series.length || !gm) return;
    const r = this.canvas.getBoundingClientRect();
    const x = e.clientX - r.left, y = e.clientY - r.top;
    if (x < gm.left || x > gm.left + gm.pw || y < gm.top || y > gm.top + gm.ph) {
      if (this.hoverIdx !== -1) { this.hoverIdx = -1; this.tooltip.hidden = true; this.draw(); }
      return;
    }
    const t = d.start + ((x - gm.left) / gm.pw) * (d.end - d.start);
    const idx = Math.max(0, Math.min(d.n - 1, Math.round((t - d.start) / d.step)));
    if (idx !== this.hoverIdx) { this.hoverIdx = idx; this.draw(); }
    const rows = d.series.filter((s) => s.visible && !isNaN(s.values[idx]))
      .map((s) => ({ s, v: s.values[idx] })).sort((a, b) => b.v - a.v).slice(0, 20);
    const tip = this.tooltip;
    tip.textContent = '';
    tip.append(el('div', { class: 't', text: fmtFullTime((d.start + idx * d.step) * 1000) }));
    if (!rows.length) tip.append(el('div', { text: 'no values' }));
    for (const { s, v } of rows)
      tip.append(el('div', { class: 'row' }, el('span', { class: 'swatch', style: `background:${s.color}` }),
        el('span', { text: s.name }), el('span', { class: 'v', text: formatValue(v) })));
    tip.hidden = false;
    const box = this.canvas.parentElement.getBoundingClientRect();
    const tw = tip.offsetWidth;
    let lx = x + 16;
    if (lx + tw > box.width) lx = Math.max(0, x - tw - 16);
    tip.style.left = lx + 'px';
    tip.style.top = Math.max(0, y - 10) + 'px';
  }
}

/* ---------------- query page ---------------- */

const state = { view: 'table', lastExpr: null };
const exprEl = $('expr');
const chart = new Chart($('chart'), $('tooltip'));
new Autocomplete(exprEl, $('ac'));

function autosize() {
  exprEl.style.height = 'auto';
  exprEl.style.height = Math.min(240, exprEl.scrollHeight + 2) + 'px';
}
exprEl.addEventListener('input', autosize);
exprEl.addEventListener('keydown', (e) => {
  if (e.key === 'Enter' && !e.shiftKey) { e.preventDefault(); execute(); }
});
$('run').addEventListener('click', () => execute());

function setView(v) {
  state.view = v;
  for (const b of document.querySelectorAll('.tab')) b.classList.toggle('active', b.dataset.view === v);
  $('view-table').hidden = v !== 'table';
  $('view-graph').hidden = v !== 'graph';
  if (exprEl.value.trim()) execute();
  else if (v === 'graph') chart.draw();
}
for (const b of document.querySelectorAll('.tab')) b.addEventListener('click', () => setView(b.dataset.view));

const RANGES = [60, 300, 900, 1800, 3600, 7200, 21600, 43200, 86400, 172800, 604800, 1209600, 2592000];
function stepRange(dir) {
  const cur = parseDuration($('range').value) || 3600;
  let i = RANGES.findIndex((r) => r >= cur);
  if (i < 0) i = RANGES.length - 1;
  if (dir < 0) i = RANGES[i] === cur ? Math.max(0, i - 1) : Math.max(0, i - 1);
  else i = RANGES[i] === cur ? Math.min(RANGES.length - 1, i + 1) : i;
  $('range').value = formatDuration(RANGES[i]);
  execute();
}
$('range-minus').addEventListener('click', () => stepRange(-1));
$('range-plus').addEventListener('click', () => stepRange(1));
for (const id of ['range', 'step']) $(id).addEventListener('change', () => execute());
$('end').addEventListener('change', () => execute());
$('end-now').addEventListener('click', () => { $('end').value = ''; execute(); });
$('table-time').addEventListener('change', () => execute());
$('table-now').addEventListener('click', () => { $('table-time').value = ''; execute(); });
$('stacked').addEventListener('change', () => {
  if (chart.data) { chart.data.stacked = $('stacked').checked; chart.draw(); }
  if (exprEl.value.trim()) saveURL();
});

/* The query page's state lives in the URL (#query?expr=...&view=...), so a reload or a shared link
 * shows the same thing. replaceState does not fire hashchange, nor add history entries. */
function saveURL() {
  const p = new URLSearchParams();
  p.set('expr', exprEl.value.trim());
  p.set('view', state.view);
  if (state.view === 'graph') {
    p.set('range', $('range').value.trim());
    if ($('end').value) p.set('end', String(Math.round(inputTime($('end')))));
    if ($('step').value.trim()) p.set('step', $('step').value.trim());
    if ($('stacked').checked) p.set('stacked', '1');
  } else if ($('table-time').value) {
    p.set('time', String(Math.round(inputTime($('table-time')))));
  }
  history.replaceState(null, '', '#query?' + p.toString());
}
function loadURL() {
  const h = location.hash.replace(/^#/, '');
  const q = h.indexOf('?');
  if (!h.startsWith('query') || q < 0) return false;
  const p = new URLSearchParams(h.slice(q + 1));
  if (!p.get('expr')) return false;
  exprEl.value = p.get('expr');
  autosize();
  if (p.get('range') && parseDuration(p.get('range'))) $('range').value = p.get('range');
  if (p.get('step')) $('step').value = p.get('step');
  if (p.get('end') && isFinite(+p.get('end'))) setInputTime($('end'), +p.get('end'));
  if (p.get('time') && isFinite(+p.get('time'))) setInputTime($('table-time'), +p.get('time'));
  $('stacked').checked = p.get('stacked') === '1';
  setView(p.get('view') === 'graph' ? 'graph' : 'table');
  return true;
}

let runSeq = 0;
async function execute() {
  const expr = exprEl.value.trim();
  if (!expr) return;
  saveURL();
  const seq = ++runSeq;
  const page = $('page-query');
  page.dataset.state = 'loading'; /* 'loading' | 'done' | 'error': for people and tests alike */
  const t0 = performance.now();
  const errBox = $('error');
  state.lastExpr = expr;
  try {
    if (state.view === 'table') {
      const time = inputTime($('table-time'));
      const data = await api('/api/v1/query', [['query', expr], ['time', String(time)]], 'POST');
      if (seq !== runSeq) return;
      showError(errBox, null);
      renderTable(data);
      page.dataset.state = 'done';
      $('stats').textContent = `Load time: ${Math.round(performance.now() - t0)} ms · Result series: ${resultCount(data)}`;
    } else {
      const range = parseDuration($('range').value);
      if (!range) throw new ApiError('bad_data', `invalid range "${$('range').value}": use a duration such as 30m, 1h or 1d`);
      const end = inputTime($('end'));
      let step;
      if ($('step').value.trim()) {
        step = parseDuration($('step').value);
        if (!step) throw new ApiError('bad_data', `invalid step "${$('step').value}": use a duration such as 15s or 1m`);
      } else {
        step = Math.max(1, Math.round(range / 250));
      }
      if (range / step > 11000) throw new ApiError('bad_data', 'step too small for this range: at most 11000 points per series');
      const start = Math.floor((end - range) / step) * step, stop = Math.floor(end / step) * step;
      const data = await api('/api/v1/query_range',
        [['query', expr], ['start', String(start)], ['end', String(stop)], ['step', String(step)]], 'POST');
      if (seq !== runSeq) return;
      showError(errBox, null);
      renderGraph(data, start, stop, step);
      page.dataset.state = 'done';
      $('stats').textContent = `Load time: ${Math.round(performance.now() - t0)} ms · Resolution: ${formatDuration(step)} · Result series: ${resultCount(data)}`;
    }
  } catch (e) {
    if (seq !== runSeq) return;
    showError(errBox, e, 'Error executing query:');
    $('stats').textContent = '';
    if (state.view === 'graph') { chart.set(null, 'No graph: the query failed'); $('legend').textContent = ''; }
    else renderTable(null);
    page.dataset.state = 'error';
  }
}

function resultCount(data) {
  return Array.isArray(data.result) ? data.result.length : 1;
}

const MAX_TABLE_ROWS = 10000;
function renderTable(data) {
  const tb = el('tbody');
  const table = $('result-table');
  table.textContent = '';
  table.append(tb);
  if (!data) { tb.append(el('tr', {}, el('td', { class: 'empty', text: 'No data' }))); return; }
  const rt = data.resultType;
  if (rt === 'scalar' || rt === 'string') {
    tb.append(el('tr', {}, el('th', { text: rt }), el('th', { text: 'value' })));
    tb.append(el('tr', {}, el('td', { class: 'series', text: rt }), el('td', { class: 'num', text: String(data.result[1]) })));
    return;
  }
  const rows = data.result;
  if (!rows.length) { tb.append(el('tr', {}, el('td', { class: 'empty', text: 'Empty query result' }))); return; }
  tb.append(el('tr', {}, el('th', { text: 'Series' }), el('th', { text: rt === 'matrix' ? 'Values @ time' : 'Value' })));
  for (const r of rows.slice(0, MAX_TABLE_ROWS)) {
    let val;
    if (rt === 'vector') val = r.value ? formatTableValue(r.value[1]) : formatTableValue(r.histogram);
    else val = (r.values || []).map((p) => `${p[1]} @${p[0]}`).join('\n');
    const td = el('td', { class: 'num', text: val });
    if (rt === 'matrix') td.style.whiteSpace = 'pre';
    tb.append(el('tr', {}, el('td', { class: 'series', text: seriesName(r.metric) }), td));
  }
  if (rows.length > MAX_TABLE_ROWS)
    tb.append(el('tr', {}, el('td', { class: 'empty', text: `…and ${rows.length - MAX_TABLE_ROWS} more series (not shown)` })));
}
function formatTableValue(v) { return typeof v === 'string' ? v : JSON.stringify(v); }

function renderGraph(data, start, end, step) {
  const legend = $('legend');
  legend.textContent = '';
  let result = data.result;
  if (data.resultType === 'scalar') result = [{ metric: { __name__: 'scalar' }, values: [data.result] }];
  if (data.resultType === 'vector') result = data.result.map((r) => ({ metric: r.metric, values: [r.value] }));
  if (!Array.isArray(result)) result = [];
  const n = Math.floor((end - start) / step) + 1;
  const series = result.map((r, i) => {
    const values = new Float64Array(n).fill(NaN);
    for (const [t, v] of r.values || []) {
      const k = Math.round((t - start) / step);
      if (k >= 0 && k < n) values[k] = parseValue(v);
    }
    return { name: seriesName(r.metric), color: colorFor(i), visible: true, values };
  });
  chart.set({ series, start, end, step, n, stacked: $('stacked').checked });
  series.forEach((s) => {
    const item = el('div', { class: 'item', title: 'click: hide/show; shift+click: only this', 'data-color': s.color },
      el('span', { class: 'swatch', style: `background:${s.color}` }), el('span', { text: s.name }));
    item.addEventListener('click', (e) => {
      if (e.shiftKey) {
        const only = series.every((o) => o === s || !o.visible) && s.visible;
        series.forEach((o) => { o.visible = only || o === s; });
      } else {
        s.visible = !s.visible;
      }
      [...legend.children].forEach((c, k) => c.classList.toggle('off', !series[k].visible));
      chart.draw();
    });
    legend.append(item);
  });
}

/* ---------------- series explorer ---------------- */

async function findSeries() {
  const sel = $('series-match').value.trim() || '{__name__=~".+"}';
  const box = $('series-error'), tb = $('series-table');
  tb.textContent = '';
  $('series-count').textContent = 'Loading…';
  try {
    const list = await api('/api/v1/series', [['match[]', sel]]);
    showError(box, null);
    list.sort((a, b) => seriesName(a).localeCompare(seriesName(b)));
    const shown = list.slice(0, 2000);
    $('series-count').textContent = `${list.length} series` + (list.length > shown.length ? ` (first ${shown.length} shown)` : '') +
      ' · click one to graph it';
    const body = el('tbody', {}, el('tr', {}, el('th', { text: 'Metric' }), el('th', { text: 'Labels' })));
    for (const m of shown) {
      const labels = Object.keys(m).filter((k) => k !== '__name__').sort().map((k) => `${k}=${JSON.stringify(m[k])}`).join(', ');
      const tr = el('tr', { class: 'click' }, el('td', { class: 'series', text: m.__name__ || '' }), el('td', { class: 'series', text: labels }));
      tr.addEventListener('click', () => {
        exprEl.value = seriesName(m).replace(/, /g, ',');
        autosize();
        location.hash = '#query';
        setView('graph');
      });
      body.append(tr);
    }
    tb.replaceWith(body);
    body.id = 'series-table';
  } catch (e) {
    $('series-count').textContent = '';
    showError(box, e, 'Error:');
  }
}
$('series-run').addEventListener('click', findSeries);
$('series-match').addEventListener('keydown', (e) => { if (e.key === 'Enter') findSeries(); });

/* ---------------- TSDB status ---------------- */

function topTable(id, head, rows, total) {
  const t = $(id);
  const tb = el('tbody', {}, el('tr', {}, el('th', { text: head }), el('th', { text: 'Count' })));
  const max = rows.reduce((m, r) => Math.max(m, r.value), 0) || 1;
  if (!rows.length) tb.append(el('tr', {}, el('td', { class: 'empty', text: 'none' }), el('td')));
  for (const r of rows) {
    const pct = total ? ` (${(100 * r.value / total).toFixed(1)}%)` : '';
    tb.append(el('tr', {}, el('td', { class: 'series', text: r.name }),
      el('td', { class: 'num' }, el('span', { class: 'bar', style: `width:${Math.max(2, 80 * r.value / max)}px` }), `${r.value}${pct}`)));
  }
  t.textContent = '';
  t.append(tb);
}

/* Counts cardinality in the browser from the full series list, for servers whose status endpoint
 * leaves the top-N lists empty. */
async function cardinalityFromSeries() {
  const all = await api('/api/v1/series', [['match[]', '{__name__=~".+"}']]);
  const byMetric = new Map(), byLabel = new Map(), byPair = new Map();
  const inc = (m, k) => m.set(k, (m.get(k) || 0) + 1);
  for (const s of all) {
    inc(byMetric, s.__name__ || '');
    for (const [k, v] of Object.entries(s)) {
      if (!byLabel.has(k)) byLabel.set(k, new Set());
      byLabel.get(k).add(v);
      inc(byPair, `${k}=${v}`);
    }
  }
  const top = (m) => [...m].map(([name, value]) => ({ name, value })).sort((a, b) => b.value - a.value || (a.name < b.name ? -1 : 1)).slice(0, 10);
  return {
    seriesCountByMetricName: top(byMetric),
    labelValueCountByLabelName: top(new Map([...byLabel].map(([k, set]) => [k, set.size]))),
    seriesCountByLabelValuePair: top(byPair),
    total: all.length,
  };
}

async function loadStatus() {
  const box = $('status-error');
  try {
    const st = await api('/api/v1/status/tsdb');
    showError(box, null);
    const h = st.headStats || {};
    const kv = el('tbody');
    const row = (k, v) => kv.append(el('tr', {}, el('th', { text: k }), el('td', { class: 'num', text: String(v) })));
    row('Number of series', h.numSeries);
    row('Number of chunks', h.chunkCount);
    if (h.numLabelPairs) row('Number of label pairs', h.numLabelPairs);
    const tm = (t) => (t == null || !isFinite(t) || Math.abs(t) >= 9e15 ? '—' : `${fmtFullTime(t)} (${t})`);
    row('Min time', h.numSeries ? tm(h.minTime) : '—');
    row('Max time', h.numSeries ? tm(h.maxTime) : '—');
    $('head-stats').textContent = '';
    $('head-stats').append(kv);
    let lists = st;
    const note = $('status-note');
    note.hidden = true;
    const empty = !(st.seriesCountByMetricName || []).length && !(st.labelValueCountByLabelName || []).length;
    if (empty && h.numSeries > 0 && h.numSeries <= 200000) {
      lists = await cardinalityFromSeries();
      note.hidden = false;
      note.textContent = `The server sent no cardinality lists; these were counted in the browser from /api/v1/series (${lists.total} series).`;
    }
    const total = h.numSeries || 0;
    topTable('top-metrics', 'Metric name', lists.seriesCountByMetricName || [], total);
    topTable('top-labels', 'Label name', lists.labelValueCountByLabelName || [], 0);
    topTable('top-pairs', 'Label pair', lists.seriesCountByLabelValuePair || [], total);
  } catch (e) {
    showError(box, e, 'Error loading TSDB status:');
  }
}

/* ---------------- navigation ---------------- */

function route() {
  const page = (location.hash.replace('#', '') || 'query').split('?')[0];
  const known = ['query', 'series', 'status'].includes(page) ? page : 'query';
  for (const a of document.querySelectorAll('nav a')) a.classList.toggle('active', a.dataset.page === known);
  for (const p of ['query', 'series', 'status']) $('page-' + p).hidden = p !== known;
  if (known === 'status') loadStatus();
  if (known === 'series' && !$('series-table').children.length) findSeries();
  if (known === 'query') chart.draw();
}
window.addEventListener('hashchange', route);
route();
if (location.hash.startsWith('#query')) loadURL();
metricNames(); /* warm the autocomplete cache */
exprEl.focus();

window.metricstorUI = { parseDuration, completionContext, palette: PALETTE };
})();

// test_ui.mjs owns the end-to-end test of the embedded web UI: it starts the real metricstor
// binary, pushes known data (seed.py), and drives Debian's headless Chromium through
// playwright-core: autocomplete, table, graph (pixels of the drawn canvas are counted per series
// colour), hover, stacking, range/step controls, a PromQL error, the series explorer and the TSDB
// status page. With --screenshots (make ui-screenshots) it also refreshes the screenshots in docs/img/. Any request leaving the server's origin fails the test.
// Usage: node test_ui.mjs --binary build/metricstor [--screenshots]
import { spawn, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '../../..');
const args = process.argv.slice(2);
const binary = path.resolve(root, args[args.indexOf('--binary') + 1] || 'build/metricstor');
const shots = args.includes('--screenshots');
const imgDir = path.join(root, 'docs/img');

let failures = 0, passes = 0;
function check(cond, msg) {
  if (cond) { passes++; return; }
  failures++;
  console.error('FAIL: ' + msg);
}
function must(cond, msg) { if (!cond) throw new Error(msg); passes++; }

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => { const p = s.address().port; s.close(() => resolve(p)); });
    s.on('error', reject);
  });
}
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function getJSON(url) {
  const r = await fetch(url);
  return { status: r.status, body: await r.json() };
}

async function main() {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ms-ui-'));
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const logFd = fs.openSync(path.join(tmp, 'server.log'), 'w');
  const server = spawn(binary, ['--http-addr', `127.0.0.1:${port}`, '--data-dir', path.join(tmp, 'data')],
    { stdio: ['ignore', logFd, logFd] });
  let browserCtx = null;
  try {
    const deadline = Date.now() + 20000;
    for (;;) {
      try { if ((await fetch(base + '/-/ready')).status === 200) break; } catch (e) { /* not up yet */ }
      if (Date.now() > deadline || server.exitCode !== null) throw new Error('server did not become ready');
      await sleep(50);
    }
    console.log(execFileSync('python3', [path.join(here, 'seed.py'), base]).toString().trim());

    // The page and its assets come from the binary.
    const idx = await fetch(base + '/');
    check(idx.status === 200 && /text\/html/.test(idx.headers.get('content-type')), 'GET / serves HTML');
    const js = await fetch(base + '/ui/app.js');
    check(js.status === 200 && /javascript/.test(js.headers.get('content-type')), 'GET /ui/app.js serves JavaScript');
    check((await fetch(base + '/ui/missing.js')).status === 404, 'unknown UI file is 404');

    browserCtx = await chromium.launchPersistentContext(path.join(tmp, 'profile'), {
      executablePath: '/usr/bin/chromium',
      headless: true,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
        '--disable-background-networking', '--disable-component-update', '--disable-sync'],
      viewport: { width: 1280, height: 860 },
      deviceScaleFactor: 1,
    });
    const page = browserCtx.pages()[0] || await browserCtx.newPage();
    page.setDefaultTimeout(10000);
    const pageErrors = [], foreign = [], rangeCalls = [];
    page.on('pageerror', (e) => pageErrors.push(String(e)));
    page.on('console', (m) => { if (m.type() === 'error' && !/status of 4\d\d/.test(m.text())) pageErrors.push(m.text()); });
    await browserCtx.route('**/*', (route) => {
      const u = route.request().url();
      if (u.startsWith(base + '/')) return route.continue();
      foreign.push(u);
      return route.abort();
    });
    page.on('request', (r) => { if (r.url().endsWith('/api/v1/query_range')) rangeCalls.push(r.postData() || ''); });

    await page.goto(base + '/');
    check((await page.title()) === 'Metricstor', 'page title');

    // the editor's context rules and duration parsing, in the page itself
    const ctx = await page.evaluate(() => {
      const c = window.metricstorUI.completionContext, d = window.metricstorUI.parseDuration;
      const k = (t) => { const r = c(t); return r ? [r.kind, r.prefix, r.label || r.metric || ''].join('|') : null; };
      return {
        metric: k('sum(rate(http_re'), afterOp: k('a + b_'), label: k('up{jo'), labelOfMetric: k('up{job="x", inst'),
        value: k('up{job=~"ap'), escaped: k('up{job="a\\"b'), by: k('sum by (jo'), range: k('rate(up[5'),
        str: k('label_replace(up, "ds'), number: k('1e'), closed: k('up{job="a"} + fo'),
        d1: d('1h30m'), d2: d('90'), d3: d('1x'), d4: d('2d'), d5: d('500ms'), d6: d(''),
      };
    });
    check(JSON.stringify(ctx) === JSON.stringify({
      metric: 'metric|http_re|', afterOp: 'metric|b_|', label: 'label|jo|up', labelOfMetric: 'label|inst|up',
      value: 'value|ap|job', escaped: 'value|a\\"b|job', by: 'label|jo|', range: null, str: null, number: null,
      closed: 'metric|fo|', d1: 5400, d2: 90, d3: null, d4: 172800, d5: 0.5, d6: null,
    }), `completion contexts and durations: ${JSON.stringify(ctx)}`);

    // ---- autocomplete: metric name, label name (restricted to the metric), label value ----
    const expr = page.locator('#expr');
    await expr.click();
    await expr.pressSequentially('rate(ui_demo_req', { delay: 15 });
    const acItems = page.locator('#ac li .text');
    await page.locator('#ac li', { hasText: 'ui_demo_requests_total' }).first().waitFor();
    check((await acItems.allTextContents())[0] === 'ui_demo_requests_total', 'metric name suggested first');
    if (shots) await page.screenshot({ path: path.join(imgDir, 'ui-autocomplete.png') });
    await expr.press('Tab');
    check((await expr.inputValue()) === 'rate(ui_demo_requests_total', 'Tab accepts the metric name');
    await expr.pressSequentially('{', { delay: 15 });
    await page.locator('#ac li[data-kind="label"]').first().waitFor();
    const labels = await acItems.allTextContents();
    check(JSON.stringify(labels) === '["instance","job"]', `label names of the metric offered, got ${JSON.stringify(labels)}`);
    await expr.pressSequentially('jo', { delay: 15 });
    await expr.press('Enter');
    check((await expr.inputValue()) === 'rate(ui_demo_requests_total{job=""', 'label name inserted as job=""');
    await page.locator('#ac li[data-kind="value"]').first().waitFor();
    const values = await acItems.allTextContents();
    check(JSON.stringify(values) === '["api","web"]', `label values offered, got ${JSON.stringify(values)}`);
    if (shots) await page.screenshot({ path: path.join(imgDir, 'ui-autocomplete-values.png'), clip: { x: 0, y: 0, width: 1280, height: 260 } });
    await expr.press('Enter');
    check((await expr.inputValue()) === 'rate(ui_demo_requests_total{job="api"', 'label value inserted and quoted');
    await expr.pressSequentially('}[5m])', { delay: 15 });
    check((await expr.inputValue()) === 'rate(ui_demo_requests_total{job="api"}[5m])', 'typed query');
    check(await page.locator('#ac').isHidden(), 'no suggestions inside a range');

    // ---- table view (instant query) ----
    await expr.press('Enter');
    const rows = page.locator('#result-table tr:has(td.series)');
    await rows.first().waitFor();
    check((await rows.count()) === 3, `table shows 3 series, got ${await rows.count()}`);
    const tableText = await page.locator('#result-table').innerText();
    check(tableText.includes('instance="a:9100"') && tableText.includes('job="api"') && !tableText.includes('w1:80'),
      'table rows name the api series only');
    const vals = await page.locator('#result-table td.num').allTextContents();
    check(vals.length === 3 && vals.every((v) => parseFloat(v) > 0), `table values are positive rates: ${vals}`);
    if (shots) await page.screenshot({ path: path.join(imgDir, 'ui-table.png') });

    // ---- graph view: three lines, counted on the canvas by colour ----
    await page.locator('.tab[data-view="graph"]').click();
    await page.waitForFunction(() => document.getElementById('chart').dataset.series === '3');
    check((await page.locator('#legend .item').count()) === 3, 'legend has 3 entries');
    const countColours = () => page.evaluate(() => {
      const c = document.getElementById('chart');
      const px = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
      const pal = window.metricstorUI.palette.slice(0, 4).map((h) => [1, 3, 5].map((k) => parseInt(h.slice(k, k + 2), 16)));
      const counts = pal.map(() => 0), topRow = pal.map(() => Infinity);
      for (let i = 0; i < px.length; i += 4) {
        if (px[i + 3] < 250) continue;
        pal.forEach((p, k) => {
          if (Math.abs(px[i] - p[0]) + Math.abs(px[i + 1] - p[1]) + Math.abs(px[i + 2] - p[2]) < 24) {
            counts[k]++;
            topRow[k] = Math.min(topRow[k], Math.floor(i / 4 / c.width));
          }
        });
      }
      return { counts, topRow };
    });
    const plain = await countColours();
    check(plain.counts.slice(0, 3).every((n) => n > 100), `each of the 3 series drew its line: ${plain.counts}`);
    check(plain.counts[3] === 0, `no 4th series colour on the canvas: ${plain.counts}`);
    if (shots) await page.screenshot({ path: path.join(imgDir, 'ui-graph.png') });

    // hover: tooltip with one value per series
    const box = await page.locator('#chart').boundingBox();
    await page.mouse.move(box.x + box.width * 0.6, box.y + box.height * 0.5);
    await page.locator('#tooltip .row').first().waitFor();
    check((await page.locator('#tooltip .row').count()) === 3, 'tooltip lists 3 values');
    if (shots) await page.screenshot({ path: path.join(imgDir, 'ui-graph-hover.png') });
    await page.mouse.move(box.x - 20, box.y - 20);

    // stacked: the top layer (c:9100, drawn third) now reaches higher than any single line did
    await page.locator('#stacked').check();
    const stacked = await countColours();
    check(stacked.counts.slice(0, 3).every((n) => n > 100), `stacked mode draws 3 series: ${stacked.counts}`);
    check(stacked.topRow[2] < plain.topRow[2] || stacked.topRow[0] > plain.topRow[0],
      `stacking moves the layers (top rows plain ${plain.topRow}, stacked ${stacked.topRow})`);
    if (shots) await page.screenshot({ path: path.join(imgDir, 'ui-graph-stacked.png') });
    await page.locator('#stacked').uncheck();

    // range and step controls reach query_range
    rangeCalls.length = 0;
    await page.locator('#range').fill('30m');
    await page.locator('#step').fill('30s');
    await page.locator('#step').press('Enter');
    await page.waitForFunction(() => /Resolution: 30s/.test(document.getElementById('stats').textContent));
    const last = new URLSearchParams(rangeCalls[rangeCalls.length - 1] || '');
    check(last.get('step') === '30' && Math.abs(+last.get('end') - +last.get('start') - 1800) <= 30,
      `query_range called with step=30 over 30m: ${rangeCalls[rangeCalls.length - 1]}`);
    // legend click hides a series
    await page.locator('#legend .item').first().click();
    await page.waitForFunction(() => document.getElementById('chart').dataset.series === '2');
    check((await countColours()).counts[0] === 0, 'hidden series no longer drawn');

    // the URL carries the query page's state: a fresh tab shows the same graph
    const shared = page.url();
    check(/#query\?/.test(shared) && shared.includes('view=graph'), `state in the URL: ${shared}`);
    const tab2 = await browserCtx.newPage();
    tab2.on('pageerror', (e) => pageErrors.push(String(e)));
    await tab2.goto(shared);
    await tab2.waitForFunction(() => document.getElementById('chart').dataset.series === '3');
    check((await tab2.locator('#expr').inputValue()) === 'rate(ui_demo_requests_total{job="api"}[5m])' &&
      (await tab2.locator('#range').inputValue()) === '30m' && (await tab2.locator('#step').inputValue()) === '30s',
      'a link restores expression, range and step');
    await tab2.close();

    // ---- a PromQL error is shown with the server's message ----
    const bad = 'sum(rate(ui_demo_requests_total[5m])';
    const direct = await getJSON(`${base}/api/v1/query?query=${encodeURIComponent(bad)}`);
    must(direct.body.status === 'error', 'server rejects the bad query');
    await expr.fill(bad);
    await expr.press('Escape');
    await page.locator('#run').click();
    await page.locator('#error').waitFor({ state: 'visible' });
    const errText = await page.locator('#error').innerText();
    check(errText.includes(direct.body.error) && errText.includes(direct.body.errorType),
      `error box shows "${direct.body.errorType}: ${direct.body.error}", got "${errText}"`);
    if (shots) await page.screenshot({ path: path.join(imgDir, 'ui-error.png') });
    await page.locator('.tab[data-view="table"]').click();
    await page.locator('#page-query[data-state="error"]').waitFor();
    check(await page.locator('#error').isVisible(), 'the table view shows the error too');
    check((await page.locator('#result-table td.series').count()) === 0, 'no stale rows under an error');
    await expr.fill('sum by (job) (ui_demo_requests_total)');
    await expr.press('Escape');
    await page.locator('#run').click();
    await page.locator('#page-query[data-state="done"]').waitFor();
    check(await page.locator('#error').isHidden(), 'error box hidden after a good query');
    check((await page.locator('#result-table td.series').count()) === 2, 'error clears on the next good query');

    // ---- series explorer ----
    await page.locator('nav a[data-page="series"]').click();
    await page.locator('#series-match').fill('ui_demo_requests_total');
    await page.locator('#series-run').click();
    await page.waitForFunction(() => /^5 series/.test(document.getElementById('series-count').textContent));
    check((await page.locator('#series-table tr.click').count()) === 5, 'series explorer lists 5 series');
    if (shots) await page.screenshot({ path: path.join(imgDir, 'ui-series.png') });
    await page.locator('#series-table tr.click', { hasText: 'w2:80' }).click();
    await page.waitForFunction(() => document.getElementById('chart').dataset.series === '1');
    check((await expr.inputValue()) === 'ui_demo_requests_total{instance="w2:80",job="web"}', 'clicking a series graphs it');

    // ---- TSDB status ----
    await page.locator('nav a[data-page="status"]').click();
    await page.locator('#top-metrics td.series', { hasText: 'ui_demo_requests_total' }).waitFor();
    const tm = await page.locator('#top-metrics').innerText();
    check(/ui_demo_requests_total\s+5\b/.test(tm) && /ui_demo_temperature_celsius\s+2\b/.test(tm), `top metrics: ${tm}`);
    const hs = await page.locator('#head-stats').innerText();
    check(/Number of series\s+7\b/.test(hs), `head stats: ${hs}`);
    const tl = await page.locator('#top-labels').innerText();
    check(/instance\s+5\b/.test(tl), `top label names: ${tl}`);
    if (shots) await page.screenshot({ path: path.join(imgDir, 'ui-status.png'), fullPage: true });

    check(foreign.length === 0, `no request left the server's origin: ${foreign}`);
    check(pageErrors.length === 0, `no page errors: ${pageErrors}`);
  } finally {
    if (browserCtx) await browserCtx.close().catch(() => {});
    server.kill('SIGTERM');
    await new Promise((r) => (server.exitCode !== null ? r() : server.once('exit', r)));
    if (failures) console.error(fs.readFileSync(path.join(tmp, 'server.log'), 'utf8').slice(-3000));
    fs.rmSync(tmp, { recursive: true, force: true });
  }
  console.log(`browser test: ${passes} checks passed, ${failures} failed`);
  if (failures) process.exit(1);
}

main().catch((e) => { console.error('FAIL: ' + (e.stack || e)); process.exit(1); });

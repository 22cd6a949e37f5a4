// The report page's own script (plain browser JavaScript, run after d3 and Observable Plot are
// loaded from the page itself): it draws every figure from the embedded model (REPORT) and makes
// the run table sortable. Each figure's data marks carry the class `pt` and the figure states
// how many points it drew in data-points, which is what the screenshot test counts against.
// Kept as text: it runs in the browser, never in Node.
export const PAGE_SCRIPT = String.raw`
(function () {
  const model = JSON.parse(document.getElementById('report-data').textContent);
  const label = (r) => r.method + (r.budget === null ? '' : '@' + r.budget) + (r.seed === 1 ? '' : ' s' + r.seed);
  const plotted = (r) => r.status === 'ok' && r.memoryBytes > 0 && Number.isFinite(r.testAuc);
  const width = Math.min(880, document.body.clientWidth - 40);
  // One colour per method: the paper's 18 methods and the codecs outnumber a 10-colour scheme,
  // which would paint two methods alike.
  const methodColors = { legend: true, range: d3.schemeTableau10.concat(d3.schemeDark2, d3.schemeSet1) };

  function figure(container, id, title, points, plot, note) {
    const fig = document.createElement('figure');
    fig.id = id;
    fig.dataset.points = String(points);
    const cap = document.createElement('figcaption');
    cap.textContent = title;
    fig.appendChild(cap);
    if (points === 0) {
      const p = document.createElement('p');
      p.className = 'empty';
      p.textContent = note || 'no data';
      fig.appendChild(p);
    } else fig.appendChild(plot());
    container.appendChild(fig);
  }

  model.datasets.forEach((d, i) => {
    const section = document.getElementById('figures-' + i);
    const ok = d.runs.filter(plotted).map((r) => Object.assign({ label: label(r) }, r));
    const frontier = ok
      .filter((r) => d.frontier.includes(r.key))
      .sort((a, b) => a.memoryBytes - b.memoryBytes);
    figure(section, 'pareto-' + i, 'Test AUC vs memory (log scale); line: the Pareto frontier', ok.length, () =>
      Plot.plot({
        width, height: 380, grid: true, marginRight: 60, inset: 14,
        x: { type: 'log', label: 'table memory (bytes)' },
        y: { label: 'test AUC' },
        color: methodColors,
        marks: [
          Plot.line(frontier, { x: 'memoryBytes', y: 'testAuc', stroke: '#888', strokeDasharray: '4,3' }),
          Plot.dot(ok, { x: 'memoryBytes', y: 'testAuc', fill: 'method', r: 5, className: 'pt', title: (r) => r.label + '\nAUC ' + r.testAuc.toFixed(4) + '\n' + r.memoryBytes + ' bytes' }),
          Plot.text(ok, { x: 'memoryBytes', y: 'testAuc', text: (r) => (r.budget === null ? '' : String(r.budget)), dy: -10, fontSize: 9 }),
        ],
      }),
    );
    const served = ok.filter((r) => r.serving && r.serving.completed > 0);
    figure(section, 'serving-' + i, 'Serving: Rank p99 (filled) and store lookup p99 (ring) vs memory, same open-loop load per run', served.length, () =>
      Plot.plot({
        width, height: 320, grid: true, inset: 14,
        x: { type: 'log', label: 'table memory (bytes)' },
        y: { label: 'p99 latency (ms, log scale)', type: 'log' },
        color: methodColors,
        marks: [
          Plot.dot(served, { x: 'memoryBytes', y: (r) => r.serving.rankP99Ms, fill: 'method', r: 5, className: 'pt', title: (r) => r.label + '\nRank p99 ' + r.serving.rankP99Ms.toFixed(2) + ' ms' }),
          Plot.dot(served, { x: 'memoryBytes', y: (r) => r.serving.storeLookupP99Ms, stroke: 'method', r: 4, title: (r) => r.label + '\nstore p99 ' + r.serving.storeLookupP99Ms.toFixed(2) + ' ms' }),
        ],
      }),
      'no run was served',
    );
    const trained = d.runs.filter((r) => r.status === 'ok' && Number.isFinite(r.trainSeconds)).map((r) => Object.assign({ label: label(r) }, r));
    figure(section, 'train-' + i, 'Training time per run (seconds, the training process\'s part loop)', trained.length, () =>
      Plot.plot({
        width, height: 40 + 18 * trained.length, marginLeft: 140,
        x: { label: 'seconds', grid: true },
        y: { label: null, domain: trained.map((r) => r.label) },
        color: methodColors,
        marks: [
          Plot.barX(trained, { y: 'label', x: 'trainSeconds', fill: 'method', className: 'pt', title: (r) => r.label + ': ' + r.trainSeconds.toFixed(1) + ' s, ' + Math.round(r.samplesPerSec) + ' samples/s' }),
          Plot.ruleX([0]),
        ],
      }),
    );
    const parts = [];
    for (const r of d.runs) for (const p of r.parts || []) if (Number.isFinite(p.loss)) parts.push(Object.assign({ run: label(r) }, p));
    figure(section, 'loss-' + i, 'Training loss per part (mean over the part\'s batches) vs samples trained', parts.length, () =>
      Plot.plot({
        width, height: 340, grid: true,
        x: { label: 'samples trained' },
        y: { label: 'training loss' },
        color: { legend: true },
        marks: [
          Plot.line(parts, { x: 'samplesTrained', y: 'loss', stroke: 'run' }),
          Plot.dot(parts, { x: 'samplesTrained', y: 'loss', fill: 'run', r: 2.5, className: 'pt', title: (p) => p.run + ' part ' + p.part + (p.stage ? ' (' + p.stage + ')' : '') + '\nloss ' + p.loss.toFixed(4) + ', val AUC ' + p.valAuc.toFixed(4) }),
        ],
      }),
    );
  });

  // Sortable table: click a header; numbers sort as numbers, blanks last.
  document.querySelectorAll('table.sortable').forEach((table) => {
    table.querySelectorAll('th').forEach((th, col) => {
      th.addEventListener('click', () => {
        const body = table.tBodies[0];
        const asc = th.dataset.sort !== 'asc';
        table.querySelectorAll('th').forEach((h) => delete h.dataset.sort);
        th.dataset.sort = asc ? 'asc' : 'desc';
        const value = (tr) => {
          const cell = tr.cells[col];
          const raw = cell.dataset.value !== undefined ? cell.dataset.value : cell.textContent;
          const n = Number(raw);
          return raw === '' || raw === '-' ? null : Number.isFinite(n) ? n : raw;
        };
        const rows = Array.from(body.rows).sort((a, b) => {
          const va = value(a), vb = value(b);
          if (va === null || vb === null) return va === null ? (vb === null ? 0 : 1) : -1;
          const c = typeof va === 'number' && typeof vb === 'number' ? va - vb : String(va).localeCompare(String(vb));
          return asc ? c : -c;
        });
        rows.forEach((r) => body.appendChild(r));
      });
    });
  });
  document.body.dataset.ready = 'true';
})();
`;

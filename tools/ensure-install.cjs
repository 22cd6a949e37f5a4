// `npm start` / `npm test` on a fresh clone: first the system programs the task needs
// (tools/prerequisites: installed with apt-get as root on Debian, else a stop naming the command),
// then `npm ci` when node_modules is missing.
'use strict';
const { existsSync } = require('node:fs');
const { join } = require('node:path');
const { execSync } = require('node:child_process');
const { ensurePrerequisites } = require('./prerequisites/prerequisites.cjs');

// npm runs this as the pretest / prestart hook; `node tools/ensure-install.cjs test` also works.
const task = (process.argv[2] ?? process.env.npm_lifecycle_event ?? '').replace(/^pre/, '');
if (task === 'test' || task === 'start') ensurePrerequisites(task);

const root = join(__dirname, '..');
if (!existsSync(join(root, 'node_modules', '.package-lock.json'))) {
  console.error('[embpress] node_modules missing: running npm ci');
  execSync('npm ci --no-audit --no-fund', { cwd: root, stdio: 'inherit' });
}

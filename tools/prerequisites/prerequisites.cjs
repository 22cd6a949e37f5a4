// The system programs `npm test` and `npm start` need beyond Node and npm, checked before they
// run (tools/ensure-install.cjs). A missing one is installed with apt-get when we are root on
// Debian/Ubuntu; otherwise we stop at once, naming the command that installs it. Plain CommonJS
// with no dependencies: this runs before `npm ci` on a fresh clone.
'use strict';
const { execSync } = require('node:child_process');
const { accessSync, constants, existsSync } = require('node:fs');
const { delimiter, join } = require('node:path');

/**
 * @typedef {{ command: string, apt: string, brew: string, why: string }} Prerequisite
 * @typedef {'test' | 'start'} Task
 * @typedef {{ action: 'ok' }
 *   | { action: 'install', packages: string[], command: string }
 *   | { action: 'stop', message: string }} Plan
 */

/** @type {Record<Task, Prerequisite[]>} */
const PREREQUISITES = {
  test: [
    { command: 'openssl', apt: 'openssl', brew: 'openssl', why: 'certificates of the TLS tests' },
    {
      command: 'redis-server',
      apt: 'redis-server',
      brew: 'redis',
      why: 'the peer of the store-vs-Redis benchmark test',
    },
    {
      command: 'chromium',
      apt: 'chromium',
      brew: 'chromium',
      why: 'the headless browser of the experiment report test',
    },
  ],
  // `npm start` (serve all --demo) is pure Node: no system program beyond Node itself.
  start: [],
};

/** Oldest Node the project runs on (package.json "engines"). */
const MIN_NODE = { major: 20, minor: 10 };

/**
 * An executable named `command` on `path` (a PATH value), or undefined.
 * @param {string} command
 * @param {string | undefined} path
 * @returns {string | undefined}
 */
function which(command, path = process.env.PATH) {
  for (const dir of (path ?? '').split(delimiter)) {
    if (dir === '') continue;
    const file = join(dir, command);
    try {
      accessSync(file, constants.X_OK);
      return file;
    } catch {
      // not here
    }
  }
  return undefined;
}

/**
 * What to do before `task` runs: nothing, install packages, or stop with a message.
 * @param {object} machine
 * @param {Task} machine.task
 * @param {(command: string) => string | undefined} machine.which
 * @param {string} machine.nodeVersion e.g. process.versions.node
 * @param {boolean} machine.isRoot
 * @param {boolean} machine.hasApt Debian or Ubuntu: apt-get and /etc/debian_version
 * @param {boolean} machine.isMac
 * @returns {Plan}
 */
function plan(machine) {
  const [major = 0, minor = 0] = machine.nodeVersion.split('.').map(Number);
  if (major < MIN_NODE.major || (major === MIN_NODE.major && minor < MIN_NODE.minor)) {
    return {
      action: 'stop',
      message: `Node ${MIN_NODE.major}.${MIN_NODE.minor} or newer is needed, this is ${machine.nodeVersion}: install Node 20 LTS (https://nodejs.org) and rerun.`,
    };
  }
  const missing = PREREQUISITES[machine.task].filter((p) => machine.which(p.command) === undefined);
  if (missing.length === 0) return { action: 'ok' };
  const packages = missing.map((p) => p.apt).join(' ');
  if (machine.hasApt && machine.isRoot) {
    return {
      action: 'install',
      packages: missing.map((p) => p.apt),
      command: `apt-get update && apt-get install -y ${packages}`,
    };
  }
  const human = `apt-get update && apt-get install ${packages}`;
  const how = machine.hasApt
    ? `sudo ${human.replace('&& apt-get', '&& sudo apt-get')}`
    : machine.isMac
      ? `brew install ${missing.map((p) => p.brew).join(' ')}`
      : `install ${missing.map((p) => p.command).join(' and ')} with your package manager (Debian/Ubuntu: ${human})`;
  const list = missing.map((p) => `  - ${p.command}: ${p.why}`).join('\n');
  return {
    action: 'stop',
    message: `npm ${machine.task} needs programs this machine lacks:\n${list}\nRun: ${how}\nthen rerun npm ${machine.task}.`,
  };
}

/** The facts `plan` decides on, read from this machine. */
function thisMachine(/** @type {Task} */ task) {
  return {
    task,
    which: (/** @type {string} */ command) => which(command),
    nodeVersion: process.versions.node,
    isRoot: typeof process.getuid === 'function' && process.getuid() === 0,
    hasApt: existsSync('/etc/debian_version') && which('apt-get') !== undefined,
    isMac: process.platform === 'darwin',
  };
}

/**
 * Checks (and when possible installs) what `task` needs; exits 1 with the command to run when
 * something is missing and cannot be installed here.
 * @param {Task} task
 */
function ensurePrerequisites(task) {
  const machine = thisMachine(task);
  let decision = plan(machine);
  if (decision.action === 'install') {
    console.error(
      `[embpress] npm ${task} needs ${decision.packages.join(', ')}: ${decision.command}`,
    );
    try {
      execSync(decision.command, {
        stdio: 'inherit',
        env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
      });
    } catch {
      // the check below names what is still missing
    }
    decision = plan({ ...machine, isRoot: false }); // stop (not loop) if it is still missing
  }
  if (decision.action === 'stop') {
    console.error(`[embpress] ${decision.message}`);
    process.exit(1);
  }
}

module.exports = { PREREQUISITES, which, plan, ensurePrerequisites };

'use strict';
/*
 * Runs a command (`node …` or a tool of node_modules/.bin such as vitest, eslint, tsc) on a Node that
 * can run headroom: the TypeScript sources run through Node's type stripping, which needs the version
 * in package.json's `engines`. When the Node running this file is older, Node 24 is installed once
 * with npm into a cache (the `node` package) and the command runs under it, with that Node first on
 * PATH so that every tool it starts uses it too.
 *
 *   node scripts/with-current-node.cjs <command> [args…]
 *
 * Plain CommonJS without recent syntax, so that the old Node can run it. The cache is
 * $HEADROOM_NODE_CACHE, else $XDG_CACHE_HOME/headroom-node, else ~/.cache/headroom-node.
 */

var childProcess = require('child_process');
var fs = require('fs');
var os = require('os');
var path = require('path');

var NODE_PACKAGE = 'node@24';
var root = path.resolve(__dirname, '..');

function main(argv) {
  var command = argv[0];
  if (command === undefined) {
    process.stderr.write('usage: node scripts/with-current-node.cjs <command> [args...]\n');
    return process.exit(2);
  }
  var minimum = minimumVersion();
  var env = process.env;
  var nodePath = process.execPath;
  if (!atLeast(process.versions.node, minimum)) {
    var binDir = obtainNode(minimum);
    nodePath = path.join(binDir, 'node');
    env = Object.assign({}, process.env, { PATH: binDir + path.delimiter + (process.env.PATH || '') });
  }
  run(command === 'node' ? nodePath : command, argv.slice(1), env);
}

/** The minimum of package.json's `engines.node` (`>=22.18`), as [major, minor, patch]. */
function minimumVersion() {
  var range = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')).engines.node;
  var match = /^>=\s*(\d+)(?:\.(\d+))?(?:\.(\d+))?$/.exec(range.trim());
  if (match === null)
    fail('package.json engines.node must read ">=MAJOR.MINOR", got ' + JSON.stringify(range));
  return [Number(match[1]), Number(match[2] || 0), Number(match[3] || 0)];
}

function atLeast(version, minimum) {
  var parts = version.split('.').map(Number);
  for (var i = 0; i < 3; i++) {
    if ((parts[i] || 0) !== minimum[i]) return (parts[i] || 0) > minimum[i];
  }
  return true;
}

/** Directory holding a `node` binary of at least `minimum`, installing it on first use. */
function obtainNode(minimum) {
  var cache =
    process.env.HEADROOM_NODE_CACHE ||
    path.join(process.env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache'), 'headroom-node');
  var wanted = minimum.join('.');
  var cached = cachedVersion(cache);
  if (cached !== null && atLeast(cached, minimum)) {
    say(
      'Node ' +
        process.versions.node +
        ' is older than ' +
        wanted +
        '; running under Node ' +
        cached +
        ' from ' +
        cache,
    );
  } else {
    say(
      'Node ' +
        process.versions.node +
        ' is older than ' +
        wanted +
        '; installing ' +
        NODE_PACKAGE +
        ' with npm into ' +
        cache +
        ' (once) and running under it',
    );
    install(cache, wanted);
    cached = cachedVersion(cache);
    if (cached === null || !atLeast(cached, minimum)) {
      fail('npm installed ' + NODE_PACKAGE + ' into ' + cache + ' but it does not run as Node >= ' + wanted);
    }
  }
  return path.join(cache, 'node_modules', 'node', 'bin');
}

/** Version of the cached Node, or null when there is none that runs. */
function cachedVersion(cache) {
  var binary = path.join(cache, 'node_modules', 'node', 'bin', 'node');
  if (!fs.existsSync(binary)) return null;
  var probe = childProcess.spawnSync(binary, ['-p', 'process.versions.node'], { encoding: 'utf8' });
  return probe.status === 0 ? probe.stdout.trim() : null;
}

/**
 * Installs into a fresh sibling directory, then renames it into place, so that a concurrent run
 * never sees a half-installed Node and an interrupted install leaves nothing behind to trust.
 */
function install(cache, wanted) {
  var staging = cache + '.installing-' + process.pid;
  fs.mkdirSync(staging, { recursive: true });
  var npm = npmCommand();
  var result = childProcess.spawnSync(
    npm[0],
    npm
      .slice(1)
      .concat([
        'install',
        '--no-save',
        '--no-audit',
        '--no-fund',
        '--loglevel=error',
        '--prefix',
        staging,
        NODE_PACKAGE,
      ]),
    { stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8', shell: process.platform === 'win32' },
  );
  if (result.status !== 0) {
    removeDirectory(staging);
    process.stderr.write(result.stderr || (result.error ? String(result.error) : ''));
    fail(
      'could not install ' +
        NODE_PACKAGE +
        ' with npm (exit ' +
        result.status +
        '); install Node >= ' +
        wanted +
        ' instead',
    );
  }
  removeDirectory(cache);
  try {
    fs.renameSync(staging, cache);
  } catch (error) {
    // Another run installed it first: keep theirs.
    removeDirectory(staging);
    if (!fs.existsSync(cache)) throw error;
  }
}

/** The npm that runs this script when it runs under npm, else the one on PATH. */
function npmCommand() {
  var execPath = process.env.npm_execpath;
  if (execPath && /\.c?js$/.test(execPath)) return [process.execPath, execPath];
  return ['npm'];
}

function removeDirectory(directory) {
  (fs.rmSync || fs.rmdirSync)(directory, { recursive: true, force: true });
}

// The command runs in a process group of its own, and the signals this process gets are passed on
// to it, once: a Ctrl-C reaches every process of the terminal's group, and npm passes it on as well,
// so without this the command would see two and take the second for an impatient "stop now".
// Repeats of a signal within DUPLICATE_WINDOW_MILLIS count as one.
var FORWARDED_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT', 'SIGUSR2'];
var DUPLICATE_WINDOW_MILLIS = 100;

function run(executable, args, env) {
  var windows = process.platform === 'win32';
  var child = childProcess.spawn(executable, args, {
    stdio: 'inherit',
    env: env,
    detached: !windows,
    shell: windows && executable !== process.execPath,
  });
  var running = function () {
    return child.exitCode === null && child.signalCode === null;
  };
  var lastForwardedAt = {};
  var handlers = {};
  FORWARDED_SIGNALS.forEach(function (signal) {
    handlers[signal] = function () {
      var now = Date.now();
      if (now - (lastForwardedAt[signal] || 0) < DUPLICATE_WINDOW_MILLIS || !running()) return;
      lastForwardedAt[signal] = now;
      child.kill(signal);
    };
  });
  if (!windows) {
    // Ctrl-Z and fg: the command stops and resumes with this process, as it would in the terminal's group.
    handlers.SIGTSTP = function () {
      if (running()) child.kill('SIGTSTP');
      process.kill(process.pid, 'SIGSTOP');
    };
    handlers.SIGCONT = function () {
      if (running()) child.kill('SIGCONT');
    };
  }
  Object.keys(handlers).forEach(function (signal) {
    process.on(signal, handlers[signal]);
  });
  child.on('error', function (error) {
    say('could not run ' + executable + ': ' + error.message);
    process.exit(127);
  });
  child.on('exit', function (code, signal) {
    if (signal === null) return process.exit(code);
    // Ended by a signal: end the same way, so that whoever started this process sees it.
    Object.keys(handlers).forEach(function (name) {
      process.removeListener(name, handlers[name]);
    });
    process.kill(process.pid, signal);
    setTimeout(function () {
      process.exit(128 + (os.constants.signals[signal] || 0));
    }, 100);
  });
}

function say(message) {
  process.stderr.write('headroom: ' + message + '\n');
}

function fail(message) {
  say(message);
  process.exit(1);
}

main(process.argv.slice(2));

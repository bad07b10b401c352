#!/usr/bin/env node
// The `mesh-bridge` command. Runs the compiled CLI; `npm ci` builds it (the `prepare` script).
'use strict';
const path = require('node:path');
const main = path.join(__dirname, '..', 'dist', 'src', 'cli', 'main.js');
let cli;
try {
  cli = require(main);
} catch (err) {
  if (err && err.code === 'MODULE_NOT_FOUND' && String(err.message).includes(main)) {
    process.stderr.write(`mesh-bridge: not built yet (${main} is missing): run 'npm run build' in ${path.dirname(__dirname)}\n`);
    process.exit(1);
  }
  throw err;
}
cli.main();

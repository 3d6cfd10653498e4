#!/usr/bin/env node
// Validate WebVTT files with the W3C parser (npm webvtt-parser, the one behind the W3C
// validator) and print one JSON object: {path: {"errors": [{line, col, message}], "cues": N}}.
// A file that cannot be read is reported as an error of that file, never as a crash, so the
// caller always gets a verdict per path. Usage: node validate-vtt.js [--mode MODE] FILE...
// MODE is the parser's: "subtitles" (default), "chapters" or "metadata".
'use strict';
const fs = require('fs');
const path = require('path');
const { WebVTTParser } = require('webvtt-parser');

const args = process.argv.slice(2);
let mode = 'subtitles';
if (args[0] === '--mode') {
  mode = args[1];
  args.splice(0, 2);
}
// the full HTML entity table, as the validator loads it (the default knows only six)
const entities = JSON.parse(fs.readFileSync(
  path.join(path.dirname(require.resolve('webvtt-parser')), 'html-entities.json'), 'utf8'));
const report = {};
for (const file of args) {
  let text;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    report[file] = { errors: [{ line: 0, col: 0, message: `cannot read: ${e.message}` }], cues: 0 };
    continue;
  }
  const tree = new WebVTTParser(entities).parse(text, mode);
  report[file] = {
    errors: tree.errors.map((e) => ({ line: e.line, col: e.col ?? 0, message: e.message })),
    cues: tree.cues.length,
  };
}
process.stdout.write(JSON.stringify(report) + '\n');

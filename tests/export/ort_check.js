// ort_check.js: runs an exported ONNX model in ONNX Runtime (the npm package onnxruntime-node,
// CPU) on IDX images or text lines and compares its "probabilities" with what `nntrain predict`
// wrote. Test-only; an independent reader: it decodes the IDX file and scales pixels itself, or
// tokenizes `label<TAB>text` lines with the run's vocab.txt as the text dataset documents it
// (lower case, split at white space, vocab.txt's line k is id k: <pad> 0, <unk> 1, ...).
//   node ort_check.js MODEL.onnx IMAGES.idx[.gz] SCALE PREDICT.csv TOL
//   node ort_check.js MODEL.onnx TEST.tsv VOCAB.txt:MAX_LEN PREDICT.csv TOL
// Prints one line of JSON ({"rows", "max_diff", "agree", ...}); exits 1 when a probability
// differs by more than TOL or the model does not look as nntrain documents it.
'use strict';
const fs = require('fs');
const zlib = require('zlib');
const path = require('path');

function fail(msg) {
  console.error('ort_check: ' + msg);
  process.exit(1);
}

const [modelPath, imagesPath, scaleText, csvPath, tolText] = process.argv.slice(2);
if (!tolText)
  fail('usage: node ort_check.js MODEL.onnx IMAGES.idx[.gz] SCALE PREDICT.csv TOL');
const root = process.env.NNTRAIN_SOURCE_ROOT || path.join(__dirname, '..', '..');
const modDir = process.env.NNTRAIN_NODE_MODULES || path.join(root, '.deps', 'npm', 'node_modules');
let ort;
try {
  ort = require(path.join(modDir, 'onnxruntime-node'));
} catch (e) {
  fail('cannot load onnxruntime-node from ' + modDir + ' (installed by `bash ' +
       'scripts/install-deps.sh --test`): ' + e.message);
}

function read(p, enc) {
  try {
    return fs.readFileSync(p, enc);
  } catch (e) {
    fail('cannot read ' + p + ': ' + e.message);
  }
}

const text = imagesPath.endsWith('.tsv');
let raw, dims, header, per, ids, maxLen;
if (text) {
  const [vocabPath, maxLenText] = scaleText.split(':');
  maxLen = Number(maxLenText);
  const vocab = new Map();
  read(vocabPath, 'utf8').split('\n').forEach((t, k) => { if (t) vocab.set(t, k); });
  ids = read(imagesPath, 'utf8').split('\n').filter((l) => l.trim() !== '').map((l) => {
    const words = l.slice(l.indexOf('\t') + 1).toLowerCase().split(/\s+/).filter((w) => w);
    const row = new Int32Array(maxLen);
    words.slice(0, maxLen).forEach((w, k) => { row[k] = vocab.has(w) ? vocab.get(w) : 1; });
    return row;
  });
} else {
  // IDX: magic 0 0 type ndim, big-endian extents, then the bytes
  raw = read(imagesPath);
  if (raw[0] === 0x1f && raw[1] === 0x8b)
    raw = zlib.gunzipSync(raw);
  if (raw[0] !== 0 || raw[1] !== 0 || raw[2] !== 8)
    fail(imagesPath + ' is not an IDX file of unsigned bytes');
  const ndim = raw[3];
  dims = [];
  for (let d = 0; d < ndim; d++)
    dims.push(raw.readUInt32BE(4 + 4 * d));
  header = 4 + 4 * ndim;
  per = dims.slice(1).reduce((a, b) => a * b, 1);
}

// predict's CSV: index,label,predicted,probability,p_<class>...
const lines = read(csvPath, 'utf8').trim().split('\n');
const head = lines[0].split(',');
const pcol = head.findIndex((h) => h.startsWith('p_'));
if (head[0] !== 'index' || pcol < 0)
  fail(csvPath + ' is not a predict CSV with p_ columns');
const rows = lines.slice(1).map((l) => l.split(','));
const classes = head.length - pcol;

const scale = Math.fround(Number(scaleText));
const tol = Number(tolText);

function batch(first, n) {
  if (text) { // token ids [N, MAX_LEN], as the text dataset gives samples
    const x = new Int32Array(n * maxLen);
    for (let i = 0; i < n; i++)
      x.set(ids[Number(rows[first + i][0])], i * maxLen);
    return new ort.Tensor('int32', x, [n, maxLen]);
  }
  const x = new Float32Array(n * per);
  for (let i = 0; i < n; i++) {
    const idx = Number(rows[first + i][0]);
    for (let k = 0; k < per; k++)
      x[i * per + k] = Math.fround(raw[header + idx * per + k] * scale);
  }
  // a single channel: [N, 1, H, W], as the idx dataset gives samples
  return new ort.Tensor('float32', x, [n, 1, ...dims.slice(1)]);
}

(async () => {
  const session = await ort.InferenceSession.create(modelPath);
  const want = ['input'], got = session.inputNames;
  if (JSON.stringify(got) !== JSON.stringify(want))
    fail('inputs are ' + JSON.stringify(got) + ', expected ' + JSON.stringify(want));
  if (JSON.stringify(session.outputNames) !== JSON.stringify(['output', 'probabilities']))
    fail('outputs are ' + JSON.stringify(session.outputNames));
  // batches of several sizes: the batch dimension must be dynamic
  const sizes = [1, 7, 32];
  let maxDiff = 0, agree = 0, done = 0, s = 0;
  while (done < rows.length) {
    const n = Math.min(sizes[s++ % sizes.length], rows.length - done);
    const res = await session.run({input: batch(done, n)});
    const p = res.probabilities, o = res.output;
    if (p.dims.length !== 2 || p.dims[0] !== n || p.dims[1] !== classes)
      fail('probabilities have shape ' + JSON.stringify(p.dims) + ' for a batch of ' + n);
    if (o.dims[0] !== n)
      fail('output has shape ' + JSON.stringify(o.dims) + ' for a batch of ' + n);
    for (let i = 0; i < n; i++) {
      const r = rows[done + i];
      let best = 0;
      for (let c = 0; c < classes; c++) {
        const d = Math.abs(p.data[i * classes + c] - Number(r[pcol + c]));
        if (d > maxDiff)
          maxDiff = d;
        if (p.data[i * classes + c] > p.data[i * classes + best])
          best = c;
      }
      if (head[pcol + best].slice(2) === r[2])
        agree++;
    }
    done += n;
  }
  console.log(JSON.stringify({rows: rows.length, classes, max_diff: maxDiff, agree,
                              ort: ort.env.versions.common}));
  if (!(maxDiff <= tol))
    fail('a probability differs from nntrain predict by ' + maxDiff + ' > ' + tol);
})().catch((e) => fail(e.message));

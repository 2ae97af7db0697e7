import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

const root = join(import.meta.dirname, '..', '..');
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { exports: Record<string, unknown> };
const subpaths = Object.keys(pkg.exports).filter((k) => k !== '.' && k !== './package.json');

test('the package exports the root and the subpaths ays/onnx, ays/bundled, ays/optimizer, ays/lab, ays/testing', () => {
  assert.deepEqual(subpaths.sort(), ['./bundled', './lab', './onnx', './optimizer', './testing']);
});

test('every exported value name is exported by exactly one entry point', async () => {
  const owner = new Map<string, string>();
  for (const entry of ['ays', ...subpaths.map((s) => `ays/${s.slice(2)}`)]) {
    const mod = (await import(entry)) as Record<string, unknown>;
    for (const name of Object.keys(mod)) {
      assert.ok(!owner.has(name), `${name} is exported by both ${owner.get(name)} and ${entry}`);
      owner.set(name, entry);
    }
  }
  for (const name of ['loglinearInterp', 'getSigmas', 'sample', 'samplerSpec', 'validateSigmas', 'validateSteps', 'guidedModelDenoiser', 'loadPipeline']) {
    assert.equal(owner.get(name), 'ays', name);
  }
  assert.equal(owner.get('optimizeAys'), 'ays/optimizer');
  assert.equal(owner.get('createRng'), 'ays/lab');
  assert.equal(owner.get('writeTinyModel'), 'ays/testing');
  assert.equal(owner.get('openSession'), 'ays/onnx');
});

/** Imports `code` in a fresh node and lists the onnxruntime / sharp modules it loaded. */
function heavyModulesAfter(code: string): string[] {
  const script = `${code}
const { createRequire } = await import('node:module');
const cache = createRequire(import.meta.url)('node:module')._cache;
console.log(JSON.stringify(Object.keys(cache).filter((k) => /onnxruntime|[\\\\/]sharp[\\\\/]/.test(k))));`;
  const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], { cwd: root, encoding: 'utf8' });
  return JSON.parse(out.trim().split('\n').pop()!) as string[];
}

test("import 'ays' loads neither onnxruntime-node nor sharp; loading a model does", () => {
  assert.deepEqual(heavyModulesAfter("const ays = await import('ays'); ays.getSigmas({ model: 'sd15', scheduler: 'ays', steps: 10 });"), []);
  assert.deepEqual(heavyModulesAfter("await import('ays/optimizer'); await import('ays/lab');"), []);
  const loaded = heavyModulesAfter("const ays = await import('ays'); await ays.loadPipeline('/nonexistent-model-dir').catch((e) => { if (!(e instanceof Error)) throw e; });");
  assert.ok(loaded.some((k) => k.includes('onnxruntime-node')), 'loadPipeline imports onnxruntime-node on its first call');
});

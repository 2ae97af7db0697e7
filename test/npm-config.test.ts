// The project's npm setup: no config key npm does not know (npm warned `Unknown project config
// "onnxruntime-node-install"` on every call), and onnxruntime-node's install script, which downloads CUDA
// libraries from NuGet, is denied through package.json's allowScripts so `npm ci` stays offline.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../../', import.meta.url));

/** The environment without what `npm test` itself exports (npm_config_*, npm_package_*, npm_lifecycle_*). */
function cleanEnv(): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^npm_/i.test(k)));
}

test('npm prints no warning about project config in this repository', () => {
  const r = spawnSync('npm', ['pkg', 'get', 'name'], { cwd: root, env: cleanEnv(), encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout.trim(), '"ays"');
  assert.doesNotMatch(r.stderr, /Unknown (project|env|user) config/, r.stderr);
  assert.equal(r.stderr.trim(), '', 'npm says nothing on stderr');
});

test('onnxruntime-node install script is denied (offline install); no .npmrc key npm would not know', () => {
  const pkg = JSON.parse(readFileSync(`${root}package.json`, 'utf8')) as { allowScripts?: Record<string, boolean> };
  assert.equal(pkg.allowScripts?.['onnxruntime-node'], false);
  if (existsSync(`${root}.npmrc`)) {
    assert.doesNotMatch(readFileSync(`${root}.npmrc`, 'utf8'), /^\s*onnxruntime-node-install/m);
  }
  // every other dependency with an install script is reviewed (else npm prints a notice on install)
  const lock = JSON.parse(readFileSync(`${root}package-lock.json`, 'utf8')) as { packages: Record<string, { hasInstallScript?: boolean }> };
  const withScripts = Object.entries(lock.packages)
    .filter(([, v]) => v.hasInstallScript)
    .map(([k]) => k.replace(/^.*node_modules\//, ''));
  for (const name of withScripts) assert.ok(name in (pkg.allowScripts ?? {}), `${name} has an install script but no allowScripts entry`);
});

test('npm test names test files, not a folder (Node 22+ reads --test arguments as file globs, not folders)', () => {
  const pkg = JSON.parse(readFileSync(`${root}package.json`, 'utf8')) as { scripts: Record<string, string> };
  assert.match(pkg.scripts.test!, /node --test .*dist\/test\/\*\.test\.js$/);
  assert.match(readFileSync(`${root}.ci/run`, 'utf8'), /"\$node24" --test .*dist\/test\/\*\.test\.js/);
});

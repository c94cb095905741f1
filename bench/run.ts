import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * Runs every `bench/*.bench.ts` in its own process, one after another, passing their output
 * through. Each benchmark prints one JSON line per figure: {"bench": name, "value": n, "unit": "..."}.
 * Usage: npm run bench [-- <filter>]   (runs the files whose name contains the filter)
 */
const benchDir = dirname(fileURLToPath(import.meta.url));
const filter = process.argv[2] ?? '';
const files = readdirSync(benchDir)
  .filter((f) => f.endsWith('.bench.ts') && f.includes(filter))
  .sort();

if (files.length === 0) {
  process.stderr.write(`no benchmark matches "${filter}"\n`);
  process.exit(1);
}

const failed: string[] = [];
for (const file of files) {
  process.stderr.write(`# ${file}\n`);
  const res = spawnSync(process.execPath, ['--import', 'tsx', join(benchDir, file)], { stdio: 'inherit' });
  if (res.status !== 0) failed.push(file);
}
if (failed.length) {
  process.stderr.write(`failed: ${failed.join(', ')}\n`);
  process.exit(1);
}

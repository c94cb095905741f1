/**
 * Vitest global setup: builds the admin console into dist/web when any of its sources is newer
 * than the last build, so the test servers serve the console the tests' browser drives.
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { build } from 'vite';

const root = join(import.meta.dirname, '..', '..');
const sources = [join(root, 'src', 'web'), join(root, 'src', 'admin', 'roles.ts')];
const builtIndex = join(root, 'dist', 'web', 'index.html');

function newestMtime(path: string): number {
  const st = statSync(path);
  if (!st.isDirectory()) return st.mtimeMs;
  let newest = st.mtimeMs;
  for (const entry of readdirSync(path)) newest = Math.max(newest, newestMtime(join(path, entry)));
  return newest;
}

export default async function setup(): Promise<void> {
  const built = existsSync(builtIndex) ? statSync(builtIndex).mtimeMs : 0;
  if (Math.max(...sources.map(newestMtime)) <= built) return;
  await build({ configFile: join(root, 'src', 'web', 'vite.config.ts'), logLevel: 'warn' });
}

import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import fastifyStatic from '@fastify/static';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { consolePages } from './paths.js';

export interface ConsoleRouteDeps {
  /** True while no user exists: the console then opens on first-run setup. */
  setupRequired: () => Promise<boolean>;
  /** Where the built console lives (index.html and assets/); defaults to the package's dist/web. */
  assetsDir?: string;
}

/**
 * The console's page policy: scripts and styles only from this origin (the bundle has no inline
 * script), API calls only to this origin, never framed.
 */
const consoleCsp = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

/** The package root (the folder with package.json), from this module's place in src/ or dist/src/. */
function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) {
    const up = dirname(dir);
    if (up === dir) throw new Error('package.json not found above the console module');
    dir = up;
  }
  return dir;
}

export function defaultConsoleAssetsDir(): string {
  return join(packageRoot(), 'dist', 'web');
}

const notBuiltPage = `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Flotilla</title></head>
<body><h1>The console is not built</h1><p>Run <code>npm run build</code> (or <code>npm start</code>, which builds first).</p></body></html>\n`;

/**
 * Serves the admin console: its hashed assets (cached for a year: a new build has new names) and
 * index.html at `/` and at every console page path (never cached, so a new build shows at once).
 * The console has no server side of its own: it reads and writes through the admin API.
 */
export async function registerConsoleRoutes(server: FastifyInstance, deps: ConsoleRouteDeps) {
  const dir = deps.assetsDir ?? defaultConsoleAssetsDir();
  const indexFile = join(dir, 'index.html');
  // Read once: the build does not change under a running server.
  const index = existsSync(indexFile) ? readFileSync(indexFile, 'utf8') : undefined;

  const sendIndex = (reply: FastifyReply) => {
    void reply
      .header('content-security-policy', consoleCsp)
      .header('x-frame-options', 'DENY')
      .header('x-content-type-options', 'nosniff')
      .header('referrer-policy', 'no-referrer')
      .header('cache-control', 'no-store')
      .type('text/html; charset=utf-8');
    return index === undefined ? reply.code(503).send(notBuiltPage) : reply.send(index);
  };

  if (index !== undefined && existsSync(join(dir, 'assets'))) {
    await server.register(fastifyStatic, {
      root: join(dir, 'assets'),
      prefix: '/assets/',
      decorateReply: false,
      index: false,
      immutable: true,
      maxAge: '365d',
    });
  }

  // Fleet's rule: until the first user exists every page leads to setup, and setup is closed after.
  server.get('/', async (_req, reply) =>
    reply.redirect((await deps.setupRequired()) ? consolePages.setup : consolePages.dashboard),
  );
  server.get(consolePages.setup, async (_req, reply) =>
    (await deps.setupRequired()) ? sendIndex(reply) : reply.redirect(consolePages.login),
  );
  for (const [name, path] of Object.entries(consolePages)) {
    if (name === 'setup') continue;
    server.get(path, async (_req, reply) =>
      (await deps.setupRequired()) ? reply.redirect(consolePages.setup) : sendIndex(reply),
    );
  }
}

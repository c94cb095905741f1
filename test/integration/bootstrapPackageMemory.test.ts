import { createHash, randomBytes } from 'node:crypto';
import http from 'node:http';
import { Readable } from 'node:stream';
import { expect, it } from 'vitest';
import { setupAdmin } from '../helpers/api.js';
import { makePkg } from '../helpers/bootstrapPkg.js';
import { describeEachDialect } from '../helpers/testServer.js';

/**
 * A large bootstrap package goes through the server without ever being held in memory: the upload is
 * written to the chunk table as it arrives and the download is read back a few chunks at a time.
 * The test client streams too (the body is generated on the fly, the answer hashed as it comes),
 * so this process's RSS — server and client together — must stay far below the file's size.
 */
const fileBytes = 300 * 1024 * 1024;
/**
 * Half the file: holding the file once would grow RSS by at least its size. Streaming grows it by
 * a bounded amount (measured ≈50 MiB on SQLite, ≈110 MiB on MySQL, whose driver escapes each 1 MiB
 * chunk into the SQL text; the same with a 600 MiB file), not by the file's size.
 */
const maxGrowthBytes = fileBytes / 2;
const boundary = 'flotilla-memory-test-boundary';

/** The package: a signed xar head, then a repeated random block up to `fileBytes`. */
function packageSource(): { stream: () => Readable; sha256: string } {
  const head = makePkg({ heapBytes: 0 });
  const block = randomBytes(1024 * 1024);
  function* parts(): Generator<Buffer> {
    yield head;
    let left = fileBytes - head.length;
    while (left > 0) {
      const n = Math.min(block.length, left);
      yield n === block.length ? block : block.subarray(0, n);
      left -= n;
    }
  }
  const hash = createHash('sha256');
  for (const p of parts()) hash.update(p);
  return { stream: () => Readable.from(parts(), { objectMode: false }), sha256: hash.digest('hex') };
}

/** Samples this process's RSS every 20 ms; `stop` gives the highest reading. */
function rssSampler(): { stop: () => number } {
  let peak = process.memoryUsage().rss;
  const timer = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage().rss);
  }, 20);
  return {
    stop: () => {
      clearInterval(timer);
      return Math.max(peak, process.memoryUsage().rss);
    },
  };
}

function streamingUpload(
  url: string,
  token: string,
  body: Readable,
): Promise<{ status: number; text: string }> {
  const preamble = Buffer.from(
    `--${boundary}\r\nContent-Disposition: form-data; name="team_id"\r\n\r\n0\r\n` +
      `--${boundary}\r\nContent-Disposition: form-data; name="package"; filename="large.pkg"\r\n` +
      'Content-Type: application/octet-stream\r\n\r\n',
  );
  const epilogue = Buffer.from(`\r\n--${boundary}--\r\n`);
  return new Promise((resolve, reject) => {
    const req = http.request(url, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${token}`,
        'content-type': `multipart/form-data; boundary=${boundary}`,
        'content-length': String(preamble.length + fileBytes + epilogue.length),
      },
    });
    req.on('error', reject);
    req.on('response', (res) => {
      let text = '';
      res.on('data', (c: Buffer) => (text += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
    });
    req.write(preamble);
    body.on('error', reject);
    body.on('end', () => req.end(epilogue));
    body.pipe(req, { end: false });
  });
}

function streamingDownload(url: string): Promise<{ status: number; size: number; sha256: string }> {
  return new Promise((resolve, reject) => {
    http
      .get(url, (res) => {
        const hash = createHash('sha256');
        let size = 0;
        res.on('data', (c: Buffer) => {
          size += c.length;
          hash.update(c);
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, size, sha256: hash.digest('hex') }));
        res.on('error', reject);
      })
      .on('error', reject);
  });
}

describeEachDialect('bootstrap package memory', (server) => {
  it('uploads and downloads a 300 MiB package with memory growth far below its size', async () => {
    const srv = server();
    const admin = await setupAdmin(srv);
    const pkg = packageSource();
    const baseline = process.memoryUsage().rss;

    let t0 = performance.now();
    const upSampler = rssSampler();
    const up = await streamingUpload(`${srv.url}/api/v1/fleet/bootstrap`, admin, pkg.stream());
    const upPeak = upSampler.stop();
    const upSeconds = (performance.now() - t0) / 1000;
    expect(up).toEqual({ status: 200, text: '{}' });

    const row = await srv.app.services.database.db
      .selectFrom('mdm_apple_bootstrap_packages')
      .select(['size', 'token', 'sha256'])
      .where('team_id', '=', 0)
      .executeTakeFirstOrThrow();
    expect(Number(row.size)).toBe(fileBytes);
    expect(Buffer.from(row.sha256).toString('hex')).toBe(pkg.sha256);

    t0 = performance.now();
    const downSampler = rssSampler();
    const down = await streamingDownload(`${srv.url}/api/v1/fleet/bootstrap?token=${row.token}`);
    const downPeak = downSampler.stop();
    const downSeconds = (performance.now() - t0) / 1000;
    expect(down).toEqual({ status: 200, size: fileBytes, sha256: pkg.sha256 });

    const mib = (n: number) => Math.round(n / 1024 / 1024);
    process.stderr.write(
      `bootstrap memory [${srv.dialect}]: baseline ${mib(baseline)} MiB, upload peak +${mib(upPeak - baseline)} MiB in ${upSeconds.toFixed(1)} s, download peak +${mib(downPeak - baseline)} MiB in ${downSeconds.toFixed(1)} s for a ${mib(fileBytes)} MiB file\n`,
    );
    expect(upPeak - baseline).toBeLessThan(maxGrowthBytes);
    expect(downPeak - baseline).toBeLessThan(maxGrowthBytes);
  }, 120_000);
});

import { generateKeyPairSync } from 'node:crypto';
import { scepEnroll } from '../src/apple/scep/client.js';
import type { DialectName } from '../src/db/dialect.js';
import { mysqlReachable } from './lib/database.js';
import { reportFigure } from './lib/load.js';
import { startBenchServer } from './lib/server.js';

/**
 * Apple SCEP: certificates issued per second through HTTP by our SCEP client (GetCACaps,
 * GetCACert, PKIOperation by POST; each one a full PKCSReq: decrypt, CSR check, challenge, serial
 * allocation, signing, record, encrypted CertRep), with 8 concurrent clients for 5 s.
 * Client keys are made up front so the figure measures the server, not client key generation.
 */
const durationMs = Number(process.env.BENCH_DURATION_MS ?? 5000);
const concurrency = 8;
const challenge = 'bench-scep-challenge';

const keys = Array.from(
  { length: concurrency },
  () =>
    generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({
      type: 'pkcs1',
      format: 'pem',
    }) as string,
);

async function measure(dialect: DialectName): Promise<void> {
  const server = await startBenchServer({ dialect, env: { FLOTILLA_APPLE_SCEP_CHALLENGE: challenge } });
  try {
    const url = `${server.url}/mdm/apple/scep`;
    for (let i = 0; i < 5; i++)
      await scepEnroll({ url, challenge, subjectCN: `warmup-${i}`, keyPem: keys[0] });
    let issued = 0;
    let failed = 0;
    const began = performance.now();
    const deadline = began + durationMs;
    await Promise.all(
      keys.map(async (keyPem, w) => {
        for (let n = 0; performance.now() < deadline; n++) {
          try {
            await scepEnroll({ url, challenge, subjectCN: `bench-${w}-${n}`, keyPem });
            issued++;
          } catch {
            failed++;
          }
        }
      }),
    );
    const seconds = (performance.now() - began) / 1000;
    if (failed) throw new Error(`${failed} of ${issued + failed} enrollments failed`);
    reportFigure(`scep_certificates_per_second_${dialect}`, issued / seconds, 'certificates/s');
    if (dialect === 'mysql') reportFigure('scep_certificates_per_second', issued / seconds, 'certificates/s');
  } finally {
    await server.close();
  }
}

await measure('sqlite');
if (await mysqlReachable()) await measure('mysql');
else process.stderr.write('scep: MySQL is unreachable; skipping the MySQL figure\n');

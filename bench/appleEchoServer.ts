import { readFileSync } from 'node:fs';
import { X509Certificate } from 'node:crypto';
import Fastify from 'fastify';
import { DeviceIdentityVerifier } from '../src/apple/checkin/deviceIdentity.js';
import { enrollmentIdentity, parseCommandReport } from '../src/apple/checkin/messages.js';
import { buildCommandPlist } from '../src/apple/commands/build.js';
import { parsePlistDict } from '../src/apple/plist/parse.js';

/**
 * The ceiling for the Apple connect benchmark: the device endpoint's work without a database.
 * Same raw-body parsing, Mdm-Signature verification against the CA, plist parse and report
 * validation as the real route, then a fixed command plist as the answer. Only the benchmark
 * starts it (`node --import tsx bench/appleEchoServer.ts <ca.pem>`).
 */
const caPem = readFileSync(process.argv[2], 'utf8');
const ca = new X509Certificate(caPem);
const identity = new DeviceIdentityVerifier(async () => ({ x509: ca, certDer: ca.raw }));
const answer = buildCommandPlist('SecurityInfo', {}).plist;

const app = Fastify({ bodyLimit: 20 * 1024 * 1024 });
app.removeAllContentTypeParsers();
app.addContentTypeParser('*', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));
app.put('/mdm/apple/mdm', async (req, reply) => {
  const body = req.body as Buffer;
  const dict = parsePlistDict(body);
  enrollmentIdentity(dict);
  parseCommandReport(dict);
  await identity.identify(body, req.headers['mdm-signature'] as string | undefined, undefined);
  return reply.type('application/xml; charset=UTF-8').send(answer);
});
const url = await app.listen({ host: '127.0.0.1', port: 0 });
process.stdout.write(`listening on ${url}\n`);

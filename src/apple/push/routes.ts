import multipart from '@fastify/multipart';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { authorize } from '../../http/adminApi.js';
import { badRequest, invalid } from '../../http/errors.js';
import type { Services } from '../../services.js';
import { appleMdmNotConfigured } from './certificates.js';

/** An APNs certificate file is a few KiB; anything much larger is not one. */
const maxCertificateBytes = 64 * 1024;

/** Reads the uploaded certificate: multipart field `certificate`, or a raw PEM/DER body. */
async function uploadedCertificate(req: FastifyRequest): Promise<Buffer> {
  if (req.isMultipart()) {
    let found: Buffer | undefined;
    for await (const part of req.parts({ limits: { fileSize: maxCertificateBytes, files: 2, fields: 10 } })) {
      if (part.type === 'file') {
        const bytes = await part.toBuffer();
        if (part.file.truncated) throw invalid('the certificate file is too large', 'certificate');
        if (part.fieldname === 'certificate') found = bytes;
      } else if (part.fieldname === 'certificate' && typeof part.value === 'string') {
        found = Buffer.from(part.value);
      }
    }
    if (!found || found.length === 0)
      throw badRequest('multipart field "certificate" is missing or empty', 'certificate');
    return found;
  }
  const body = req.body;
  if (Buffer.isBuffer(body) && body.length > 0) return body;
  throw badRequest(
    'send the certificate as multipart field "certificate" (or as a raw PEM body)',
    'certificate',
  );
}

/**
 * APNs setup (admin only, Fleet's paths): CSR, certificate upload and delete, status. These work
 * while Apple MDM is off.
 */
export async function registerApplePushRoutes(
  scope: FastifyInstance,
  services: Pick<Services, 'apnsCertificates' | 'appConfig' | 'activities'>,
) {
  const certs = services.apnsCertificates;
  await scope.register(async (s) => {
    await s.register(multipart, { limits: { fileSize: maxCertificateBytes } });
    s.addContentTypeParser(
      [
        'application/x-pem-file',
        'application/x-x509-ca-cert',
        'application/pkix-cert',
        'application/octet-stream',
      ],
      { parseAs: 'buffer', bodyLimit: maxCertificateBytes },
      (_req, body, done) => done(null, body),
    );

    s.get('/mdm/apple/request_csr', async (req) => {
      const viewer = authorize(req, 'mdm_apple_setup', 'write');
      const org = (await services.appConfig.get()).org_info.org_name;
      const csrPem = await certs.requestCsr({ organization: org, email: viewer.user.email });
      return { csr: Buffer.from(csrPem).toString('base64') };
    });

    // 202 Accepted, as Fleet answers it (UploadMDMAppleAPNSCertResponse.Status).
    s.post('/mdm/apple/apns_certificate', async (req, reply) => {
      const viewer = authorize(req, 'mdm_apple_setup', 'write');
      const bytes = await uploadedCertificate(req);
      const cert = await certs.upload(bytes);
      await services.activities.record(viewer, 'uploaded_apns_certificate', {
        topic: cert.topic,
        not_after: cert.notAfter.toISOString(),
      });
      return reply.code(202).send({});
    });

    s.delete('/mdm/apple/apns_certificate', async (req) => {
      const viewer = authorize(req, 'mdm_apple_setup', 'write');
      if (!(await certs.current())) throw appleMdmNotConfigured();
      await certs.delete();
      await services.activities.record(viewer, 'deleted_apns_certificate', {});
      return {};
    });

    const status = async (req: FastifyRequest) => {
      authorize(req, 'mdm_apple_setup', 'read');
      const st = await certs.status();
      if (!st) throw appleMdmNotConfigured();
      return st;
    };
    s.get('/mdm/apple', status);
    s.get('/apns', status);
  });
}

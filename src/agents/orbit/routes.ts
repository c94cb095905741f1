import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { addressRateLimit } from '../../http/rateLimit.js';
import type { RateLimitService } from '../../ratelimit/service.js';
import { acceptAnyContentTypeAsJson, checkLengths, decodeBody, goString } from './body.js';
import {
  capabilitiesHeader,
  capabilitiesValue,
  parseCapabilities,
  serverOrbitCapabilities,
} from './capabilities.js';
import { installAgentErrorHandler } from './errors.js';
import type { OrbitService } from './service.js';

// Unknown keys are ignored (fleetd adds fields over time), as Fleet's decoder does.
const enrollBody = z.object({
  enroll_secret: goString,
  hardware_uuid: goString,
  hardware_serial: goString,
  hostname: goString,
  platform: goString,
  osquery_identifier: goString,
  computer_name: goString,
  hardware_model: goString,
});
const nodeKeyBody = z.object({ orbit_node_key: goString });
const deviceTokenBody = z.object({ orbit_node_key: goString, device_auth_token: goString });
const deviceMappingBody = z.object({ orbit_node_key: goString, email: goString });
/** Go's []byte: standard base64 with padding (line breaks ignored), or null. */
const base64Bytes = z
  .string()
  .nullish()
  .refine(
    (v) =>
      !v || /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/.test(v.replace(/[\r\n]/g, '')),
  )
  .transform((v) => (v ? Buffer.from(v.replace(/[\r\n]/g, ''), 'base64') : null));
const diskKeyBody = z.object({
  orbit_node_key: goString,
  encryption_key: base64Bytes,
  client_error: goString,
});

const orbitCapabilities = capabilitiesValue(serverOrbitCapabilities)!;

/**
 * fleetd (orbit) endpoints: unversioned; the node key travels in the JSON body. Every successful
 * answer carries the server's `X-Fleet-Capabilities`.
 */
export async function registerOrbitRoutes(
  app: FastifyInstance,
  services: { orbit: OrbitService; rateLimits: RateLimitService },
): Promise<void> {
  const { orbit } = services;
  await app.register(async (scope) => {
    acceptAnyContentTypeAsJson(scope);
    installAgentErrorHandler(scope, 'orbit');
    scope.addHook('onSend', async (_req, reply, payload) => {
      if (reply.statusCode < 400) reply.header(capabilitiesHeader, orbitCapabilities);
      return payload;
    });

    // Limits enroll-secret guessing per client address.
    const onRequest = addressRateLimit(services.rateLimits, 'enrollAddress');
    scope.post('/api/fleet/orbit/enroll', { onRequest }, async (req) => {
      const b = decodeBody(enrollBody, req.body);
      const { enroll_secret: _secret, ...fields } = b;
      checkLengths(fields);
      return orbit.enroll(b);
    });

    // Unauthenticated: fleetd asks what the server supports. The client's capabilities are not
    // read here (nothing vouches for them).
    scope.head('/api/fleet/orbit/ping', async (_req, reply) => reply.status(200).send());

    scope.post('/api/fleet/orbit/config', async (req) => {
      const b = decodeBody(nodeKeyBody, req.body);
      return orbit.config(b.orbit_node_key, parseCapabilities(req.headers[capabilitiesHeader]));
    });

    scope.post('/api/fleet/orbit/device_token', async (req) => {
      const b = decodeBody(deviceTokenBody, req.body);
      await orbit.setDeviceToken(b.orbit_node_key, b.device_auth_token);
      return {};
    });

    scope.put('/api/fleet/orbit/device_mapping', async (req) => {
      const b = decodeBody(deviceMappingBody, req.body);
      await orbit.setDeviceMapping(b.orbit_node_key, b.email);
      return {};
    });

    scope.post('/api/fleet/orbit/disk_encryption_key', async (req, reply) => {
      const b = decodeBody(diskKeyBody, req.body);
      // client_error is not length-checked: the disk-encryption area keeps its first 255 characters.
      await orbit.escrowDiskEncryptionKey(b.orbit_node_key, b.encryption_key, b.client_error);
      return reply.status(204).send();
    });
  });
}

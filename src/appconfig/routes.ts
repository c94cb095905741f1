import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { queryFlag } from '../admin/routeParams.js';
import { authorize } from '../http/adminApi.js';
import type { Services } from '../services.js';

const updates = z
  .object({ minimum_version: z.string().nullable().optional(), deadline: z.string().nullable().optional() })
  .strict();

/** What `PATCH /config` accepts. Read-only flags are accepted (clients echo them back) and ignored. */
const configPatch = z
  .object({
    org_info: z
      .object({ org_name: z.string().max(255).optional(), org_logo_url: z.string().max(2048).optional() })
      .strict()
      .optional(),
    server_settings: z
      .object({
        server_url: z.url().optional(),
        live_query_disabled: z.boolean().optional(),
        enable_analytics: z.boolean().optional(),
      })
      .strict()
      .optional(),
    mdm: z
      .object({
        apple_server_url: z.union([z.url(), z.literal('')]).optional(),
        windows_enabled_and_configured: z.boolean().optional(),
        android_enabled_and_configured: z.boolean().optional(),
        enable_disk_encryption: z.boolean().optional(),
        macos_updates: updates.optional(),
        macos_settings: z
          .object({ custom_settings: z.array(z.unknown()).optional() })
          .strict()
          .optional(),
        windows_settings: z
          .object({ custom_settings: z.array(z.unknown()).optional() })
          .strict()
          .optional(),
        end_user_authentication: z
          .object({
            idp_name: z.string().optional(),
            entity_id: z.string().optional(),
            metadata: z.string().optional(),
            metadata_url: z.string().optional(),
          })
          .strict()
          .optional(),
        enabled_and_configured: z.boolean().optional(),
        apple_bm_enabled_and_configured: z.boolean().optional(),
      })
      .strict()
      .optional(),
  })
  .strict();

const patchQuery = z
  .object({ dry_run: z.string().optional(), overwrite: z.string().optional(), force: z.string().optional() })
  .strict();

/** Global settings: `GET /config` and `PATCH /config` (with `?dry_run=true`). */
export function registerAppConfigRoutes(scope: FastifyInstance, services: Services) {
  scope.get('/config', async (req) => {
    authorize(req, 'app_config', 'read', null);
    return services.appConfig.get();
  });

  scope.patch('/config', async (req) => {
    const q = patchQuery.parse(req.query);
    const body = configPatch.parse(req.body);
    const viewer = authorize(req, 'app_config', 'write', null);
    const dryRun = queryFlag(q.dry_run, 'dry_run') ?? false;
    if (body.mdm) {
      // Whether Apple MDM and ABM are on follows from their certificates and tokens, not from a setting.
      delete body.mdm.enabled_and_configured;
      delete body.mdm.apple_bm_enabled_and_configured;
    }
    const before = await services.appConfig.get();
    const next = await services.appConfig.patch(body, { dryRun });
    if (!dryRun) {
      await services.activities.record(viewer, 'edited_app_config', {});
      const win = body.mdm?.windows_enabled_and_configured;
      if (win !== undefined && win !== before.mdm.windows_enabled_and_configured) {
        await services.activities.record(viewer, win ? 'enabled_windows_mdm' : 'disabled_windows_mdm', {});
      }
    }
    return next;
  });
}

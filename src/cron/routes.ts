import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { adminQuery, authorize } from '../http/adminApi.js';
import { badRequest } from '../http/errors.js';
import { toApiTime } from '../db/dialect.js';
import type { Services } from '../services.js';

const triggerQuery = adminQuery({ name: z.string().optional(), token: z.string().optional() });

function parseErrors(errors: string | null): string[] | null {
  if (!errors) return null;
  try {
    return JSON.parse(errors) as string[];
  } catch {
    return [errors];
  }
}

/** Admin routes for cron: trigger a job now (Fleet's path) and list jobs with their last run. */
export function registerCronRoutes(scope: FastifyInstance, services: Pick<Services, 'cron'>) {
  scope.post('/trigger', async (req) => {
    authorize(req, 'cron', 'write');
    const { name } = triggerQuery.parse(req.query ?? {});
    if (!name)
      throw badRequest(
        `name is required; supported trigger names are: ${services.cron.jobNames().join(', ')}`,
        'name',
      );
    await services.cron.trigger(name);
    return {};
  });

  scope.get('/cron', async (req) => {
    authorize(req, 'cron', 'read');
    const jobs = await services.cron.describe();
    return {
      crons: jobs.map(({ job, lastRun }) => ({
        name: job.name,
        interval_seconds: job.intervalSeconds,
        last_run: lastRun
          ? {
              id: lastRun.id,
              instance: lastRun.instance,
              stats_type: lastRun.stats_type,
              status: lastRun.status,
              errors: parseErrors(lastRun.errors),
              created_at: toApiTime(lastRun.created_at),
              updated_at: toApiTime(lastRun.updated_at),
            }
          : null,
      })),
    };
  });
}

import type { FastifyInstance } from 'fastify';
import { registerAppConfigRoutes } from '../appconfig/routes.js';
import { registerHostRoutes } from '../hosts/routes.js';
import { registerLabelRoutes } from '../labels/routes.js';
import type { Services } from '../services.js';
import { registerTeamRoutes } from '../teams/routes.js';
import { registerActivityRoutes } from './activityRoutes.js';
import { registerInviteRoutes } from './inviteRoutes.js';
import { registerPasswordRoutes } from './passwordRoutes.js';
import { registerUserRoutes } from './userRoutes.js';

/**
 * The admin basics (users, invites, passwords, teams, enroll secrets, labels, hosts, activities,
 * config), each route module given only the services it calls.
 */
export function registerAdminBasicsRoutes(scope: FastifyInstance, services: Services) {
  const { users, invites, passwords, rateLimits, teams, enrollSecrets, diskEncryption } = services;
  const { labels, labelStore, hosts, activities, appConfig, endUserAuth } = services;
  registerUserRoutes(scope, { users });
  registerInviteRoutes(scope, { invites, rateLimits });
  registerPasswordRoutes(scope, { passwords, rateLimits });
  registerTeamRoutes(scope, { teams, enrollSecrets, diskEncryption, endUserAuth });
  registerLabelRoutes(scope, { labels, labelStore, hosts });
  registerHostRoutes(scope, { hosts, labels });
  registerActivityRoutes(scope, { activities, hosts });
  registerAppConfigRoutes(scope, { appConfig, activities, diskEncryption });
}

import type { FastifyInstance } from 'fastify';
import { registerAppConfigRoutes } from '../appconfig/routes.js';
import { registerHostRoutes } from '../hosts/routes.js';
import { registerLabelRoutes } from '../labels/routes.js';
import type { Services } from '../services.js';
import { registerTeamRoutes } from '../teams/routes.js';
import { registerActivityRoutes } from './activityRoutes.js';
import { registerUserRoutes } from './userRoutes.js';

/** The admin basics (users, teams, enroll secrets, labels, hosts, activities, config) as one admin route module. */
export function adminBasicsRoutes(services: Services) {
  return (scope: FastifyInstance) => {
    registerUserRoutes(scope, services);
    registerTeamRoutes(scope, services);
    registerLabelRoutes(scope, services);
    registerHostRoutes(scope, services);
    registerActivityRoutes(scope, services);
    registerAppConfigRoutes(scope, services);
  };
}

/**
 * Fleet variables (`$FLEET_VAR_*`, filled per host at delivery) and secrets (`$FLEET_SECRET_*`,
 * stored sealed and filled in memory when a command is handed to the device): names, sources,
 * the expander, the upload checks and the secret API.
 */
export { fleetVariables, findProfileVariables, type ProfileVariables } from './names.js';
export type { FleetVariableSource, VariableHost, VariableValue } from './sources.js';
export { ProfileExpander, type Expanded, type ValueEscape } from './expander.js';
export { HostIdentityVariables } from './hostIdentity.js';
export { HostIdentityStore } from './hostIdentityStore.js';
export { SecretVariableStore } from './secretStore.js';
export { SecretDefinitionStore } from './definitionStore.js';
export { SecretVariableService, type SecretValues } from './secretService.js';
export { ProfileVariableChecker, type VariableUploadRule } from './uploadChecks.js';
export { ProfileVariableStore } from './profileVariableStore.js';
export { registerSecretVariableRoutes } from './routes.js';

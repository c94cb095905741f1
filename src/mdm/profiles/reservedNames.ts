/** Names of the profiles and declarations Fleet installs itself: no uploaded profile may take them, on any platform. */
export const reservedNames = new Set([
  'Fleetd configuration',
  'Disk encryption',
  'Fleet root certificate authority (CA)',
  'Windows OS Updates',
  'Fleet macOS OS Updates',
  'Fleet iOS OS Updates',
  'Fleet iPadOS OS Updates',
]);

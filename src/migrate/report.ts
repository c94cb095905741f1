import type { ImportReport } from './service.js';

/** The report an admin reads after `flotilla import` (counts only; never a secret). */
export function formatReport(r: ImportReport): string {
  const c = r.counts;
  const d = r.definitions;
  const verb = r.dryRun ? 'would import' : 'imported';
  const lines = [
    `${r.dryRun ? 'DRY RUN (nothing written): ' : ''}import from ${r.source}`,
    ...(r.resumedAfter ? [`resumed an interrupted run after device ${r.resumedAfter}`] : []),
    `${verb}: ${c.devices} devices, ${c.enrollments} enrollments, ${c.users} users, ${c.certificates} identity certificates, ${c.hosts} hosts, ${r.teamsCreated} teams`,
    `${verb}: ${d.labels} labels, ${d.appleProfiles} Apple profiles, ${d.windowsProfiles} Windows profiles, ${d.declarations} declarations`,
    `${verb}: ${c.labelMemberships} label memberships, ${c.profileStatuses} host profile statuses (profiles the devices have are not sent again)`,
    `already present here (left unchanged): ${c.alreadyPresent} devices, ${d.alreadyPresent} labels and profiles`,
    `APNs push certificate: ${r.apns === 'imported' && r.dryRun ? 'would be imported' : r.apns}`,
    `SCEP CAs ${r.dryRun ? 'that would become' : 'newly'} trusted for device identities: ${r.scepCasTrusted}`,
  ];
  if (r.notCarried.length) {
    lines.push('not carried over:');
    for (const n of r.notCarried) lines.push(`  - ${n.what}: ${n.count} (${n.why})`);
  }
  return lines.join('\n') + '\n';
}

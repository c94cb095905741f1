import { linuxPlatforms } from '../hosts/platforms.js';
/**
 * The built-in labels every server has (label_type 1). They are seeded by migration 0002 and
 * cannot be edited or deleted. For hosts the server creates itself (MDM-only hosts without
 * osquery), membership in these labels follows from the host's platform alone.
 */
export interface BuiltinLabel {
  name: string;
  description: string;
  query: string;
  platform: string;
  /** 0 = dynamic (osquery answers), 1 = manual (the server writes it). */
  membershipType: 0 | 1;
  /** Host platforms that are members. `'*'` = every host. */
  memberPlatforms: readonly string[] | '*';
}

export const builtinLabels: BuiltinLabel[] = [
  {
    name: 'All Hosts',
    description: 'All hosts which have enrolled.',
    query: 'SELECT 1;',
    platform: '',
    membershipType: 0,
    memberPlatforms: '*',
  },
  {
    name: 'macOS',
    description: 'All macOS hosts.',
    query: "SELECT 1 FROM os_version WHERE platform = 'darwin';",
    platform: 'darwin',
    membershipType: 0,
    memberPlatforms: ['darwin'],
  },
  {
    name: 'MS Windows',
    description: 'All Windows hosts.',
    query: "SELECT 1 FROM os_version WHERE platform = 'windows';",
    platform: 'windows',
    membershipType: 0,
    memberPlatforms: ['windows'],
  },
  {
    name: 'Ubuntu Linux',
    description: 'All Ubuntu hosts.',
    query: "SELECT 1 FROM os_version WHERE platform = 'ubuntu';",
    platform: 'ubuntu',
    membershipType: 0,
    memberPlatforms: ['ubuntu'],
  },
  {
    name: 'CentOS Linux',
    description: 'All CentOS hosts.',
    query: "SELECT 1 FROM os_version WHERE platform = 'centos' OR name LIKE '%centos%';",
    platform: 'centos',
    membershipType: 0,
    memberPlatforms: ['centos'],
  },
  {
    name: 'Red Hat Linux',
    description: 'All Red Hat Enterprise Linux hosts.',
    query: "SELECT 1 FROM os_version WHERE name LIKE '%red hat%';",
    platform: 'rhel',
    membershipType: 0,
    memberPlatforms: ['rhel'],
  },
  {
    name: 'Fedora Linux',
    description: 'All Fedora hosts.',
    query: "SELECT 1 FROM os_version WHERE name = 'Fedora Linux';",
    platform: 'rhel',
    membershipType: 0,
    memberPlatforms: ['fedora'],
  },
  {
    name: 'All Linux',
    description: 'All Linux distributions.',
    query: "SELECT 1 FROM osquery_info WHERE build_platform LIKE '%ubuntu%' OR build_distro LIKE '%centos%';",
    platform: '',
    membershipType: 0,
    memberPlatforms: linuxPlatforms,
  },
  {
    name: 'chrome',
    description: 'All Chrome hosts.',
    query: "SELECT 1 FROM os_version WHERE platform = 'chrome';",
    platform: 'chrome',
    membershipType: 0,
    memberPlatforms: ['chrome'],
  },
  {
    name: 'iOS',
    description: 'All iPhones.',
    query: '',
    platform: 'ios',
    membershipType: 1,
    memberPlatforms: ['ios'],
  },
  {
    name: 'iPadOS',
    description: 'All iPads.',
    query: '',
    platform: 'ipados',
    membershipType: 1,
    memberPlatforms: ['ipados'],
  },
  {
    name: 'Android',
    description: 'All Android hosts.',
    query: '',
    platform: 'android',
    membershipType: 1,
    memberPlatforms: ['android'],
  },
];

export function builtinMatches(label: BuiltinLabel, hostPlatform: string): boolean {
  return label.memberPlatforms === '*' || label.memberPlatforms.includes(hostPlatform);
}

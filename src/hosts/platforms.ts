/**
 * The `platform` values osquery reports for Linux hosts: Fleet's list (fleet.HostLinuxOSs) plus
 * the older names some distributions report (`fedora`, `opensuse`). One list for labels, agent
 * options and detail queries.
 */
export const linuxPlatforms: readonly string[] = [
  'linux',
  'ubuntu',
  'debian',
  'rhel',
  'centos',
  'sles',
  'kali',
  'gentoo',
  'amzn',
  'pop',
  'arch',
  'linuxmint',
  'void',
  'nixos',
  'endeavouros',
  'manjaro',
  'opensuse-leap',
  'opensuse-tumbleweed',
  'tuxedo',
  'neon',
  'archarm',
  'fedora',
  'opensuse',
];

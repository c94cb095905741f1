import { readdirSync, readFileSync } from 'node:fs';

/** CPU time (user + system) of a process so far, from /proc (0 where there is none). */
export function processCpuMs(pid: number | undefined): number {
  try {
    // utime and stime (fields 14 and 15) in clock ticks of 10 ms.
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return (Number(fields[11]) + Number(fields[12])) * 10;
  } catch {
    return 0;
  }
}

/** The local MySQL/MariaDB server's pid, when it runs on this machine. */
export function localMysqlPid(): number | undefined {
  for (const entry of readdirSync('/proc').filter((e) => /^\d+$/.test(e))) {
    try {
      const comm = readFileSync(`/proc/${entry}/comm`, 'utf8').trim();
      if (comm === 'mysqld' || comm === 'mariadbd') return Number(entry);
    } catch {
      // process went away
    }
  }
  return undefined;
}

/** CPU milliseconds spent by the server, the local database and this (load generator) process. */
export interface CpuSpent {
  serverMs: number;
  mysqlMs?: number;
  clientMs: number;
}

/** Starts measuring; the returned function gives the CPU spent since. */
export function startCpuMeter(serverPid: number | undefined): () => CpuSpent {
  const mysqlPid = localMysqlPid();
  const server = processCpuMs(serverPid);
  const mysql = processCpuMs(mysqlPid);
  const client = process.cpuUsage();
  return () => {
    const c = process.cpuUsage(client);
    return {
      serverMs: processCpuMs(serverPid) - server,
      mysqlMs: mysqlPid ? processCpuMs(mysqlPid) - mysql : undefined,
      clientMs: (c.user + c.system) / 1000,
    };
  };
}

/** Peak resident set size of a process in MiB (VmHWM from /proc), or undefined where there is none. */
export function processPeakRssMb(pid: number | undefined): number | undefined {
  try {
    const m = /^VmHWM:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : undefined;
  } catch {
    return undefined;
  }
}

/** Peak resident set size of this process in MiB (for benches that run the server in-process). */
export function ownPeakRssMb(): number {
  return process.resourceUsage().maxRSS / 1024;
}

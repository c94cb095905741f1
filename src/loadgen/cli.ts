import { SimSetupError } from './adminApi.js';
import { serverSettingsText, standInCa, standInSettings } from './apnsStandIn.js';
import { errorText } from './metrics.js';
import {
  defaultApnsDir,
  defaultApnsListen,
  parseSimArgs,
  passwordEnvVar,
  SimOptionError,
  tokenEnvVar,
} from './options.js';
import { progressLine, summaryText } from './report.js';
import { runSimulation } from './run.js';

export const simUsage = `Usage: flotilla sim --server URL (--token TOKEN | --email E --password P) [options]
       flotilla sim --apns-setup [--apns-listen HOST:PORT] [--apns-dir DIR]

Enrolls simulated Macs and Windows PCs against a running Flotilla through its real endpoints and
keeps them checking in, to size a deployment: a live progress line on stderr, a summary table (or
JSON) on stdout at the end. The admin token is used only to read enrollment material.

Options:
  --server URL           the Flotilla base URL (required)
  --token TOKEN          an admin API token (or ${tokenEnvVar})
  --email E --password P log in instead (or ${passwordEnvVar} for the password)
  --team ID              Windows PCs enroll with this team's enroll secret (default: no team)
  --apple N              simulated Macs (default 0)
  --windows N            simulated Windows PCs (default 0)
  --duration T           how long the run lasts, ramp included (default 60s; 500ms, 30s, 5m, 1h)
  --think T1..T2         wait between a device's sessions, random in the range (default 5s..30s)
  --ramp R               devices started per second (default 10/s; 30/m is per minute)
  --apns-listen H:P      where the APNs stand-in listens (default ${defaultApnsListen})
  --apns-dir DIR         where the stand-in keeps its CA (default ${defaultApnsDir})
  --no-apns              no stand-in: Macs wake only at their think times
  --apns-setup           make the stand-in's CA, print the server settings that point at it, exit
  --json                 print the summary as JSON

The server under test pushes to the stand-in when started with the two settings --apns-setup
prints (FLOTILLA_APNS_BASE_URL and FLOTILLA_APNS_CA_FILE).
Exit status: 0 when every enrollment and session succeeded, 1 when any failed or the run could
not start, 2 for bad options.
`;

interface Out {
  write(chunk: string): unknown;
}

export interface SimIo {
  stdout: Out;
  stderr: Out;
  /** Rewrite the progress line in place (a terminal) instead of printing one every 10 s. */
  interactive?: boolean;
  signal?: AbortSignal;
  env?: NodeJS.ProcessEnv;
}

/** `flotilla sim`: returns the exit status. */
export async function simCommand(args: string[], io: SimIo): Promise<number> {
  let request;
  try {
    request = parseSimArgs(args, io.env ?? process.env);
  } catch (err) {
    if (!(err instanceof SimOptionError)) throw err;
    io.stderr.write(`flotilla sim: ${err.message}\n(flotilla sim --help lists the options)\n`);
    return 2;
  }
  if (request.kind === 'help') {
    io.stdout.write(simUsage);
    return 0;
  }
  if (request.kind === 'apns-setup') {
    standInCa(request.apnsDir);
    io.stdout.write(serverSettingsText(standInSettings(request.apnsListen, request.apnsDir)));
    return 0;
  }

  const opts = request.options;
  let lastPrinted = 0;
  try {
    const summary = await runSimulation(opts, {
      signal: io.signal,
      onApnsReady: (s) =>
        io.stderr.write(
          `APNs stand-in listening; the server under test must run with:\n${serverSettingsText(s)}`,
        ),
      onTick: (t, planned) => {
        const line = progressLine(t, planned);
        if (io.interactive) io.stderr.write(`\r\x1b[K${line}`);
        else if (t.elapsedMs - lastPrinted >= 10_000) {
          lastPrinted = t.elapsedMs;
          io.stderr.write(`${line}\n`);
        }
      },
    });
    if (io.interactive) io.stderr.write('\n');
    io.stdout.write(opts.json ? `${JSON.stringify(summary, null, 2)}\n` : summaryText(summary));
    return summary.errors.total > 0 ? 1 : 0;
  } catch (err) {
    if (!(err instanceof SimSetupError)) throw err;
    io.stderr.write(`flotilla sim: ${errorText(err)}\n`);
    return 1;
  }
}

/** The process around the command: Ctrl-C ends the run early (the summary is still printed). */
export async function runSimCli(args: string[]): Promise<number> {
  const abort = new AbortController();
  const onSignal = () => abort.abort();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    return await simCommand(args, {
      stdout: process.stdout,
      stderr: process.stderr,
      interactive: process.stderr.isTTY === true,
      signal: abort.signal,
    });
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

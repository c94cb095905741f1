/**
 * Go's `time.Duration` in JSON, as Fleet's config uses it: accepted as nanoseconds or as Go's
 * duration text ("24h", "1h30m", "90s"), written back as Go's `Duration.String()` ("24h0m0s").
 */

const unitNs: Record<string, bigint> = {
  ns: 1n,
  us: 1_000n,
  µs: 1_000n, // U+00B5 micro sign
  μs: 1_000n, // U+03BC Greek mu
  ms: 1_000_000n,
  s: 1_000_000_000n,
  m: 60_000_000_000n,
  h: 3_600_000_000_000n,
};

const part = /(\d+\.?\d*|\.\d+)(ns|us|µs|μs|ms|s|m|h)/y;

/** Nanoseconds for Go duration text; undefined when Go's `time.ParseDuration` would refuse it. */
export function parseGoDuration(text: string): bigint | undefined {
  let s = text;
  let sign = 1n;
  if (s.startsWith('-') || s.startsWith('+')) {
    if (s[0] === '-') sign = -1n;
    s = s.slice(1);
  }
  if (s === '0') return 0n;
  if (s === '') return undefined;
  let total = 0n;
  part.lastIndex = 0;
  while (part.lastIndex < s.length) {
    const m = part.exec(s);
    if (!m) return undefined;
    const [whole, frac = ''] = m[1].split('.');
    const unit = unitNs[m[2]];
    const fracScale = 10n ** BigInt(frac.length);
    total += BigInt(whole || '0') * unit + (BigInt(frac || '0') * unit) / fracScale;
  }
  return sign * total;
}

function fraction(value: bigint, scale: bigint): string {
  const whole = value / scale;
  const rest = value % scale;
  if (rest === 0n) return whole.toString();
  const digits = rest
    .toString()
    .padStart(scale.toString().length - 1, '0')
    .replace(/0+$/, '');
  return `${whole}.${digits}`;
}

/** Go's `Duration.String()`: "0s", "1.5ms", "1m30s", "24h0m0s". */
export function formatGoDuration(ns: bigint): string {
  if (ns === 0n) return '0s';
  const sign = ns < 0n ? '-' : '';
  const v = ns < 0n ? -ns : ns;
  if (v < 1_000n) return `${sign}${v}ns`;
  if (v < 1_000_000n) return `${sign}${fraction(v, 1_000n)}µs`;
  if (v < 1_000_000_000n) return `${sign}${fraction(v, 1_000_000n)}ms`;
  const hours = v / unitNs.h;
  const minutes = (v % unitNs.h) / unitNs.m;
  const seconds = fraction(v % unitNs.m, unitNs.s);
  if (hours > 0n) return `${sign}${hours}h${minutes}m${seconds}s`;
  if (minutes > 0n) return `${sign}${minutes}m${seconds}s`;
  return `${sign}${seconds}s`;
}

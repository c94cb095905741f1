import { Resvg } from '@resvg/resvg-js';
import type { Series } from './report.js';

/**
 * A line chart drawn as SVG by hand and rasterised to PNG by resvg (prebuilt, no browser, no
 * network): one line per series, x on a log scale (fleet sizes and process counts grow by
 * factors), y linear from zero.
 */
export const chartWidth = 960;
export const chartHeight = 540;

const margin = { left: 90, right: 30, top: 60, bottom: 70 };
const legendRowPx = 18;
const palette = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#17becf'];

function escapeXml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** Round numbers for the y axis: 1, 2 or 5 times a power of ten, about five ticks up to `max`. */
function yTicks(max: number): number[] {
  if (max <= 0) return [0, 1];
  const raw = max / 5;
  const pow = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * pow).find((s) => s >= raw)!;
  const ticks: number[] = [];
  for (let v = 0; v < max + step; v += step) ticks.push(Number(v.toPrecision(12)));
  return ticks;
}

export interface ChartSpec {
  title: string;
  xLabel: string;
  yLabel: string;
  series: Series[];
}

/** The chart as SVG text. */
export function chartSvg(spec: ChartSpec): string {
  const legendHeight = spec.series.length * legendRowPx;
  const plot = {
    x0: margin.left,
    x1: chartWidth - margin.right,
    y0: margin.top + legendHeight,
    y1: chartHeight - margin.bottom,
  };
  const xs = [...new Set(spec.series.flatMap((s) => s.points.map((p) => p.x)))].sort((a, b) => a - b);
  const ys = spec.series.flatMap((s) => s.points.map((p) => p.y));
  const ticks = yTicks(Math.max(0, ...ys));
  const yMax = ticks[ticks.length - 1];
  const lx = (x: number) => Math.log(Math.max(x, 1e-9));
  const xMin = xs.length ? lx(xs[0]) : 0;
  const xMax = xs.length ? lx(xs[xs.length - 1]) : 1;
  const px = (x: number) =>
    xMax === xMin
      ? (plot.x0 + plot.x1) / 2
      : plot.x0 + ((lx(x) - xMin) / (xMax - xMin)) * (plot.x1 - plot.x0);
  const py = (y: number) => plot.y1 - (y / yMax) * (plot.y1 - plot.y0);
  const out: string[] = [];
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${chartWidth}" height="${chartHeight}" viewBox="0 0 ${chartWidth} ${chartHeight}" font-family="DejaVu Sans, sans-serif">`,
    `<rect width="${chartWidth}" height="${chartHeight}" fill="#ffffff"/>`,
    `<text x="${chartWidth / 2}" y="28" font-size="18" text-anchor="middle">${escapeXml(spec.title)}</text>`,
  );
  for (const t of ticks) {
    const y = py(t).toFixed(1);
    out.push(
      `<line x1="${plot.x0}" y1="${y}" x2="${plot.x1}" y2="${y}" stroke="#e0e0e0"/>`,
      `<text x="${plot.x0 - 8}" y="${y}" font-size="12" text-anchor="end" dominant-baseline="middle">${t}</text>`,
    );
  }
  for (const x of xs) {
    const X = px(x).toFixed(1);
    out.push(
      `<line x1="${X}" y1="${plot.y0}" x2="${X}" y2="${plot.y1}" stroke="#f0f0f0"/>`,
      `<text x="${X}" y="${plot.y1 + 18}" font-size="12" text-anchor="middle">${x}</text>`,
    );
  }
  out.push(
    `<line x1="${plot.x0}" y1="${plot.y1}" x2="${plot.x1}" y2="${plot.y1}" stroke="#333333"/>`,
    `<line x1="${plot.x0}" y1="${plot.y0}" x2="${plot.x0}" y2="${plot.y1}" stroke="#333333"/>`,
    `<text x="${(plot.x0 + plot.x1) / 2}" y="${chartHeight - 20}" font-size="14" text-anchor="middle">${escapeXml(spec.xLabel)}</text>`,
    `<text x="20" y="${(plot.y0 + plot.y1) / 2}" font-size="14" text-anchor="middle" transform="rotate(-90 20 ${(plot.y0 + plot.y1) / 2})">${escapeXml(spec.yLabel)}</text>`,
  );
  if (spec.series.length === 0) {
    out.push(
      `<text x="${(plot.x0 + plot.x1) / 2}" y="${(plot.y0 + plot.y1) / 2}" font-size="16" text-anchor="middle" fill="#888888">no figures</text>`,
    );
  }
  spec.series.forEach((s, i) => {
    const color = palette[i % palette.length];
    const pts = s.points.map((p) => `${px(p.x).toFixed(1)},${py(p.y).toFixed(1)}`).join(' ');
    out.push(`<polyline points="${pts}" fill="none" stroke="${color}" stroke-width="2.5"/>`);
    for (const p of s.points) {
      out.push(`<circle cx="${px(p.x).toFixed(1)}" cy="${py(p.y).toFixed(1)}" r="4" fill="${color}"/>`);
    }
    const ly = margin.top - 8 + i * legendRowPx;
    out.push(
      `<line x1="${plot.x0}" y1="${ly}" x2="${plot.x0 + 24}" y2="${ly}" stroke="${color}" stroke-width="3"/>`,
      `<text x="${plot.x0 + 32}" y="${ly}" font-size="12" dominant-baseline="middle">${escapeXml(s.name)}</text>`,
    );
  });
  out.push('</svg>');
  return out.join('\n');
}

/** The chart as PNG bytes, chartWidth × chartHeight. */
export function chartPng(spec: ChartSpec): Buffer {
  const resvg = new Resvg(chartSvg(spec), {
    fitTo: { mode: 'original' },
    background: '#ffffff',
    font: { loadSystemFonts: true, defaultFontFamily: 'DejaVu Sans' },
  });
  return Buffer.from(resvg.render().asPng());
}

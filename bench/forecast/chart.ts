/** The fronts of the forecast back-test as an SVG chart: recall against false-alarm rate. */
import type { CurvePoint } from './curves.ts';

const WIDTH = 720;
const HEIGHT = 480;
const MARGIN = { left: 60, right: 190, top: 30, bottom: 50 };
const COLOURS = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b', '#e377c2'];

export interface ChartSeries {
  name: string;
  front: readonly CurvePoint[];
}

export interface ChartMarker {
  name: string;
  far: number;
  recall: number;
}

function escapeXml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/**
 * Each front as a line from (0, 0) through its points (flat beyond the last one, up to `maxFar`), and
 * single operating points (default alert, clairvoyant references) as labelled markers.
 */
export function frontsSvg(
  title: string,
  series: readonly ChartSeries[],
  markers: readonly ChartMarker[],
  maxFar: number,
): string {
  const plotW = WIDTH - MARGIN.left - MARGIN.right;
  const plotH = HEIGHT - MARGIN.top - MARGIN.bottom;
  const x = (far: number): number => MARGIN.left + (Math.min(far, maxFar) / maxFar) * plotW;
  const y = (recall: number): number => MARGIN.top + (1 - recall) * plotH;
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${HEIGHT}" font-family="sans-serif" font-size="12">`,
    `<rect width="${WIDTH}" height="${HEIGHT}" fill="white"/>`,
    `<text x="${MARGIN.left}" y="18" font-size="14">${escapeXml(title)}</text>`,
  ];
  for (let k = 0; k <= 10; k += 1) {
    const far = (k / 10) * maxFar;
    const recall = k / 10;
    parts.push(
      `<line x1="${x(far)}" y1="${y(0)}" x2="${x(far)}" y2="${y(1)}" stroke="#eee"/>`,
      `<line x1="${x(0)}" y1="${y(recall)}" x2="${x(maxFar)}" y2="${y(recall)}" stroke="#eee"/>`,
      `<text x="${x(far)}" y="${y(0) + 16}" text-anchor="middle">${far.toFixed(2)}</text>`,
      `<text x="${x(0) - 6}" y="${y(recall) + 4}" text-anchor="end">${recall.toFixed(1)}</text>`,
    );
  }
  parts.push(
    `<rect x="${x(0)}" y="${y(1)}" width="${plotW}" height="${plotH}" fill="none" stroke="#444"/>`,
    `<text x="${x(maxFar / 2)}" y="${HEIGHT - 12}" text-anchor="middle">false-alarm rate (quiet key-days warned)</text>`,
    `<text transform="translate(16 ${y(0.5)}) rotate(-90)" text-anchor="middle">recall (warned 30 min ahead)</text>`,
  );
  series.forEach((line, index) => {
    const colour = COLOURS[index % COLOURS.length] ?? '#000';
    const points = [{ far: 0, recall: 0 }, ...line.front.filter((p) => p.far <= maxFar)];
    const last = points[points.length - 1] ?? { far: 0, recall: 0 };
    points.push({ far: maxFar, recall: last.recall });
    const path = points.map((p) => `${x(p.far).toFixed(1)},${y(p.recall).toFixed(1)}`).join(' ');
    parts.push(`<polyline points="${path}" fill="none" stroke="${colour}" stroke-width="2"/>`);
    for (const p of line.front.filter((q) => q.far <= maxFar)) {
      parts.push(
        `<circle cx="${x(p.far).toFixed(1)}" cy="${y(p.recall).toFixed(1)}" r="2.5" fill="${colour}"/>`,
      );
    }
    const ly = MARGIN.top + 10 + index * 18;
    parts.push(
      `<line x1="${WIDTH - MARGIN.right + 14}" y1="${ly}" x2="${WIDTH - MARGIN.right + 34}" y2="${ly}" stroke="${colour}" stroke-width="2"/>`,
      `<text x="${WIDTH - MARGIN.right + 40}" y="${ly + 4}">${escapeXml(line.name)}</text>`,
    );
  });
  markers.forEach((marker, index) => {
    const ly = MARGIN.top + 10 + (series.length + index) * 18;
    const cx = x(marker.far).toFixed(1);
    const cy = y(marker.recall).toFixed(1);
    parts.push(
      `<path d="M${cx} ${Number(cy) - 5} l5 5 l-5 5 l-5 -5 z" fill="none" stroke="#000"/>`,
      `<text x="${Number(cx) + 7}" y="${Number(cy) - 6}" font-size="10">${index + 1}</text>`,
      `<text x="${WIDTH - MARGIN.right + 14}" y="${ly + 4}">${index + 1}: ${escapeXml(marker.name)}</text>`,
    );
  });
  parts.push('</svg>');
  return `${parts.join('\n')}\n`;
}

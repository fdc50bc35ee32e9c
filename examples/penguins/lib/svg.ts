/** One series of a grouped histogram. */
export interface Series {
  name: string;
  color: string;
  values: readonly number[];
}

/** Escape text for SVG. */
function esc(s: string): string {
  return s.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;');
}

/** A hand-written SVG histogram with side-by-side bars per series, shared bins of binWidth. */
export function histogramSvg(
  title: string,
  xLabel: string,
  series: readonly Series[],
  binWidth: number,
): string {
  const all = series.flatMap((s) => [...s.values]);
  const lo = Math.floor(Math.min(...all) / binWidth) * binWidth;
  const nBins = Math.floor((Math.max(...all) - lo) / binWidth) + 1;
  const counts = series.map((s) => {
    const c = new Array<number>(nBins).fill(0);
    for (const v of s.values) c[Math.floor((v - lo) / binWidth)]!++;
    return c;
  });
  const maxCount = Math.max(...counts.flat());
  const [W, H, left, right, top, bottom] = [720, 400, 56, 20, 40, 56];
  const plotW = W - left - right;
  const plotH = H - top - bottom;
  const binW = plotW / nBins;
  const barW = (binW - 2) / series.length;
  const y = (c: number) => top + plotH - (c / maxCount) * plotH;
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${W / 2}" y="22" text-anchor="middle" font-size="15">${esc(title)}</text>`,
    `<line x1="${left}" y1="${top + plotH}" x2="${W - right}" y2="${top + plotH}" stroke="black"/>`,
    `<line x1="${left}" y1="${top}" x2="${left}" y2="${top + plotH}" stroke="black"/>`,
  ];
  const step = Math.max(1, Math.ceil(maxCount / 5));
  for (let c = 0; c <= maxCount; c += step) {
    out.push(`<text x="${left - 6}" y="${y(c) + 4}" text-anchor="end">${c}</text>`);
    out.push(`<line x1="${left}" y1="${y(c)}" x2="${W - right}" y2="${y(c)}" stroke="#ddd"/>`);
  }
  counts.forEach((c, si) => {
    c.forEach((n, b) => {
      if (!n) return;
      const x = left + b * binW + 1 + si * barW;
      out.push(
        `<rect x="${x.toFixed(1)}" y="${y(n).toFixed(1)}" width="${barW.toFixed(1)}" height="${(top + plotH - y(n)).toFixed(1)}" fill="${series[si]!.color}"><title>${esc(series[si]!.name)}: ${n} in [${lo + b * binWidth}, ${lo + (b + 1) * binWidth})</title></rect>`,
      );
    });
  });
  const labelEvery = Math.ceil(nBins / 10);
  for (let b = 0; b <= nBins; b += labelEvery) {
    out.push(
      `<text x="${(left + b * binW).toFixed(1)}" y="${top + plotH + 16}" text-anchor="middle">${lo + b * binWidth}</text>`,
    );
  }
  out.push(`<text x="${left + plotW / 2}" y="${H - 14}" text-anchor="middle">${esc(xLabel)}</text>`);
  out.push(
    `<text transform="translate(16 ${top + plotH / 2}) rotate(-90)" text-anchor="middle">birds</text>`,
  );
  series.forEach((s, i) => {
    out.push(`<rect x="${W - right - 120}" y="${top + i * 18}" width="12" height="12" fill="${s.color}"/>`);
    out.push(
      `<text x="${W - right - 102}" y="${top + i * 18 + 10}">${esc(s.name)} (n=${s.values.length})</text>`,
    );
  });
  out.push('</svg>');
  return out.join('\n') + '\n';
}

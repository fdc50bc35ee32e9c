/** Replace every {{name}} marker; throws when the template names a value that was not given. */
export function fillTemplate(template: string, values: Record<string, string | number>): string {
  return template.replace(/\{\{\s*([a-zA-Z0-9_]+)\s*\}\}/g, (_, name: string) => {
    const v = values[name];
    if (v === undefined) throw new Error(`template placeholder {{${name}}} has no value`);
    return String(v);
  });
}

/** Mark the checkbox line that starts with the given text as done ("- [ ] text" to "- [x] text"). */
export function tickBox(markdown: string, startsWith: string): string {
  const line = `- [ ] ${startsWith}`;
  if (!markdown.includes(line)) throw new Error(`no checkbox "${startsWith}" in the document`);
  return markdown.replace(line, `- [x] ${startsWith}`);
}

/** A markdown table from a header and rows (pipes in cells are escaped). */
export function mdTable(header: readonly string[], rows: readonly (readonly (string | number)[])[]): string {
  const esc = (c: string | number) => String(c).replaceAll('|', '\\|');
  return [
    `| ${header.map(esc).join(' | ')} |`,
    `| ${header.map(() => '---').join(' | ')} |`,
    ...rows.map((r) => `| ${r.map(esc).join(' | ')} |`),
  ].join('\n');
}

/** Replace the first line equal to oldLine (after trimming trailing spaces); throws when there is none. */
export function replaceLine(markdown: string, oldLine: string, newLine: string): string {
  const lines = markdown.split('\n');
  const i = lines.findIndex((l) => l.trimEnd() === oldLine.trimEnd());
  if (i < 0) throw new Error(`no line "${oldLine}" in the document`);
  lines[i] = newLine;
  return lines.join('\n');
}

/** Replace the first table row whose first cell is firstCell with a row of the given cells. */
export function replaceRow(markdown: string, firstCell: string, cells: readonly (string | number)[]): string {
  const lines = markdown.split('\n');
  const i = lines.findIndex((l) => l.startsWith(`| ${firstCell} |`));
  if (i < 0) throw new Error(`no table row "${firstCell}" in the document`);
  lines[i] = `| ${cells.map((c) => String(c).replaceAll('|', '\\|')).join(' | ')} |`;
  return lines.join('\n');
}

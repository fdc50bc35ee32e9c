import { lstat, realpath, stat } from 'node:fs/promises';
import { isAbsolute, join, normalize, relative, sep } from 'node:path';
import { VtError } from '../errors.ts';

/**
 * Resolve a workspace-relative path, refusing anything that could reach outside the workspace:
 * absolute paths, `..` (also percent-encoded), backslashes, NUL, `~`, and symlinks whose target
 * (or whose parent's target) lies outside. Compares real paths with path.relative, never a prefix.
 */
export async function resolveInside(workspace: string, rel: string): Promise<{ abs: string; rel: string }> {
  const refuse = (why: string) => {
    throw new VtError('PATH_ESCAPE', `the path ${JSON.stringify(rel)} is refused: ${why}`, {
      hint: 'Give a path relative to the workspace, without "..", that stays inside it',
    });
  };
  if (!rel || typeof rel !== 'string') refuse('it is empty');
  if (rel.includes('\0')) refuse('it contains a NUL byte');
  if (rel.includes('\\')) refuse('it contains a backslash');
  if (isAbsolute(rel) || /^[A-Za-z]:/.test(rel)) refuse('it is absolute');
  if (rel.startsWith('~')) refuse('it starts with ~');
  let decoded = rel;
  try {
    decoded = decodeURIComponent(rel);
  } catch {
    refuse('it holds a malformed percent-encoding');
  }
  for (const candidate of [rel, decoded]) {
    if (candidate.split(/[/\\]/).includes('..')) refuse('it climbs out with ".."');
  }
  const clean = normalize(rel);
  if (clean.startsWith('..') || isAbsolute(clean)) refuse('it leaves the workspace');

  let root: string;
  try {
    root = await realpath(workspace);
  } catch {
    throw new VtError('NOT_FOUND', `the workspace ${workspace} does not exist`);
  }
  const joined = join(root, clean);
  let real: string;
  try {
    real = await realpath(joined);
  } catch {
    throw new VtError('NOT_FOUND', `no file at ${clean} in the workspace ${workspace}`);
  }
  const inside = relative(root, real);
  if (inside === '' || inside.startsWith(`..${sep}`) || inside === '..' || isAbsolute(inside)) {
    refuse('it resolves (through a symlink) outside the workspace');
  }
  const info = await lstat(real);
  if (!info.isFile()) refuse('it is not a regular file');
  const st = await stat(real);
  if (st.nlink > 1)
    refuse(`it is a hard link (${st.nlink} links), which may share content outside the workspace`);
  return { abs: real, rel: inside.split(sep).join('/') };
}

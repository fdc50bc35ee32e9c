import { constants } from 'node:fs';
import { lstat, mkdir, open, realpath } from 'node:fs/promises';
import { join, normalize, sep } from 'node:path';
import { VtError } from '../errors.ts';
import { resolveInside } from './paths.ts';

const refuse = (rel: string, why: string): never => {
  throw new VtError('PATH_ESCAPE', `the path ${JSON.stringify(rel)} is refused: ${why}`, {
    hint: 'Write inside the workspace, through no symlink',
  });
};

/**
 * Write a file inside `workspace` without following any symlink on the way: every folder on the path
 * must be a real folder (made when missing), and the file is opened with O_NOFOLLOW, so a symlink —
 * dangling or not — is refused, as is a hard link that would change a file elsewhere.
 */
export async function writeInside(
  workspace: string,
  rel: string,
  content: string | Uint8Array,
): Promise<string> {
  // The same refusals for the name itself (absolute, "..", NUL, "~", backslash...).
  await resolveInside(workspace, rel).catch((err: unknown) => {
    if (!(err instanceof VtError) || err.code !== 'NOT_FOUND') throw err;
  });
  const root = await realpath(workspace);
  const parts = normalize(rel)
    .split(sep)
    .filter((p) => p && p !== '.');
  if (!parts.length) refuse(rel, 'it names no file');
  let dir = root;
  for (const part of parts.slice(0, -1)) {
    dir = join(dir, part);
    const st = await lstat(dir).catch(() => null);
    if (!st) await mkdir(dir);
    else if (st.isSymbolicLink()) refuse(rel, `${part} is a symlink`);
    else if (!st.isDirectory()) refuse(rel, `${part} is not a folder`);
  }
  const file = join(dir, parts.at(-1)!);
  let fh: Awaited<ReturnType<typeof open>>;
  try {
    fh = await open(file, constants.O_WRONLY | constants.O_CREAT | constants.O_NOFOLLOW, 0o644);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ELOOP') refuse(rel, 'it is a symlink');
    throw err;
  }
  try {
    const st = await fh.stat();
    if (!st.isFile()) refuse(rel, 'it is not a regular file');
    if (st.nlink > 1) refuse(rel, `it is a hard link (${st.nlink} links) to a file that may lie outside`);
    await fh.truncate(0);
    await fh.writeFile(content);
  } finally {
    await fh.close();
  }
  return file;
}

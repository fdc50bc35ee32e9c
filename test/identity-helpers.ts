import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/** Run an OpenSSH tool (ssh-keygen, ssh-add) with an argv array; never through a shell. */
export function ssh(
  tool: 'ssh-keygen' | 'ssh-add',
  args: string[],
  opts: { input?: string | Uint8Array; env?: Record<string, string> } = {},
): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(tool, args, {
    input: opts.input ?? '',
    env: { ...process.env, ...opts.env },
    timeout: 60_000,
    encoding: 'utf8',
  });
  if (r.error) throw r.error;
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/**
 * `ssh-keygen -Y verify` in the `vt` namespace: does `sigFile` sign `input` as `principal`, by a key
 * the allowed-signers file `signers` lists?
 */
export function sshVerify(signers: string, principal: string, sigFile: string, input: string | Uint8Array) {
  return ssh('ssh-keygen', ['-Y', 'verify', '-f', signers, '-I', principal, '-n', 'vt', '-s', sigFile], {
    input,
  });
}

export type SshKeyType = 'ed25519' | 'ecdsa-256' | 'ecdsa-384' | 'ecdsa-521' | 'rsa-3072' | 'rsa-1024';

/** A new key made by ssh-keygen (no passphrase unless given); returns its private key path. */
export function sshKeygenKey(
  dir: string,
  name: string,
  type: SshKeyType = 'ed25519',
  passphrase = '',
): string {
  const path = join(dir, name);
  const [t, bits] = type.split('-') as [string, string | undefined];
  const args = ['-q', '-t', t, '-N', passphrase, '-C', `${name}@test`, '-f', path];
  if (bits) args.push('-b', bits);
  const r = ssh('ssh-keygen', args);
  if (r.code !== 0) throw new Error(`ssh-keygen failed: ${r.stderr}`);
  return path;
}

export function pubLine(privatePath: string): string {
  return readFileSync(`${privatePath}.pub`, 'utf8').trim();
}

/** A real ssh-agent on a socket in `dir`, in the foreground (-D) so its PID is ours to kill. */
export async function startAgent(
  dir: string,
): Promise<{ sock: string; pid: number; stop: () => Promise<void> }> {
  const sock = join(dir, 'agent.sock');
  const child: ChildProcess = spawn('ssh-agent', ['-D', '-a', sock], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (d) => {
    stderr += d;
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  // Wait for the socket, with a generous bound that does not depend on how busy the machine is.
  for (let i = 0; i < 600 && !existsSync(sock); i++) {
    if (child.exitCode !== null) throw new Error(`ssh-agent exited: ${stderr}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  if (!existsSync(sock)) {
    child.kill('SIGTERM');
    throw new Error(`ssh-agent did not create ${sock}: ${stderr}`);
  }
  return {
    sock,
    pid: child.pid!,
    stop: async () => {
      if (child.exitCode === null) {
        process.kill(child.pid!, 'SIGTERM');
        await exited;
      }
    },
  };
}
